"""AWS Signature Version 4: the ``Authorization`` header and presigned URLs (query parameters).

Everything that can be checked from the headers is checked in ``authenticate`` before the body is
read -- so a bad signature is refused before ``100 Continue`` invites the upload. What depends on the
body is checked as it streams: the payload's SHA-256 (``x-amz-content-sha256``, verified in the PUT
exchange) or, for ``aws-chunked`` bodies, each chunk's signature chained from the request's
(``ChunkSigner``, used by ``strata.s3.chunked``).

Canonical request: botocore signs S3 paths and queries exactly as they go on the wire, other SDKs sign
the AWS-normalized encoding; both forms are tried, so either client's signature verifies.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from strata.s3.errors import S3Error, access_denied, signature_mismatch
from strata.s3.users import User
from strata.server.http import Request

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_S = 15 * 60
MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Signature:
    """A verified request signature: who signed, and what the body checks chain from."""

    user: User | None  # None: authentication is off (no users configured)
    payload: str  # x-amz-content-sha256: a hex digest, UNSIGNED-PAYLOAD or a STREAMING-* mode
    signing_key: bytes = b""
    amz_date: str = ""
    scope: str = ""
    seed: str = ""  # the request's own signature: the first chunk signature chains from it


class ChunkSigner:
    """Expected signatures of ``aws-chunked`` chunks and of the trailer, each chained to the last."""

    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        self.previous = signature.seed

    def _sign(self, kind: str, lines: str) -> str:
        sig = self.signature
        to_sign = f"{kind}\n{sig.amz_date}\n{sig.scope}\n{self.previous}\n{lines}"
        self.previous = hmac.new(sig.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return self.previous

    def chunk(self, data_sha256: str) -> str:
        return self._sign("AWS4-HMAC-SHA256-PAYLOAD", f"{EMPTY_SHA256}\n{data_sha256}")

    def trailer(self, canonical_trailers: str) -> str:
        return self._sign("AWS4-HMAC-SHA256-TRAILER", hashlib.sha256(canonical_trailers.encode()).hexdigest())


_KEYS: dict[tuple[str, str, str, str], bytes] = {}


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key for one day and scope (four HMACs), cached: every request of a day reuses it."""
    cache_key = (secret, date, region, service)
    key = _KEYS.get(cache_key)
    if key is None:
        key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
        for part in (region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        if len(_KEYS) > 1024:
            _KEYS.clear()
        _KEYS[cache_key] = key
    return key


def _parse_authorization(header: str) -> tuple[str, str, str]:
    """``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` -> its three values."""
    fields: dict[str, str] = {}
    for part in header[len(ALGORITHM) :].split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value.strip()
    try:
        return fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError as missing:
        raise S3Error(
            "AuthorizationHeaderMalformed", f"The authorization header is malformed; missing {missing}."
        ) from None


def _parse_amz_date(text: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise access_denied("AWS authentication requires a valid Date or x-amz-date header") from None


def _uri_encode(text: str, safe: str) -> str:
    return quote(text, safe=safe)


def _canonical_queries(pairs: list[tuple[str, str]]) -> tuple[str, str]:
    """The canonical query as sent (botocore) and as AWS normalizes it (decode, then encode once)."""
    raw = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    normalized = sorted((_uri_encode(unquote(k), "-_.~"), _uri_encode(unquote(v), "-_.~")) for k, v in pairs)
    return raw, "&".join(f"{k}={v}" for k, v in normalized)


def _canonical_headers(request: Request, signed: str) -> str:
    names = signed.split(";")
    lines = []
    for name in names:
        value = request.headers.get(name, "")
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "".join(lines)


def authenticate(
    request: Request, pairs: list[tuple[str, str]], users: dict[str, User], now: float | None = None
) -> Signature | None:
    """Verify the request's signature; None for an anonymous request (no signature at all)."""
    headers = request.headers
    authorization = headers.get("authorization", "")
    presigned = any(k == "X-Amz-Algorithm" for k, _ in pairs)
    payload = headers.get("x-amz-content-sha256", "")
    if not users:  # authentication off: the payload mode still tells how to read the body
        return Signature(None, payload or UNSIGNED_PAYLOAD)
    if not authorization and not presigned:
        return None
    now = time.time() if now is None else now
    # 1. the signature's parts, from the header or the query
    if presigned:
        query = dict(pairs)
        if unquote(query.get("X-Amz-Algorithm", "")) != ALGORITHM:
            raise S3Error(
                "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports AWS4-HMAC-SHA256"
            )
        try:
            credential = unquote(query["X-Amz-Credential"])
            signed_headers = unquote(query["X-Amz-SignedHeaders"])
            given = query["X-Amz-Signature"]
            amz_date = unquote(query["X-Amz-Date"])
            expires = int(query["X-Amz-Expires"])
        except (KeyError, ValueError):
            raise S3Error(
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ) from None
        if not 1 <= expires <= MAX_PRESIGNED_EXPIRES_S:
            raise S3Error(
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            )
        signed_at = _parse_amz_date(amz_date)
        if now > signed_at + expires:
            raise access_denied("Request has expired")
        if signed_at > now + MAX_SKEW_S:
            raise access_denied("Request is not valid yet")
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
        payload = payload or UNSIGNED_PAYLOAD
    elif authorization.startswith(ALGORITHM + " "):
        credential, signed_headers, given = _parse_authorization(authorization)
        amz_date = headers.get("x-amz-date", "")
        if not amz_date:
            raise access_denied("AWS authentication requires a valid Date or x-amz-date header")
        if abs(now - _parse_amz_date(amz_date)) > MAX_SKEW_S:
            raise S3Error(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                403,
            )
        if not payload:
            raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    else:
        raise S3Error("AuthorizationHeaderMalformed", "Unsupported Authorization header.")
    # 2. the credential scope names a known access key
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise S3Error("AuthorizationHeaderMalformed", f"Malformed credential: {credential!r}")
    access_key, date, region, service, _ = parts
    user = users.get(access_key)
    if user is None:
        raise S3Error(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
        )
    if "host" not in signed_headers.split(";"):
        raise access_denied("The host header must be signed")
    # 3. compute the signature over both canonical forms of the request
    key = signing_key(user.secret_key, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    header_block = _canonical_headers(request, signed_headers)
    raw_query, normalized_query = _canonical_queries(pairs)
    path = request.path
    normalized_path = _uri_encode(unquote(path), "/~")
    attempts = [(path, raw_query)]
    if (normalized_path, normalized_query) != (path, raw_query):
        attempts.append((normalized_path, normalized_query))
    string_to_sign = canonical = ""
    for uri, query_text in attempts:
        canonical = "\n".join((request.method, uri, query_text, header_block, signed_headers, payload))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        string_to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, given):
            return Signature(user, payload, key, amz_date, scope, given)
    raise signature_mismatch(access_key, StringToSign=string_to_sign, CanonicalRequest=canonical)
