"""S3 object metadata kept in Strata's custom metadata, and the conditional-request rules.

One store, two fronts: what S3 knows about an object beyond its bytes -- Content-Type and friends,
``x-amz-meta-*``, the verified flexible checksum, the part sizes of a multipart object -- lives in
``ObjectMetadata.custom`` under ``s3.``-prefixed keys, so ``/v1`` sees (and keeps) it too.

Header values reach us decoded as Latin-1 (the HTTP server's choice). Clients that send UTF-8 user
metadata get it back byte for byte: we store the real text and the server writes headers as UTF-8.
"""

from __future__ import annotations

import calendar
import email.utils

from strata.s3.errors import S3Error
from strata.server.http import Request

STANDARD_HEADERS = {
    "content-type": "s3.ct",
    "content-encoding": "s3.ce",
    "content-disposition": "s3.cd",
    "content-language": "s3.cl",
    "cache-control": "s3.cc",
    "expires": "s3.ex",
}
CANONICAL_NAMES = {
    "content-type": "Content-Type",
    "content-encoding": "Content-Encoding",
    "content-disposition": "Content-Disposition",
    "content-language": "Content-Language",
    "cache-control": "Cache-Control",
    "expires": "Expires",
}
USER_PREFIX = "s3.m."
CHECKSUM_PREFIX = "s3.ck."  # + algorithm: the verified full-object checksum (base64)
PARTS_KEY = "s3.parts"  # comma-separated part sizes of a multipart object
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_USER_METADATA = 2048  # S3's limit on x-amz-meta-* (names plus values, UTF-8 bytes)


def header_text(value: str) -> str:
    """The text a client meant: Latin-1-decoded header bytes re-read as UTF-8 when they are UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def custom_from_headers(request: Request) -> dict[str, str]:
    """The ``s3.*`` custom metadata a PUT, copy (REPLACE) or multipart create carries."""
    custom: dict[str, str] = {}
    user_bytes = 0
    for name, value in request.headers.items():
        key = STANDARD_HEADERS.get(name)
        if key is not None:
            if name == "content-encoding":
                value = ",".join(p.strip() for p in value.split(",") if p.strip() != "aws-chunked")
                if not value:
                    continue
            custom[key] = header_text(value)
        elif name.startswith("x-amz-meta-"):
            meta_name = name[len("x-amz-meta-") :]
            text = header_text(value)
            user_bytes += len(meta_name.encode()) + len(text.encode())
            custom[USER_PREFIX + meta_name] = text
    if user_bytes > MAX_USER_METADATA:
        raise S3Error(
            "MetadataTooLarge",
            f"Your metadata headers exceed the maximum allowed metadata size ({user_bytes}).",
        )
    return custom


def headers_from_custom(custom: dict[str, str]) -> list[tuple[str, str]]:
    headers = [("Content-Type", custom.get("s3.ct", DEFAULT_CONTENT_TYPE))]
    for name, key in STANDARD_HEADERS.items():
        if name != "content-type" and key in custom:
            headers.append((CANONICAL_NAMES[name], custom[key]))
    for key, value in custom.items():
        if key.startswith(USER_PREFIX):
            headers.append(("x-amz-meta-" + key[len(USER_PREFIX) :], value))
    return headers


def non_s3(custom: dict[str, str]) -> dict[str, str]:
    """Custom metadata set through ``/v1`` (kept across an S3 metadata REPLACE)."""
    return {k: v for k, v in custom.items() if not k.startswith("s3.")}


def user_metadata(custom: dict[str, str]) -> dict[str, str]:
    return {k[len(USER_PREFIX) :]: v for k, v in custom.items() if k.startswith(USER_PREFIX)}


# -- conditional requests ---------------------------------------------------------------------------


def _parse_date(text: str) -> int | None:
    try:
        parsed = email.utils.parsedate_tz(text)
    except (TypeError, ValueError):
        return None
    if parsed is None:
        return None
    return calendar.timegm(parsed[:9]) - (parsed[9] or 0)  # type: ignore[arg-type]


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        value = candidate.strip().removeprefix("W/").strip('"')
        if value == "*" or value == etag:
            return True
    return False


def _precondition_failed() -> S3Error:
    return S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)


def check_conditions(headers: dict[str, str], etag: str, mtime_ns: int, prefix: str = "") -> bool:
    """RFC 7232 as S3 applies it. Returns True for 304 Not Modified; raises 412 PreconditionFailed.

    ``prefix`` is ``"x-amz-copy-source-"`` for CopyObject, where every failure is a 412.
    """
    mtime = mtime_ns // 1_000_000_000
    if_match = headers.get(prefix + "if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            raise _precondition_failed()
    else:
        since = headers.get(prefix + "if-unmodified-since")
        when = _parse_date(since) if since is not None else None
        if when is not None and mtime > when:
            raise _precondition_failed()
    if_none_match = headers.get(prefix + "if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            if prefix:
                raise _precondition_failed()
            return True
    else:
        since = headers.get(prefix + "if-modified-since")
        when = _parse_date(since) if since is not None else None
        if when is not None and mtime <= when:
            if prefix:
                raise _precondition_failed()
            return True
    return False
