"""ListObjects (v1), ListObjectsV2 and ListObjectVersions over the bucket's name-ordered walk (a remote
bucket's: over its backend's listing, ``walk_remote``).

The object service's ``walk`` (``storage.listing``) yields names in S3's order (UTF-8 binary = code
point order) and resumes after any name cheaply, so a page costs what it returns. Delimiters: for
``/`` the walk itself yields virtual directories, which are exactly S3's CommonPrefixes; for any
other delimiter we walk recursively and, on each new common prefix, restart the walk past everything
it covers.

Markers and continuation tokens name the last key or common prefix returned; resuming after a common
prefix skips every key it rolls up (``_resume_after``). ListObjectVersions shows the current version
of each object only, as ``VersionId`` "null" (Strata keeps no history).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import msgspec

from strata.core.names import BucketRef
from strata.s3.buckets import owner_xml
from strata.s3.context import S3Context
from strata.s3.errors import invalid_argument
from strata.s3.objects import etag_of
from strata.s3.users import Permission
from strata.s3.xml import XmlWriter, iso_time, xml_response
from strata.server.http import Response
from strata.storage.metadata import ObjectMetadata

MAX_KEYS = 1000
Encode = Callable[[str], str]
_PAST = "\U0010ffff"  # sorts after any name that shares the prefix before it


@dataclass
class Page:
    entries: list[tuple[str, ObjectMetadata | None]]  # (key, metadata) or (common prefix, None)
    truncated: bool

    @property
    def last(self) -> str:
        return self.entries[-1][0] if self.entries else ""


def max_keys(ctx: S3Context, name: str = "max-keys") -> int:
    raw = ctx.query.get(name)
    if raw is None:
        return MAX_KEYS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or value > 2**31 - 1:
        raise invalid_argument(f"Provided {name} not an integer or within integer range", name, raw)
    return min(value, MAX_KEYS)


def _encoder(ctx: S3Context) -> tuple[str | None, Encode]:
    encoding = ctx.query.get("encoding-type")
    if encoding is None:
        return None, _identity
    if encoding != "url":
        raise invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", encoding)
    return "url", lambda text: quote(text, safe="/")


def _identity(text: str) -> str:
    return text


def _common_prefix(name: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = name.find(delimiter, len(prefix))
    return None if at < 0 else name[: at + len(delimiter)]


def _resume_after(after: str, prefix: str, delimiter: str) -> str:
    """A marker that is a common prefix resumes past every key under it."""
    if (
        after
        and delimiter
        and after.endswith(delimiter)
        and _common_prefix(after, prefix, delimiter) == after
    ):
        return after + _PAST
    return after


def walk(ctx: S3Context, bck: BucketRef, prefix: str, delimiter: str, after: str, limit: int) -> Page:
    """Up to ``limit`` keys and common prefixes after ``after``, and whether more follow."""
    if limit == 0:
        return Page([], False)
    entries: list[tuple[str, ObjectMetadata | None]] = []
    objects = ctx.node.objects
    slash = delimiter == "/"
    after = _resume_after(after, prefix, delimiter)
    while True:
        restart = ""
        for name, is_dir in objects.walk(bck, prefix=prefix, after=after, recursive=not slash):
            if len(entries) == limit:
                return Page(entries, True)
            if is_dir:
                entries.append((name, None))
                continue
            common = None if slash else _common_prefix(name, prefix, delimiter)
            if common is not None:
                entries.append((common, None))
                restart = common + _PAST
                break
            found = objects.listed(bck, name)
            if found is not None:  # else deleted while we list
                entries.append((name, found[1]))
        if not restart:
            return Page(entries, False)
        after = restart


def walk_remote(
    ctx: S3Context, bck: BucketRef, prefix: str, delimiter: str, after: str, limit: int, token: str = ""
) -> tuple[Page, str]:
    """A page of a remote bucket's backend listing after ``after`` (or from a ``token`` this walk
    handed out), and the token that resumes after it.

    The token names the backend page the next entry is in, so a ListObjectsV2 resumes with one
    backend call; a V1 marker or ``start-after`` lists from the start. Network calls: off the loop.
    """
    if limit == 0:
        return Page([], False), ""
    page_token = ""
    if token:
        page_token, after = _remote_untoken(token)
    props = ctx.node.bucket_props(bck)
    entries: list[tuple[str, ObjectMetadata | None]] = []
    last_common = None
    for fetched_with, listed in ctx.node.objects.remote_pages(bck, props, prefix, page_token):
        for entry in listed.entries:
            name = entry.name
            if name <= after:
                continue
            common = _common_prefix(name, prefix, delimiter)
            if common is not None and common in (last_common, after):
                continue  # rolled up into a prefix already returned
            if len(entries) == limit:  # the next listing starts at the page this entry is in
                return Page(entries, True), _remote_token(fetched_with, entries[-1][0])
            if common is not None:
                entries.append((common, None))
                last_common = common
            else:
                md = ObjectMetadata(size=entry.size, etag=entry.etag, mtime_ns=entry.last_modified_ns)
                entries.append((name, md))
    return Page(entries, False), ""


def _remote_token(page_token: str, after: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([page_token, after])).decode()


def _remote_untoken(token: str) -> tuple[str, str]:
    try:
        page_token, after = msgspec.json.decode(base64.urlsafe_b64decode(token.encode()))
        if isinstance(page_token, str) and isinstance(after, str):
            return page_token, after
    except (binascii.Error, msgspec.DecodeError, ValueError, TypeError):
        pass
    raise invalid_argument("The continuation token provided is incorrect", "continuation-token", token)


def _page(
    ctx: S3Context, prefix: str, delimiter: str, after: str, limit: int, token: str | None = None
) -> tuple[Page, str | None]:
    """One page after ``after`` or a V2 ``token``, and the token that continues it (None: the end)."""
    if ctx.remote:  # the backend's listing (the app runs this handler off the event loop)
        page, next_token = walk_remote(ctx, ctx.bck, prefix, delimiter, after, limit, token or "")
        return page, next_token if page.truncated else None
    if token:
        after = _untoken(token)
    page = walk(ctx, ctx.bck, prefix, delimiter, after, limit)
    return page, _token(page.last) if page.truncated else None


def _params(ctx: S3Context) -> tuple[str, str]:
    return ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")


def _contents(writer: XmlWriter, key: str, md: ObjectMetadata, encode: Encode, owner: str | None) -> None:
    writer.open("Contents").leaf("Key", encode(key))
    writer.leaf("LastModified", iso_time(md.mtime_ns)).leaf("ETag", f'"{etag_of(md)}"').leaf("Size", md.size)
    if owner is not None:
        owner_xml(writer, owner)
    writer.leaf("StorageClass", "STANDARD").close("Contents")


def _prefixes(writer: XmlWriter, page: Page, encode: Encode) -> None:
    for name, md in page.entries:
        if md is None:
            writer.open("CommonPrefixes").leaf("Prefix", encode(name)).close("CommonPrefixes")


def _owner(ctx: S3Context) -> str:
    record = ctx.owners.get(ctx.bucket)
    return record.owner if record is not None else ""


def list_v1(ctx: S3Context, body: bytes) -> Response:
    # 1. parameters
    ctx.props(Permission.READ)
    prefix, delimiter = _params(ctx)
    marker = ctx.query.get("marker", "")
    limit = max_keys(ctx)
    encoding, encode = _encoder(ctx)
    # 2. one page
    page, _next = _page(ctx, prefix, delimiter, marker, limit)
    # 3. the document: NextMarker only with a delimiter (clients use the last key otherwise)
    writer = XmlWriter("ListBucketResult")
    writer.leaf("Name", ctx.bucket).leaf("Prefix", encode(prefix)).leaf("Marker", encode(marker))
    if page.truncated and delimiter:
        writer.leaf("NextMarker", encode(page.last))
    writer.leaf("MaxKeys", limit).leaf("Delimiter", encode(delimiter) if delimiter else None)
    writer.leaf("IsTruncated", page.truncated).leaf("EncodingType", encoding)
    owner = _owner(ctx)
    for name, md in page.entries:
        if md is not None:
            _contents(writer, name, md, encode, owner)
    _prefixes(writer, page, encode)
    return xml_response(writer.document("ListBucketResult"))


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        ) from None


def list_v2(ctx: S3Context, body: bytes) -> Response:
    # 1. parameters: a continuation token wins over start-after
    ctx.props(Permission.READ)
    prefix, delimiter = _params(ctx)
    token = ctx.query.get("continuation-token")
    start_after = ctx.query.get("start-after", "")
    limit = max_keys(ctx)
    encoding, encode = _encoder(ctx)
    if token is not None and not token:
        raise invalid_argument("The continuation token provided is incorrect", "continuation-token", token)
    # 2. one page
    page, next_token = _page(ctx, prefix, delimiter, start_after, limit, token)
    # 3. the document
    writer = XmlWriter("ListBucketResult")
    writer.leaf("Name", ctx.bucket).leaf("Prefix", encode(prefix))
    writer.leaf("ContinuationToken", token)
    writer.leaf("NextContinuationToken", next_token)
    writer.leaf("KeyCount", len(page.entries)).leaf("MaxKeys", limit)
    writer.leaf("Delimiter", encode(delimiter) if delimiter else None)
    writer.leaf("StartAfter", encode(start_after) if start_after else None)
    writer.leaf("IsTruncated", page.truncated).leaf("EncodingType", encoding)
    owner = _owner(ctx) if ctx.query.get("fetch-owner") == "true" else None
    for name, md in page.entries:
        if md is not None:
            _contents(writer, name, md, encode, owner)
    _prefixes(writer, page, encode)
    return xml_response(writer.document("ListBucketResult"))


def list_versions(ctx: S3Context, body: bytes) -> Response:
    # 1. parameters: the version-id marker can only be "null" (one version per key)
    ctx.props(Permission.READ)
    prefix, delimiter = _params(ctx)
    key_marker = ctx.query.get("key-marker", "")
    version_marker = ctx.query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise invalid_argument(
            "A version-id marker cannot be specified without a key marker.",
            "version-id-marker",
            version_marker,
        )
    limit = max_keys(ctx)
    encoding, encode = _encoder(ctx)
    # 2. one page
    page, _next = _page(ctx, prefix, delimiter, key_marker, limit)
    # 3. the document
    writer = XmlWriter("ListVersionsResult")
    writer.leaf("Name", ctx.bucket).leaf("Prefix", encode(prefix))
    writer.leaf("KeyMarker", encode(key_marker)).leaf("VersionIdMarker", version_marker)
    if page.truncated:
        writer.leaf("NextKeyMarker", encode(page.last))
        if page.entries[-1][1] is not None:
            writer.leaf("NextVersionIdMarker", "null")
    writer.leaf("MaxKeys", limit).leaf("Delimiter", encode(delimiter) if delimiter else None)
    writer.leaf("IsTruncated", page.truncated).leaf("EncodingType", encoding)
    owner = _owner(ctx)
    for name, md in page.entries:
        if md is None:
            continue
        writer.open("Version").leaf("Key", encode(name)).leaf("VersionId", "null").leaf("IsLatest", True)
        writer.leaf("LastModified", iso_time(md.mtime_ns)).leaf("ETag", f'"{etag_of(md)}"').leaf(
            "Size", md.size
        )
        owner_xml(writer, owner)
        writer.leaf("StorageClass", "STANDARD").close("Version")
    _prefixes(writer, page, encode)
    return xml_response(writer.document("ListVersionsResult"))
