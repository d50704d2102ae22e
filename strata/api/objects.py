"""Object requests: ``/v1/objects/<bucket>/<object>`` -- GET, HEAD, PUT, DELETE, PATCH, POST.

The hot paths (GET, PUT) do their filesystem work inline: a small GET is an open, an fstat, an
xattr read and one write to the socket; a large one goes out with sendfile. PUT bodies stream
straight into the object's work file as they arrive.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from strata.api.archives import get_archived
from strata.cluster.rebalance import METADATA_HEADER
from strata.cluster.smap import NodeInfo
from strata.cluster.transfer import STORED_MD_HEADER
from strata.config.access import (
    ACCESS_GET,
)
from strata.config.bucket_props import BucketProps
from strata.core.errors import InvalidRequest, NotImplementedYet, ObjectNotFound
from strata.core.names import BucketRef, validate_object_name
from strata.core.query import Query
from strata.core.ranges import parse_range
from strata.core.wire import ActionMsg, decode_action
from strata.jobs.registry import JobStore
from strata.objects.put import ObjectPut
from strata.objects.remote import PRESENT_ONLY, may_cache_remote, off_loop_backend, remote_of
from strata.roles import downloads
from strata.roles.node import Node
from strata.server.http import FileBody, Request, Response, http_date, serialize_head
from strata.server.responses import answer_when, empty_response, text_response
from strata.storage import multipart
from strata.storage.metadata import ObjectMetadata, decode_metadata, encode_metadata
from strata.storage.objects import ObjectWriter, OpenObject


def custom_header(custom: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in custom.items())


def metadata_headers(
    node: Node, bck: BucketRef, object_name: str, md: ObjectMetadata, path: str
) -> list[tuple[str, str]]:
    """Everything HEAD reports (v1 and v2 alike): AIStore's ``Ais-*`` headers plus ETag/Last-Modified."""
    mountpath = node.objects.mountpath_of(path)
    headers = [
        ("Ais-Checksum-Type", md.checksum_type),
        ("Ais-Checksum-Value", md.checksum_value),
        ("Ais-Atime", str(md.atime_ns)),
        ("Ais-Version", md.version),
        ("Ais-Present", "true"),
        ("Ais-Location", f"t[{node.node_id}]:mp[{mountpath}]"),
        ("Ais-Mirror-Paths", f"[{mountpath}]"),
        ("Ais-Mirror-Copies", "1"),
        ("Last-Modified", http_date(md.mtime_ns)),
        ("ETag", f'"{md.etag or md.checksum_value}"'),
    ]
    if md.custom:
        headers.append(("Ais-Custom-Md", custom_header(md.custom)))
    return headers


# -- GET / HEAD -----------------------------------------------------------------------------------


def get_object(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query, *, validated: bool = False
) -> Response | Awaitable[Response]:
    objects = node.objects
    # 1. the bucket must exist and allow GET
    props = objects.bucket(bck, ACCESS_GET)
    cached_remote = may_cache_remote(bck, props)  # nothing built for a warm read: the hot path
    if (
        cached_remote
        and not validated
        and (props.versioning.validate_warm_get or query.flag("latest-ver"))
        and remote_of(bck, props) is not None
    ):
        return _latest_get(node, request, bck, object_name, query, props)  # the backend is asked first
    if query.get("archpath") or query.get("archregx"):
        return get_archived(node, request, bck, object_name, query)
    range_header = request.headers.get("range", "")
    # 2. a small object read whole may be in the hot cache (validated against its metadata)
    cacheable = not range_header and not props.checksum.validate_warm_get and request.keep_alive
    if cacheable:
        hit = objects.cached(bck, object_name, remote=cached_remote)
        if hit is not None:
            return Response(raw=hit)
    # 3. open (validating the checksum if the bucket asks): the fd keeps this version readable
    try:
        obj = objects.open(bck, object_name, props)
    except ObjectNotFound:
        if cached_remote and remote_of(bck, props) is not None:  # not cached yet: a cold GET from the backend
            if downloads.wants_blob_get(request) and not range_header:  # parallel chunks, streamed
                return downloads.blob_get(
                    node, request, bck, object_name, query, props,
                    lambda: _cold_get(node, request, bck, object_name, query, props),
                )  # fmt: skip
            return _cold_get(node, request, bck, object_name, query, props)
        holder = None if query.flag("local") else objects.elsewhere(bck, object_name)
        if holder is None:
            raise
        return _from_neighbour(holder, request, bck, object_name)  # e.g. not moved here yet by a rebalance
    try:
        md = obj.metadata
        # 4. range, then hand the fd to the server (zero-copy for large bodies)
        span = parse_range(range_header, obj.size)
        objects.sent(obj.size if span is None else span[1])
        headers = [
            ("Ais-Checksum-Type", md.checksum_type),
            ("Ais-Checksum-Value", md.checksum_value),
            ("Ais-Version", md.version),
            ("Content-Type", "application/octet-stream"),
        ]
        if span is None:
            if cacheable and obj.size <= objects.hot.max_object:
                response = _cached_response(node, obj, headers)  # raising, it leaves obj to the except
                obj.close()
                return response
            status, offset, length = 200, 0, obj.size
        else:
            offset, length = span
            headers.append(("Content-Range", f"bytes {offset}-{offset + length - 1}/{obj.size}"))
            status = 206
        if md.codec:  # stored compressed: decode the frames the range touches
            return objects.respond_decoded(obj, status, headers, offset, length)
        return Response(status, headers, file=FileBody(obj.fd, offset, length))
    except BaseException:
        obj.close()
        raise


async def _latest_get(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query, props: BucketProps
) -> Response:
    """A warm GET that first checks the cached copy against the backend (off the event loop)."""
    await off_loop_backend(lambda: node.objects.refresh(bck, object_name, props))
    return await _local_get(node, request, bck, object_name, query)


async def _local_get(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query
) -> Response:
    """The GET answered from the cache, once the backend has been consulted."""
    answer = get_object(node, request, bck, object_name, query, validated=True)
    return await answer if isinstance(answer, Awaitable) else answer


async def _cold_get(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query, props: BucketProps
) -> Response:
    """A remote bucket's object that is not cached yet. A whole-object GET streams the backend's bytes
    to the client while storing them; a range GET fetches the object first, then reads the range."""
    if request.headers.get("range"):
        await off_loop_backend(lambda: node.objects.fetch(bck, object_name, props))
        return await _local_get(node, request, bck, object_name, query)
    cold = await off_loop_backend(lambda: node.objects.cold_read(bck, object_name, props))
    node.objects.sent(cold.info.size)
    headers = [
        ("Ais-Version", cold.info.version),
        ("Content-Type", cold.info.content_type or "application/octet-stream"),
    ]
    return Response(200, headers, stream=cold.stream(), content_length=cold.info.size)


async def _from_neighbour(
    neighbour: Awaitable[NodeInfo | None], request: Request, bck: BucketRef, object_name: str
) -> Response:
    """Get-from-neighbour: send the client to the target that still holds the object."""
    holder = await neighbour
    if holder is None:
        raise ObjectNotFound(bck.object_uri(object_name))
    query = f"{request.query}&local=true" if request.query else "local=true"
    return Response(307, [("Location", f"{holder.url}{request.path}?{query}")], b"")


def _cached_response(node: Node, obj: OpenObject, headers: list[tuple[str, str]]) -> Response:
    """Read a small object whole, answer it, and keep the serialized response in the hot cache."""
    data = node.objects.read(obj, 0, obj.size)
    raw = serialize_head(200, headers, obj.size, True) + data
    node.objects.remember(obj, raw)
    return Response(raw=raw)


def head_object(node: Node, bck: BucketRef, object_name: str, query: Query) -> Response | Awaitable[Response]:
    present_only = query.get("presence") in PRESENT_ONLY
    if present_only:  # in the cluster or 404: the bucket is not added, the backend not asked
        node.present_bucket_props(bck)
    try:
        path, md = node.objects.head(bck, object_name)
    except ObjectNotFound:
        remote = remote_of(bck, node.bucket_props(bck))
        if remote is None or present_only:
            raise
        return _head_remote(node, bck, object_name, remote.provider)
    headers = metadata_headers(node, bck, object_name, md, path)
    if "withmd" in query:  # a peer wants the exact metadata record (custom values may hold commas)
        headers.append((METADATA_HEADER, base64.b64encode(encode_metadata(md)).decode()))
    return Response(200, headers, content_length=md.size)


async def _head_remote(node: Node, bck: BucketRef, object_name: str, provider: str) -> Response:
    """HEAD of a remote bucket's object that is not cached here: what its backend says (not cached)."""
    found = await off_loop_backend(lambda: node.objects.head_remote(bck, object_name))
    facts = custom_header(found.cold_get_metadata(provider))
    headers = [("Ais-Present", "false"), ("Ais-Version", found.version), ("Ais-Custom-Md", facts)]
    return Response(200, headers, content_length=found.size)


# -- PUT --------------------------------------------------------------------------------------------


class PutExchange:
    """A PUT body streamed into the object's work file; published on the last byte."""

    __slots__ = ("expected", "put")

    def __init__(self, put: ObjectPut, expected: tuple[str, str] | None) -> None:
        self.put = put
        self.expected = expected

    def set_flow_control(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self.put.set_flow_control(pause, resume)

    def feed(self, data: bytes) -> None:
        self.put.feed(data)

    def finish(self) -> Response | Awaitable[Response]:
        return answer_when(self.put.finish(expected_checksum=self.expected), lambda _md: Response(200))

    def abort(self) -> None:
        self.put.abort()


class PartExchange:
    """One multipart-upload part streamed into the upload's directory."""

    __slots__ = ("writer",)

    def __init__(self, writer: multipart.PartWriter) -> None:
        self.writer = writer

    def feed(self, data: bytes) -> None:
        self.writer.write(data)

    def finish(self) -> Response:
        self.writer.commit()
        return Response(200)

    def abort(self) -> None:
        self.writer.abort()


def begin_put(node: Node, request: Request, bck: BucketRef, object_name: str, query: Query) -> Any:
    """Pick how a PUT body is consumed: streamed to disk (object, part) or buffered (append, copy)."""
    upload_id = query.get("uploadId")
    if upload_id:
        part = multipart.parse_part_number(query.get("partNumber"))
        return PartExchange(node.objects.put_part(bck, object_name, upload_id, part))
    if "rebalance" in query:
        return begin_rebalance_put(node, request, bck, object_name)
    stored = request.headers.get(STORED_MD_HEADER.lower())
    if stored is not None:  # a copy from another target, as it is stored there (compressed)
        return PutExchange(node.objects.put_stored(bck, object_name, _peer_metadata(node, stored)), None)
    expected = None
    client_type = request.headers.get("ais-checksum-type", "")
    client_value = request.headers.get("ais-checksum-value", "")
    if client_type and client_value:
        expected = (client_type, client_value)
    return PutExchange(node.objects.put(bck, object_name, size_hint=request.content_length), expected)


class RebalanceExchange:
    """An object moved here by a rebalance: bytes plus the metadata they had on the sender.

    A copy already here with the same or a newer write time wins (a client wrote it after the map
    changed); the sender then just drops its own copy.
    """

    __slots__ = ("carried", "jobs", "transfer_id", "writer")

    def __init__(
        self,
        writer: ObjectWriter | None,
        carried: ObjectMetadata,
        jobs: JobStore | None = None,
        transfer_id: str = "",
    ) -> None:
        self.writer = writer
        self.carried = carried
        self.jobs = jobs
        self.transfer_id = transfer_id

    def feed(self, data: bytes) -> None:
        if self.writer is not None:
            self.writer.write(data)

    def finish(self) -> Response:
        if self.writer is not None:
            self.writer.commit(versioning=False, carried=self.carried)
            if self.jobs is not None and self.transfer_id:  # the receiving side of the job's stats
                self.jobs.add_received(self.transfer_id, 1, self.carried.size)
        return Response(200)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def _peer_metadata(node: Node, header: str) -> ObjectMetadata:
    """A metadata record another target sent along with an object's bytes (cluster mode only)."""
    if not node.role.in_cluster:
        raise InvalidRequest("object transfers between targets exist only in cluster mode")
    try:
        return decode_metadata(base64.b64decode(header, validate=True))
    except (ValueError, msgspec.DecodeError):
        raise InvalidRequest("object transfer without valid object metadata") from None


def begin_rebalance_put(node: Node, request: Request, bck: BucketRef, object_name: str) -> RebalanceExchange:
    carried = _peer_metadata(node, request.headers.get(METADATA_HEADER.lower(), ""))
    writer = node.objects.receive(bck, object_name, carried)
    if writer is None:
        return RebalanceExchange(None, carried)
    transfer = Query(request.query).get("rebalance")
    try:
        node.jobs.received_path(transfer)  # a valid job id, or 400 before any byte is stored
    except BaseException:
        writer.abort()
        raise
    return RebalanceExchange(writer, carried, node.jobs, transfer)


def put_buffered(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query
) -> Response | Awaitable[Response]:
    """PUTs whose body is small or absent: append/flush and copy (``object_to``)."""
    objects = node.objects
    append_type = query.get("append_type")
    if append_type:
        handle = query.get("append_handle")
        if append_type == "append":
            handle = objects.append(bck, object_name, handle, request.body)
            return Response(200, [("Ais-Append-Handle", handle)])
        if append_type == "flush":
            if not handle:
                raise InvalidRequest("flush requires an append handle")
            if request.body:
                handle = objects.append(bck, object_name, handle, request.body)
            return answer_when(objects.flush(bck, object_name, handle), lambda _md: Response(200))
        raise InvalidRequest(f'invalid append_type "{append_type}" (expected "append" or "flush")')
    dst_bck, dst_name = parse_object_uname(query.get("object_to"))
    if remote_of(bck, node.bucket_props(bck)) or remote_of(dst_bck, node.bucket_props(dst_bck)):
        return _copy_remote(node, bck, object_name, dst_bck, dst_name)  # the backends: off the event loop
    objects.copy(bck, object_name, dst_bck, dst_name)
    return Response(200)


async def _copy_remote(
    node: Node, bck: BucketRef, object_name: str, dst_bck: BucketRef, dst_name: str
) -> Response:
    await off_loop_backend(lambda: node.objects.copy(bck, object_name, dst_bck, dst_name))
    return Response(200)


def parse_object_uname(uname: str) -> tuple[BucketRef, str]:
    """``ais/@#/bucket/object`` (the SDK's ``Object.uname``) -> bucket and validated object name."""
    parts = uname.split("/", 3)
    if len(parts) != 4 or not parts[3]:
        raise InvalidRequest(f'invalid destination "{uname}" (expected provider/@ns#/bucket/object)')
    provider, namespace, bucket, name = parts
    return BucketRef.parse(bucket, provider, namespace), validate_object_name(name)


# -- DELETE / PATCH / POST -------------------------------------------------------------------------


def delete_object(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query
) -> Response | Awaitable[Response]:
    upload_id = query.get("uploadId")
    if upload_id:  # mpt-abort
        node.objects.abort_upload(bck, object_name, upload_id)
    elif remote_of(bck, node.bucket_props(bck)) is not None:  # the backend first: off the event loop
        return _delete_remote(node, bck, object_name)
    else:
        node.objects.delete(bck, object_name)
    return empty_response()


async def _delete_remote(node: Node, bck: BucketRef, object_name: str) -> Response:
    await off_loop_backend(lambda: node.objects.delete(bck, object_name))
    return empty_response()


def patch_object(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query
) -> Response | Awaitable[Response]:
    """Merge (or with ``set-new-custom=true`` replace) custom metadata."""
    msg = decode_action(request.body)
    if not isinstance(msg.value, dict) or not all(isinstance(v, str) for v in msg.value.values()):
        raise InvalidRequest('custom metadata must be a JSON object of strings: {"value": {"key": "value"}}')
    for key in msg.value:
        if not key or "=" in key or "," in key:
            raise InvalidRequest(f'invalid custom metadata key "{key}"')
    replace = query.flag("set-new-custom")

    def change(md: ObjectMetadata) -> ObjectMetadata:
        custom = dict(msg.value) if replace else {**md.custom, **msg.value}
        return msgspec.structs.replace(md, custom=custom)

    if remote_of(bck, node.bucket_props(bck)) is not None:  # written through: off the event loop
        return _patch_remote(node, bck, object_name, change)
    node.objects.update_metadata(bck, object_name, change)
    return empty_response()


async def _patch_remote(
    node: Node, bck: BucketRef, object_name: str, change: Callable[[ObjectMetadata], ObjectMetadata]
) -> Response:
    await off_loop_backend(lambda: node.objects.update_metadata(bck, object_name, change))
    return empty_response()


def post_object(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query
) -> Response | Awaitable[Response]:
    msg = decode_action(request.body)
    if msg.action == "mpt-upload":
        return text_response(node.objects.create_upload(bck, object_name))
    if msg.action == "mpt-complete":
        done = node.objects.complete_upload(bck, object_name, query.get("uploadId"), _part_numbers(msg))
        return answer_when(done, lambda _md: empty_response())
    if msg.action == "rename-obj":
        node.objects.rename(bck, object_name, validate_object_name(msg.name))
        return empty_response()
    if msg.action == "promote":
        raise NotImplementedYet("promote is not implemented yet")
    if msg.action == "blob-download":
        return downloads.start_blob_download(node, request, bck, msg.name or object_name, query, msg)
    raise InvalidRequest(f'invalid action "{msg.action}" for POST on an object')


def _part_numbers(msg: ActionMsg) -> list[int]:
    if not isinstance(msg.value, list):
        raise InvalidRequest('mpt-complete expects a list of parts: [{"part-number": 1, "etag": ""}, ...]')
    numbers = []
    for part in msg.value:
        number = part.get("part-number") if isinstance(part, dict) else None
        if not isinstance(number, int):
            raise InvalidRequest(f"invalid part in mpt-complete: {part!r}")
        numbers.append(number)
    return numbers
