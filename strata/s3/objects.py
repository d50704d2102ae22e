"""Object operations: PutObject (streamed), Get/HeadObject, DeleteObject(s), CopyObject.

PUT bodies go straight into the object's work file through ``BodyReader`` while MD5 (the S3 ETag,
whatever the bucket's own checksum type) and the optional flexible checksum are computed; the object
is published by ``commit`` only after every check passed. GET hands the open file to the server
(``FileBody``: sendfile for large bodies), so Python never touches the object's bytes on the way out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

import msgspec

from strata.cluster.peers import CallKind, peer_client
from strata.cluster.rebalance import METADATA_HEADER
from strata.cluster.smap import NodeInfo
from strata.cluster.transfer import bucket_params, object_path
from strata.config.access import ACCESS_DELETE_OBJECT, ACCESS_GET, ACCESS_PUT
from strata.core.errors import InvalidRequest, ObjectNotFound, PeerUnreachable
from strata.core.names import BucketRef, validate_object_name
from strata.core.ranges import parse_range
from strata.objects.put import ObjectPut
from strata.objects.remote import remote_of
from strata.objects.service import ObjectService
from strata.s3.body import BodyReader
from strata.s3.checksums import FlexibleChecksum, expected_checksum
from strata.s3.context import S3Context
from strata.s3.errors import (
    S3Error,
    invalid_argument,
    malformed_xml,
    no_such_key,
    to_s3_error,
)
from strata.s3.metadata import (
    CHECKSUM_PREFIX,
    PARTS_KEY,
    check_conditions,
    custom_from_headers,
    headers_from_custom,
    non_s3,
)
from strata.s3.remote import cold_get as remote_cold_get
from strata.s3.remote import head as remote_head
from strata.s3.remote import user_metadata_for_backend, user_metadata_headers
from strata.s3.users import Permission
from strata.s3.xml import XmlWriter, child_text, iso_time, parse, xml_response
from strata.server.http import FileBody, Response, http_date
from strata.server.responses import answer_when
from strata.storage.metadata import ObjectMetadata, decode_metadata

MAX_PUT_SIZE = 5 << 30
MAX_DELETE_KEYS = 1000
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def etag_of(md: ObjectMetadata) -> str:
    """The stored ETag; objects written through ``/v1`` have none and show their checksum instead."""
    return md.etag or md.checksum_value


def _declared_size(ctx: S3Context) -> None:
    headers = ctx.request.headers
    declared = headers.get("x-amz-decoded-content-length") or headers.get("content-length") or "0"
    if declared.isdigit() and int(declared) > MAX_PUT_SIZE:
        raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")


def content_md5(ctx: S3Context) -> str | None:
    value = ctx.request.headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.")
    return digest.hex()


class StreamedUpload:
    """Shared by PutObject and UploadPart: decode, hash and check a body on its way to a file."""

    __slots__ = ("checksum", "expected", "md5", "reader", "sink_write", "size", "want_md5")

    def __init__(self, ctx: S3Context, write: Callable[[bytes | memoryview], None]) -> None:
        _declared_size(ctx)
        self.sink_write = write
        self.md5 = hashlib.md5()
        self.want_md5 = content_md5(ctx)
        self.expected = expected_checksum(ctx.request)
        self.checksum = FlexibleChecksum(self.expected.algorithm) if self.expected is not None else None
        self.size = 0
        self.reader = BodyReader(ctx.request, ctx.signature, self._write)

    def _write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.size > MAX_PUT_SIZE:
            raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
        self.sink_write(data)
        self.md5.update(data)
        if self.checksum is not None:
            self.checksum.update(data)

    def finish(self) -> tuple[str, list[tuple[str, str]]]:
        """Verify everything promised; returns the MD5 hex and the checksum header to echo."""
        trailers = self.reader.finish()
        md5_hex = self.md5.hexdigest()
        if self.want_md5 is not None and self.want_md5 != md5_hex:
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        echo: list[tuple[str, str]] = []
        if self.expected is not None and self.checksum is not None:
            value = self.expected.verify(self.checksum, trailers)
            echo.append((f"x-amz-checksum-{self.expected.algorithm}", value))
        return md5_hex, echo


class PutExchange:
    """PutObject: the body streams into a work file; published on the last byte if all checks pass."""

    __slots__ = ("custom", "put", "upload")

    def __init__(self, ctx: S3Context, put: ObjectPut, custom: dict[str, str]) -> None:
        self.put = put
        self.custom = custom
        self.upload = StreamedUpload(ctx, put.feed)

    def set_flow_control(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self.put.set_flow_control(pause, resume)

    def feed(self, data: bytes) -> None:
        self.upload.reader.feed(data)

    def finish(self) -> Response | Awaitable[Response]:
        try:
            md5_hex, echo = self.upload.finish()
        except BaseException:
            self.put.abort()
            raise
        custom = dict(self.custom)
        for name, value in echo:
            custom[CHECKSUM_PREFIX + name.removeprefix("x-amz-checksum-")] = value
        done = self.put.finish(custom=custom, etag=md5_hex)
        return answer_when(done, lambda _md: Response(200, [("ETag", f'"{md5_hex}"'), *echo]))

    def abort(self) -> None:
        self.put.abort()


def begin_put(ctx: S3Context) -> PutExchange:
    # 1. the bucket exists and this caller may write
    props = ctx.props(Permission.WRITE)
    # 2. conditional write: If-None-Match: * refuses to overwrite
    if ctx.request.headers.get("if-none-match", "").strip() == "*":
        try:
            ctx.node.objects.metadata(ctx.bck, ctx.key)
        except ObjectNotFound:
            pass
        else:
            raise S3Error(
                "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412
            )
    # 3. metadata from the headers, then stream the body into a work file
    custom = custom_from_headers(ctx.request)
    if remote_of(ctx.bck, props) is not None:  # written through: user metadata as the backend keeps it
        custom = user_metadata_for_backend(custom)
    headers = ctx.request.headers
    declared = headers.get("x-amz-decoded-content-length") or headers.get("content-length") or ""
    size_hint = int(declared) if declared.isdigit() else None
    put = ctx.node.objects.put(ctx.bck, ctx.key, props, size_hint=size_hint)
    try:
        return PutExchange(ctx, put, custom)
    except BaseException:
        put.abort()
        raise


# -- GET / HEAD -------------------------------------------------------------------------------------


def _part_span(ctx: S3Context, md: ObjectMetadata) -> tuple[int, int, int] | None:
    """``?partNumber=N``: (offset, length, parts count) of that part of a multipart object."""
    raw = ctx.query.get("partNumber")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive", "partNumber", raw
        )
    number = int(raw)
    sizes = [int(s) for s in md.custom.get(PARTS_KEY, "").split(",") if s]
    if not sizes:
        sizes = [md.size]
    if number > len(sizes):
        raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", 416)
    return sum(sizes[: number - 1]), sizes[number - 1], len(sizes)


def check_version(ctx: S3Context, md: ObjectMetadata) -> None:
    """``?versionId=``: only the current version exists ("null", or its number when versioned)."""
    version = ctx.query.get("versionId")
    if version is not None and version not in ("null", md.version):
        raise S3Error(
            "NoSuchVersion", "The specified version does not exist.", 404, Key=ctx.key, VersionId=version
        )


def read_headers(
    ctx: S3Context, md: ObjectMetadata, remote: bool = False
) -> tuple[int, list[tuple[str, str]], int, int] | None:
    """Status, headers, offset and length for GET/HEAD; None when the answer is 304 Not Modified.
    ``remote``: the object is a remote bucket's, whose user metadata is the backend's."""
    check_version(ctx, md)
    etag = etag_of(md)
    if check_conditions(ctx.request.headers, etag, md.mtime_ns):
        return None
    headers = headers_from_custom(md.custom)
    if remote:
        headers += user_metadata_headers(md.custom)
    headers += [
        ("ETag", f'"{etag}"'),
        ("Last-Modified", http_date(md.mtime_ns)),
        ("Accept-Ranges", "bytes"),
    ]
    status, offset, length = 200, 0, md.size
    part = _part_span(ctx, md)
    if part is not None:
        offset, length, count = part
        headers.append(("x-amz-mp-parts-count", str(count)))
        if count > 1 or length != md.size:
            status = 206
            headers.append(("Content-Range", f"bytes {offset}-{offset + length - 1}/{md.size}"))
    else:
        try:
            span = parse_range(ctx.request.headers.get("range", ""), md.size)
        except InvalidRequest:  # S3 ignores a Range it cannot parse
            span = None
        if span is not None:
            status, (offset, length) = 206, span
            headers.append(("Content-Range", f"bytes {offset}-{offset + length - 1}/{md.size}"))
    if status == 200 and ctx.request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers += [
            (f"x-amz-checksum-{k[len(CHECKSUM_PREFIX) :]}", v)
            for k, v in md.custom.items()
            if k.startswith(CHECKSUM_PREFIX)
        ]
    for param, header in _OVERRIDES.items():
        value = ctx.query.get(param)
        if value is not None:
            headers = [(n, v) for n, v in headers if n != header]
            headers.append((header, value))
    return status, headers, offset, length


def _not_modified(md: ObjectMetadata) -> Response:
    return Response(304, [("ETag", f'"{etag_of(md)}"'), ("Last-Modified", http_date(md.mtime_ns))])


class ObjectRead:
    """GetObject / HeadObject: no body to read; the reply is built once the request is complete."""

    __slots__ = ("ctx", "props", "remote")

    def __init__(self, ctx: S3Context) -> None:
        self.props = ctx.props(Permission.READ)
        self.ctx = ctx
        self.remote = remote_of(ctx.bck, self.props) is not None

    def feed(self, data: bytes) -> None:
        pass

    def finish(self) -> Response | Awaitable[Response]:
        ctx = self.ctx
        objects = ctx.node.objects
        if ctx.request.method == "HEAD":
            try:
                _location, md = objects.head(ctx.bck, ctx.key, self.props)
            except ObjectNotFound:
                if not self.remote:
                    raise
                return self._head_remote()  # not cached here: the backend describes it
            return self._head(md)
        try:
            obj = objects.open(ctx.bck, ctx.key, self.props)
        except ObjectNotFound:
            if not self.remote:
                raise
            return remote_cold_get(ctx, self.props, self.finish)  # not cached yet: a cold GET
        try:
            answer = read_headers(ctx, obj.metadata, self.remote)
            if answer is None:
                obj.close()
                return _not_modified(obj.metadata)
            status, headers, offset, length = answer
            objects.sent(length)
            if obj.metadata.codec:  # stored compressed: decode the frames the range touches
                return objects.respond_decoded(obj, status, headers, offset, length)
            return Response(status, headers, file=FileBody(obj.fd, offset, length))
        except BaseException:
            obj.close()
            raise

    def _head(self, md: ObjectMetadata) -> Response:
        answer = read_headers(self.ctx, md, self.remote)
        if answer is None:
            return _not_modified(md)
        status, headers, _offset, length = answer
        return Response(status, headers, content_length=length)

    async def _head_remote(self) -> Response:
        return self._head(await remote_head(self.ctx, self.props))

    def abort(self) -> None:
        pass


# -- DELETE ---------------------------------------------------------------------------------------


def delete_object(ctx: S3Context, body: bytes) -> Response:
    """S3 answers 204 whether or not the key existed."""
    props = ctx.props(Permission.WRITE)
    objects = ctx.node.objects
    try:
        if "versionId" in ctx.query:
            check_version(ctx, objects.metadata(ctx.bck, ctx.key))
        objects.delete(ctx.bck, ctx.key, props)
    except ObjectNotFound:
        pass
    return Response(204)


def parse_delete_request(ctx: S3Context, body: bytes) -> tuple[bool, list[str], list[str | None]]:
    """DeleteObjects' body, checked and bounded: (quiet, keys, version ids). Used by the cluster proxy too.

    The caller must be allowed to delete objects in the bucket (S3 permission and access bits).
    """
    ctx.node.objects.bucket(ctx.bck, ACCESS_DELETE_OBJECT, ctx.props(Permission.WRITE))
    root = parse(body)
    if root.tag != "Delete":
        raise malformed_xml()
    quiet = (child_text(root, "Quiet") or "").strip().lower() == "true"
    items = root.findall("Object")
    keys = [child_text(item, "Key") for item in items]
    versions = [child_text(item, "VersionId") for item in items]
    if not keys or len(keys) > MAX_DELETE_KEYS or any(k is None for k in keys):
        raise malformed_xml()
    want_md5 = content_md5(ctx)
    if want_md5 is not None and want_md5 != hashlib.md5(body).hexdigest():
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    return quiet, [k for k in keys if k is not None], versions


def delete_objects(ctx: S3Context, body: bytes) -> Response:
    # 1. parse and bound the request
    quiet, keys, versions = parse_delete_request(ctx, body)
    # 2. delete each key; a missing key counts as deleted, other failures are reported per key
    writer = XmlWriter("DeleteResult")
    for key, version in zip(keys, versions, strict=True):
        assert key is not None
        try:
            ctx.node.objects.delete(ctx.bck, validate_object_name(key))
        except ObjectNotFound:
            pass
        except Exception as exc:
            error = to_s3_error(exc, ctx.bucket, key)
            writer.open("Error").leaf("Key", key).leaf("Code", error.code).leaf("Message", error.message)
            writer.close("Error")
            continue
        if not quiet:
            writer.open("Deleted").leaf("Key", key).leaf("VersionId", version).close("Deleted")
    return xml_response(writer.document("DeleteResult"))


# -- COPY -------------------------------------------------------------------------------------------


def parse_copy_source(ctx: S3Context) -> tuple[str, str, str]:
    """``x-amz-copy-source: [/]bucket/key[?versionId=v]`` (URL-encoded) -> bucket, key, version."""
    raw = ctx.request.headers["x-amz-copy-source"].strip()
    path, _, query = raw.partition("?")
    text = unquote(path).lstrip("/")
    bucket, _, key = text.partition("/")
    if not bucket or not key:
        raise invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            raw,
        )
    version = ""
    if query.startswith("versionId="):
        version = unquote(query[len("versionId=") :])
    return bucket, validate_object_name(key), version


@dataclass
class CopySource:
    """The source of a copy: its metadata, and where its bytes are (this target, or ``owner``)."""

    md: ObjectMetadata
    bck: BucketRef
    key: str
    owner: NodeInfo | None = None  # in a cluster, the target holding it when that is not this one

    def read(self, objects: ObjectService, offset: int, length: int) -> Iterator[bytes]:
        """``length`` bytes from ``offset``, in chunks (streamed from the owner when remote)."""
        if self.owner is None:
            source = objects.open(self.bck, self.key)
            try:
                yield from objects.chunks(source, offset, length)
            finally:
                source.close()
            return
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"} if length else {}
        try:
            resp = peer_client().request(
                "GET",
                self.owner,
                object_path(self.bck, self.key),
                headers=headers,
                stream=True,
                query=bucket_params(self.bck, local="true"),
                kind=CallKind.DATA,
            )
        except PeerUnreachable as exc:
            raise S3Error("ServiceUnavailable", f"The source's target did not answer: {exc}", 503) from None
        with resp:
            if resp.status not in (200, 206):
                raise no_such_key(self.key)
            received = 0
            for chunk in resp.iter_chunks(1 << 20):
                received += len(chunk)
                yield chunk
            if received != length:
                raise S3Error("InternalError", "The source object arrived short", 500)


def source_metadata(ctx: S3Context, bucket: str, key: str, version: str) -> CopySource:
    """The copy source, after the read check, the version check and ``x-amz-copy-source-if-*``."""
    src = BucketRef.parse(bucket, "ais")
    ctx.node.objects.bucket(src, ACCESS_GET, ctx.props(Permission.READ, bucket))
    owner = None
    try:
        md = ctx.node.objects.metadata(src, key)
    except ObjectNotFound:
        # a forwarded copy lands on the destination's owner; the source may live on another target
        owner = ctx.node.cluster_map().target_for(src, key) if ctx.node.role.in_cluster else None
        found = (
            _remote_metadata(owner, src, key) if owner is not None and owner.id != ctx.node.node_id else None
        )
        if found is None:
            raise no_such_key(key) from None
        md = found
    if version and version not in ("null", md.version):
        raise S3Error(
            "NoSuchVersion", "The specified version does not exist.", 404, Key=key, VersionId=version
        )
    check_conditions(ctx.request.headers, etag_of(md), md.mtime_ns, prefix="x-amz-copy-source-")
    return CopySource(md, src, key, owner if owner is not None and owner.id != ctx.node.node_id else None)


def _remote_metadata(owner: NodeInfo, bck: BucketRef, key: str) -> ObjectMetadata | None:
    """The metadata record of an object on another target (a local-only HEAD), or None."""
    try:
        answer = peer_client().request(
            "HEAD",
            owner,
            object_path(bck, key),
            query=bucket_params(bck, local="true", withmd="true"),
            kind=CallKind.PROBE,
        )
    except PeerUnreachable:
        raise S3Error("ServiceUnavailable", "The copy source's target did not answer", 503) from None
    record = answer.headers.get(METADATA_HEADER, "")
    if answer.status != 200 or not record:
        return None
    return decode_metadata(base64.b64decode(record))


def copy_object(ctx: S3Context, body: bytes) -> Response:
    # 1. source, destination, directive
    src_bucket, src_key, version = parse_copy_source(ctx)
    copy_source = source_metadata(ctx, src_bucket, src_key, version)
    source = copy_source.md
    props = ctx.props(Permission.WRITE)
    directive = ctx.request.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive", directive)
    same = (src_bucket, src_key) == (ctx.bucket, ctx.key)
    if same and directive == "COPY":
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without "
            "changing the object's metadata, storage class, website redirect location or encryption "
            "attributes.",
        )
    objects, dst = ctx.node.objects, ctx.bck
    # 2. bytes (kernel-side copy) unless copying onto itself, then the new metadata
    if not same and copy_source.owner is None:
        objects.copy(copy_source.bck, src_key, dst, ctx.key, props)
    elif not same:  # the source is on another target: stream it here, keeping its metadata
        out = objects.put(dst, ctx.key, props)
        try:
            for chunk in copy_source.read(objects, 0, source.size):
                out.write(chunk)
        except BaseException:
            out.abort()
            raise
        out.commit(custom=dict(source.custom), etag=source.etag)
    md = source
    if directive == "REPLACE":
        replacement = custom_from_headers(ctx.request)

        def change(current: ObjectMetadata) -> ObjectMetadata:
            kept = {k: v for k, v in current.custom.items() if k.startswith((CHECKSUM_PREFIX, PARTS_KEY))}
            custom = {**non_s3(current.custom), **kept, **replacement}
            return msgspec.structs.replace(current, custom=custom)

        md = objects.update_metadata(dst, ctx.key, change, ACCESS_PUT)
    elif not same:
        md = objects.metadata(dst, ctx.key)
    writer = XmlWriter("CopyObjectResult")
    writer.leaf("LastModified", iso_time(md.mtime_ns)).leaf("ETag", f'"{etag_of(md)}"')
    return xml_response(writer.document("CopyObjectResult"))
