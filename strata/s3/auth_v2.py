"""AWS Signature Version 2 (HMAC-SHA1): still what boto3's ``generate_presigned_url`` makes for S3.

boto3 presigns with V2 unless the client is configured with ``signature_version="s3v4"``, so a
server that refuses V2 breaks the most common presigned-URL code. Both forms are accepted:
``Authorization: AWS <key>:<signature>`` and the query (``AWSAccessKeyId``, ``Expires``,
``Signature``). Payloads are not signed in V2.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import time
from urllib.parse import unquote

from strata.s3.auth import MAX_SKEW_S, UNSIGNED_PAYLOAD, Signature
from strata.s3.errors import S3Error, access_denied, signature_mismatch
from strata.s3.users import User
from strata.server.http import Request

# the query parameters that are part of the signed resource (botocore's HmacV1Auth.QSAOfInterest)
SUB_RESOURCES = frozenset(
    {
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
        "response-content-type", "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging",
        "restore", "storageClass", "notification", "replication", "analytics", "metrics", "inventory",
        "select", "select-type", "object-lock",
    }
)  # fmt: skip


def _resource(path: str, pairs: list[tuple[str, str]]) -> str:
    sub = sorted((k, unquote(v)) for k, v in pairs if k in SUB_RESOURCES)
    if not sub:
        return path
    return path + "?" + "&".join(f"{k}={v}" if v else k for k, v in sub)


def _string_to_sign(request: Request, date_line: str, resource: str) -> str:
    headers = request.headers
    amz = sorted((k, v) for k, v in headers.items() if k.startswith("x-amz-"))
    lines = [request.method, headers.get("content-md5", ""), headers.get("content-type", ""), date_line]
    lines += [f"{k}:{v.strip()}" for k, v in amz]
    return "\n".join(lines) + "\n" + resource


def authenticate_v2(
    request: Request,
    pairs: list[tuple[str, str]],
    users: dict[str, User],
    resources: list[str],
    now: float | None = None,
) -> Signature:
    """Verify a V2 signature; ``resources`` are the paths the client may have signed (path-style forms)."""
    now = time.time() if now is None else now
    query = dict(pairs)
    if "Signature" in query:
        access_key = unquote(query.get("AWSAccessKeyId", ""))
        given = unquote(query["Signature"])
        expires = query.get("Expires", "")
        if not expires.isdigit():
            raise access_denied(
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
            )
        if now > int(expires):
            raise access_denied("Request has expired")
        date_lines = [expires]
        pairs = [(k, v) for k, v in pairs if k not in ("AWSAccessKeyId", "Signature", "Expires")]
    else:
        access_key, _, given = request.headers["authorization"][4:].strip().partition(":")
        date = request.headers.get("date", "")
        stamp = request.headers.get("x-amz-date") or date
        try:
            when = email.utils.parsedate_to_datetime(stamp).timestamp()
        except (TypeError, ValueError, IndexError):
            raise access_denied("AWS authentication requires a valid Date or x-amz-date header") from None
        if abs(now - when) > MAX_SKEW_S:
            raise S3Error(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                403,
            )
        date_lines = [date, ""]
    user = users.get(access_key)
    if user is None:
        raise S3Error(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
        )
    for path in resources:
        resource = _resource(path, pairs)
        for date_line in date_lines:
            text = _string_to_sign(request, date_line, resource)
            digest = hmac.new(user.secret_key.encode(), text.encode(), hashlib.sha1).digest()
            if hmac.compare_digest(base64.b64encode(digest).decode(), given):
                return Signature(user, UNSIGNED_PAYLOAD)
    raise signature_mismatch(access_key)
