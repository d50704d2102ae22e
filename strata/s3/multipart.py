"""S3 multipart upload over Strata's native one (``storage.multipart``): one upload, either front.

What S3 adds is bookkeeping, which storage keeps for it: an ``UploadRecord`` with the upload (key,
initiated, owner and the object's metadata from CreateMultipartUpload) and, on each part file, a
``PartRecord`` with the part's MD5 and size -- stamped before the part is renamed into place, so a
part and its ETag appear together. This module only shapes the protocol.

CompleteMultipartUpload checks what S3 checks (ascending part numbers, every ETag matching, parts of
at least 5 MiB except the last), then assembles kernel-side and publishes with the ETag S3 clients
expect: the MD5 of the parts' binary MD5s, then ``-N``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import time
from collections.abc import Awaitable
from urllib.parse import quote

from strata.core.errors import NotFound
from strata.s3.buckets import owner_xml
from strata.s3.context import S3Context
from strata.s3.errors import S3Error, invalid_argument, malformed_xml, no_such_upload
from strata.s3.metadata import PARTS_KEY, custom_from_headers
from strata.s3.objects import StreamedUpload, parse_copy_source, source_metadata
from strata.s3.users import Permission
from strata.s3.xml import XmlWriter, child_text, iso_time, parse, xml_response
from strata.server.http import Response
from strata.server.responses import answer_when
from strata.storage import multipart as native
from strata.storage.metadata import ObjectMetadata
from strata.storage.multipart import PartRecord, UploadRecord

MIN_PART_SIZE = 5 << 20
MAX_PARTS_LISTED = 1000
_MAX_PARTS_METADATA = 1500  # characters of part sizes kept for GET ?partNumber


def _load_upload(ctx: S3Context, upload_id: str) -> tuple[str, UploadRecord]:
    """The upload's directory and record; NoSuchUpload unless it exists for this very key."""
    try:
        return ctx.node.objects.upload_record(ctx.bck, ctx.key, upload_id)
    except NotFound:
        raise no_such_upload(upload_id) from None


def _decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``"²"`` and the like, which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def _part_number(ctx: S3Context) -> int:
    raw = ctx.query.get("partNumber", "")
    if not _decimal(raw) or not 1 <= int(raw) <= native.MAX_PART_NUMBER:
        raise invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive", "partNumber", raw
        )
    return int(raw)


def create(ctx: S3Context, body: bytes) -> Response:
    ctx.props(Permission.WRITE)
    record = UploadRecord(ctx.key, time.time_ns(), ctx.owner_name, custom_from_headers(ctx.request))
    upload_id = ctx.node.objects.create_upload(ctx.bck, ctx.key, record)
    writer = XmlWriter("InitiateMultipartUploadResult")
    writer.leaf("Bucket", ctx.bucket).leaf("Key", ctx.key).leaf("UploadId", upload_id)
    return xml_response(writer.document("InitiateMultipartUploadResult"))


class PartExchange:
    """UploadPart: the body streams into the part's temp file; its ETag is stamped on it at the end."""

    __slots__ = ("upload", "writer")

    def __init__(self, ctx: S3Context, writer: native.PartWriter) -> None:
        self.writer = writer
        self.upload = StreamedUpload(ctx, writer.write)

    def feed(self, data: bytes) -> None:
        self.upload.reader.feed(data)

    def finish(self) -> Response:
        try:
            md5_hex, echo = self.upload.finish()
            self.writer.stamp(PartRecord(md5_hex, self.upload.size, time.time_ns()))
        except BaseException:
            self.writer.abort()
            raise
        try:
            self.writer.commit()
        except NotFound:
            raise no_such_upload(os.path.basename(self.writer.dir)) from None
        return Response(200, [("ETag", f'"{md5_hex}"'), *echo])

    def abort(self) -> None:
        self.writer.abort()


def begin_upload_part(ctx: S3Context) -> PartExchange:
    ctx.props(Permission.WRITE)
    number = _part_number(ctx)
    upload_id = ctx.query.get("uploadId", "")
    _load_upload(ctx, upload_id)
    try:
        writer = ctx.node.objects.put_part(ctx.bck, ctx.key, upload_id, number)
    except NotFound:
        raise no_such_upload(upload_id) from None
    try:
        return PartExchange(ctx, writer)
    except BaseException:
        writer.abort()
        raise


def upload_part_copy(ctx: S3Context, body: bytes) -> Response:
    # 1. the part to write and the source (with its conditions and optional byte range)
    ctx.props(Permission.WRITE)
    number = _part_number(ctx)
    upload_id = ctx.query.get("uploadId", "")
    _load_upload(ctx, upload_id)
    src_bucket, src_key, version = parse_copy_source(ctx)
    source = source_metadata(ctx, src_bucket, src_key, version)  # here, or on another target
    offset, length = _copy_range(ctx, source.md.size)
    # 2. copy through MD5 into the part file
    writer = ctx.node.objects.put_part(ctx.bck, ctx.key, upload_id, number)
    md5 = hashlib.md5()
    try:
        for data in source.read(ctx.node.objects, offset, length):
            writer.write(data)
            md5.update(data)
        now = time.time_ns()
        writer.stamp(PartRecord(md5.hexdigest(), length, now))
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    result = XmlWriter("CopyPartResult")
    result.leaf("LastModified", iso_time(now)).leaf("ETag", f'"{md5.hexdigest()}"')
    return xml_response(result.document("CopyPartResult"))


def _copy_range(ctx: S3Context, size: int) -> tuple[int, int]:
    raw = ctx.request.headers.get("x-amz-copy-source-range")
    if raw is None:
        return 0, size
    match = re.fullmatch(r"bytes=(\d+)-(\d+)", raw.strip())
    if match is None:
        raise invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last "
            "where first and last are the zero-based offsets of the first and last "
            "bytes to copy",
            "x-amz-copy-source-range",
            raw,
        )
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise S3Error("InvalidRange", "The requested range is not satisfiable", 416)
    return first, last - first + 1


def complete(ctx: S3Context, body: bytes) -> Response | Awaitable[Response]:
    # 1. the upload and the client's part list
    ctx.props(Permission.WRITE)
    upload_id = ctx.query.get("uploadId", "")
    directory, record = _load_upload(ctx, upload_id)
    root = parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise malformed_xml()
    listed: list[tuple[int, str]] = []
    for part in root.findall("Part"):
        number_text, etag_text = child_text(part, "PartNumber"), child_text(part, "ETag")
        if number_text is None or not _decimal(number_text.strip()) or etag_text is None:
            raise malformed_xml()
        listed.append((int(number_text), etag_text.strip().strip('"')))
    if not listed:
        raise malformed_xml()
    # 2. S3's rules: ascending order, known parts with matching ETags, 5 MiB minimum but for the last
    numbers = [n for n, _ in listed]
    if any(b <= a for a, b in itertools.pairwise(numbers)):
        raise S3Error(
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
            UploadId=upload_id,
        )
    stored = native.part_records(directory)
    for number, etag in listed:
        found = stored.get(number)
        if found is None or found.etag != etag:
            raise S3Error(
                "InvalidPart",
                "One or more of the specified parts could not be found. The part "
                "may not have been uploaded, or the specified entity tag may not match the part's "
                "entity tag.",
                UploadId=upload_id,
                PartNumber=str(number),
                ETag=etag,
            )
    sizes = [stored[n].size for n in numbers]
    for number, size in zip(numbers[:-1], sizes[:-1], strict=True):
        if size < MIN_PART_SIZE:
            raise S3Error(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
                ProposedSize=str(size),
                MinSizeAllowed=str(MIN_PART_SIZE),
                PartNumber=str(number),
            )
    # 3. assemble and publish with the multipart ETag
    etag = (
        hashlib.md5(b"".join(bytes.fromhex(stored[n].etag) for n in numbers)).hexdigest() + f"-{len(numbers)}"
    )
    custom = dict(record.custom)
    part_sizes = ",".join(str(s) for s in sizes)
    if len(part_sizes) <= _MAX_PARTS_METADATA:
        custom[PARTS_KEY] = part_sizes
    try:
        done = ctx.node.objects.complete_upload(
            ctx.bck, ctx.key, upload_id, numbers, custom=custom, etag=etag
        )
    except NotFound:
        raise no_such_upload(upload_id) from None

    def answer(_md: ObjectMetadata) -> Response:
        writer = XmlWriter("CompleteMultipartUploadResult")
        writer.leaf("Location", f"/{quote(ctx.bucket)}/{quote(ctx.key)}")
        writer.leaf("Bucket", ctx.bucket).leaf("Key", ctx.key).leaf("ETag", f'"{etag}"')
        return xml_response(writer.document("CompleteMultipartUploadResult"))

    return answer_when(done, answer)


def abort(ctx: S3Context, body: bytes) -> Response:
    ctx.props(Permission.WRITE)
    upload_id = ctx.query.get("uploadId", "")
    _load_upload(ctx, upload_id)
    try:
        ctx.node.objects.abort_upload(ctx.bck, ctx.key, upload_id)
    except NotFound:
        raise no_such_upload(upload_id) from None
    return Response(204)


def list_parts(ctx: S3Context, body: bytes) -> Response:
    # 1. parameters
    ctx.props(Permission.READ)
    upload_id = ctx.query.get("uploadId", "")
    directory, record = _load_upload(ctx, upload_id)
    marker_raw = ctx.query.get("part-number-marker", "0") or "0"
    limit_raw = ctx.query.get("max-parts", str(MAX_PARTS_LISTED))
    if not _decimal(marker_raw):
        raise invalid_argument("Part number marker must be an integer", "part-number-marker", marker_raw)
    if not _decimal(limit_raw):
        raise invalid_argument("max-parts must be an integer", "max-parts", limit_raw)
    marker, limit = int(marker_raw), min(int(limit_raw), MAX_PARTS_LISTED)
    # 2. the parts after the marker
    parts = sorted((n, p) for n, p in native.part_records(directory).items() if n > marker)
    page, truncated = parts[:limit], len(parts) > limit
    # 3. the document
    writer = XmlWriter("ListPartsResult")
    writer.leaf("Bucket", ctx.bucket).leaf("Key", ctx.key).leaf("UploadId", upload_id)
    writer.open("Initiator").leaf("ID", record.owner or "strata").leaf(
        "DisplayName", record.owner or "strata"
    )
    writer.close("Initiator")
    owner_xml(writer, record.owner)
    writer.leaf("StorageClass", "STANDARD").leaf("PartNumberMarker", marker)
    writer.leaf("NextPartNumberMarker", page[-1][0] if page else marker)
    writer.leaf("MaxParts", limit).leaf("IsTruncated", truncated)
    for number, part in page:
        writer.open("Part").leaf("PartNumber", number).leaf("LastModified", iso_time(part.mtime_ns))
        writer.leaf("ETag", f'"{part.etag}"').leaf("Size", part.size).close("Part")
    return xml_response(writer.document("ListPartsResult"))


def list_uploads(ctx: S3Context, body: bytes) -> Response:
    # 1. parameters
    ctx.props(Permission.READ)
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    key_marker = ctx.query.get("key-marker", "")
    id_marker = ctx.query.get("upload-id-marker", "")
    limit_raw = ctx.query.get("max-uploads", str(MAX_PARTS_LISTED))
    if not _decimal(limit_raw):
        raise invalid_argument("max-uploads must be an integer", "max-uploads", limit_raw)
    limit = min(int(limit_raw), MAX_PARTS_LISTED)
    # 2. every upload of the bucket on every mountpath, in (key, initiated) order, after the markers
    uploads = sorted(
        (record.key, record.initiated_ns, upload_id, record)
        for upload_id, record in ctx.node.objects.uploads(ctx.bck)
        if record.key.startswith(prefix)
    )
    if key_marker:
        uploads = [
            u for u in uploads if u[0] > key_marker or (id_marker and u[0] == key_marker and u[2] > id_marker)
        ]
    entries: list[tuple[str, UploadRecord | None, str]] = []
    seen_prefixes: set[str] = set()
    truncated = False
    for key, _initiated, upload_id, record in uploads:
        common = None
        if delimiter:
            at = key.find(delimiter, len(prefix))
            common = key[: at + len(delimiter)] if at >= 0 else None
        if common is not None and common in seen_prefixes:
            continue
        if len(entries) == limit:
            truncated = True
            break
        if common is not None:
            seen_prefixes.add(common)
            entries.append((common, None, ""))
        else:
            entries.append((key, record, upload_id))
    # 3. the document
    writer = XmlWriter("ListMultipartUploadsResult")
    writer.leaf("Bucket", ctx.bucket).leaf("KeyMarker", key_marker).leaf("UploadIdMarker", id_marker)
    if truncated and entries:
        writer.leaf("NextKeyMarker", entries[-1][0]).leaf("NextUploadIdMarker", entries[-1][2])
    writer.leaf("Prefix", prefix).leaf("Delimiter", delimiter or None)
    writer.leaf("MaxUploads", limit).leaf("IsTruncated", truncated)
    for key, found, upload_id in entries:
        if found is None:
            continue
        writer.open("Upload").leaf("Key", key).leaf("UploadId", upload_id)
        writer.open("Initiator").leaf("ID", found.owner or "strata").leaf(
            "DisplayName", found.owner or "strata"
        )
        writer.close("Initiator")
        owner_xml(writer, found.owner)
        writer.leaf("StorageClass", "STANDARD").leaf("Initiated", iso_time(found.initiated_ns)).close(
            "Upload"
        )
    for key, found, _ in entries:
        if found is None:
            writer.open("CommonPrefixes").leaf("Prefix", key).close("CommonPrefixes")
    return xml_response(writer.document("ListMultipartUploadsResult"))
