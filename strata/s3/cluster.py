"""The S3 front on a cluster proxy: forward object requests to their owner, fan listings out.

boto3 does not follow 307, so a proxy cannot redirect S3 clients the way it redirects ``/v1`` ones; it
serves them itself, without ever holding an object:

- Object requests (PUT/GET/HEAD/DELETE, multipart parts and completes, copies) are forwarded to the
  HRW owner of (bucket, key) *verbatim*: same method, path, query and headers (``Host`` included),
  and the body as it arrives, ``aws-chunked`` framing and all (``ForwardExchange``). The reply streams
  back the same way. Flow control: the client connection stops being read while more than
  ``HIGH_WATER`` bytes wait for the target.
- Listings (v1, v2, versions, multipart uploads) send the same verbatim request to every target, each
  answers from its local objects, and the proxy merges the documents in key order
  (``merge_listing``): the first N entries of the union are within the first N of every target.
- DeleteBucket and DeleteObjects are answered by the proxy over the targets' ``/v1`` API (the same
  intra-cluster API ``/v1`` listing on a proxy already uses).

Trust: nothing new. A forwarded request carries the client's own signature, so the target
authenticates it exactly as if the client had sent it directly (SigV4 signs host, path, query and the
signed headers, all unchanged; presigned expiry and chunk signatures are checked there too). The
``X-Strata-Forwarded: <proxy id>`` header the proxy adds is informational (logs, tracing) and grants
nothing, so no secret has to be shared. The proxy authenticates first anyway, so a bad signature is
refused before any target is contacted.

Bucket owners, ACLs and versioning status live in etcd in cluster mode (``EtcdOwners``), so every
proxy and target makes the same access decisions.
"""

from __future__ import annotations

import asyncio
import base64
import queue
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import quote, unquote

import msgspec

from strata.cluster.etcd_store import EtcdMetaStore
from strata.cluster.peers import CallKind, PeerResponse, peer_client
from strata.cluster.rebalance import find_on_neighbours
from strata.cluster.smap import NodeInfo
from strata.cluster.transfer import bucket_params, object_path
from strata.core.errors import Conflict, PeerUnreachable
from strata.core.names import BucketRef, validate_object_name
from strata.roles.node import Node
from strata.s3.body import BodyReader
from strata.s3.context import S3Context
from strata.s3.errors import S3Error, to_s3_error
from strata.s3.objects import parse_delete_request
from strata.s3.users import BucketRecord, Owners, Permission
from strata.s3.xml import XmlWriter, escape, xml_response
from strata.server.http import Request, Response

FORWARDED = "X-Strata-Forwarded"
HIGH_WATER = 8 << 20  # bytes waiting for the target before the client connection is paused
LOW_WATER = 2 << 20
SMALL_REPLY = 64 << 10  # replies up to this size are read whole, larger ones streamed
_CHUNK = 1 << 20
# a forwarded request holds a thread while its body arrives: its own pool, so slow uploaders never
# starve the relays of replies; the fan-outs run on the peer client's pool
_senders = ThreadPoolExecutor(256, thread_name_prefix="s3-forward")
_pool = ThreadPoolExecutor(64, thread_name_prefix="s3-relay")
# hop-by-hop headers (and those the proxy's own server or client set) are not passed on
_REQUEST_DROP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "expect", "te", "trailer", "upgrade", "content-length"}
)
_REPLY_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


def owner_of(node: Node, ctx: S3Context) -> NodeInfo:
    owner = node.cluster_map().target_for(ctx.bck, ctx.key)
    if owner is None:
        raise S3Error("ServiceUnavailable", "No storage target is available", 503)
    return owner


def forward_headers(node: Node, request: Request) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k not in _REQUEST_DROP}
    headers[FORWARDED] = node.node_id
    return headers


# -- forwarding one request ---------------------------------------------------------------------


_END = object()
_ABORT = object()


class _Pipe:
    """Body chunks from the event loop (``put``) to the sending thread (``read``), bounded by pausing."""

    def __init__(self, length: int | None, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.len = length  # sent as Content-Length (None: the body goes chunked)
        self.pending = 0
        self.paused = False
        self.dead = False  # the sending side is done: nobody reads any more
        self.lock = threading.Lock()
        self.pause, self.resume = pause, resume

    def put(self, data: bytes) -> None:
        with self.lock:
            self.pending += len(data)
            if self.pending > HIGH_WATER and not self.paused:
                self.paused = True
                self.pause()
        self.queue.put(data)

    def read(self, n: int = -1) -> bytes:
        item = self.queue.get()
        if item is _END:
            self.queue.put(_END)  # later reads see the end too
            return b""
        if item is _ABORT:
            raise OSError("the client went away")
        assert isinstance(item, bytes)
        with self.lock:
            self.pending -= len(item)
            if self.paused and self.pending < LOW_WATER:
                self.paused = False
                self.resume()
        return item

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read():
            yield chunk


class ForwardExchange:
    """Send one S3 request on to a target as it arrives; its reply becomes ours."""

    def __init__(
        self, node: Node, request: Request, target: NodeInfo, *, bck: BucketRef | None = None, key: str = ""
    ) -> None:
        self.node = node
        self.bck, self.key = bck, key  # for get-from-neighbour on reads
        self.request = request
        self.target = target
        self.loop = asyncio.get_running_loop()
        self._pause: Callable[[], None] = _noop
        self._resume: Callable[[], None] = _noop
        headers = request.headers
        length = headers.get("content-length", "")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.pipe: _Pipe | None = None
        body: _Pipe | Iterator[bytes] | None = None
        if chunked or (length.isdigit() and int(length) > 0):
            self.pipe = _Pipe(None if chunked else int(length), self._pause_reading, self._resume_reading)
            body = iter(self.pipe) if chunked else self.pipe
        headers = forward_headers(node, request)
        if self.pipe is not None and self.pipe.len is not None:
            headers["Content-Length"] = str(self.pipe.len)
        self.future: Future[PeerResponse] = _senders.submit(self._send, target, headers, body)
        self.future.add_done_callback(self._sent)

    def _sent(self, _future: Future[PeerResponse]) -> None:
        """The target answered (or failed) before the body was all in: drop the rest, keep reading."""
        if self.pipe is not None:
            self.pipe.dead = True
            self._resume_reading()

    # flow control: the server hands us its transport's pause/resume (``set_flow_control``)
    def set_flow_control(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._pause, self._resume = pause, resume

    def _pause_reading(self) -> None:
        self.loop.call_soon_threadsafe(self._pause)

    def _resume_reading(self) -> None:
        self.loop.call_soon_threadsafe(self._resume)

    def _send(
        self, target: NodeInfo, headers: dict[str, str], body: _Pipe | Iterator[bytes] | None
    ) -> PeerResponse:
        """The request, verbatim, to ``target`` (``PeerUnreachable`` -- a 503 -- if it does not answer)."""
        return peer_client().request(
            self.request.method,
            target,
            self.request.path,
            query=self.request.query,
            headers=headers,
            body=body,
            kind=CallKind.DATA,
            stream=True,
        )

    def feed(self, data: bytes) -> None:
        if self.pipe is not None and not self.pipe.dead:
            self.pipe.put(data)

    def finish(self) -> Awaitable[Response]:
        if self.pipe is not None:
            self.pipe.queue.put(_END)
        return self._reply()

    def abort(self) -> None:
        if self.pipe is not None:
            self.pipe.queue.put(_ABORT)
        self.future.add_done_callback(_close_quietly)

    async def _reply(self) -> Response:
        resp = await asyncio.wrap_future(self.future)
        if resp.status == 404 and self.request.method in ("GET", "HEAD") and self.bck is not None:
            # get-from-neighbour: during a rebalance the object may still be on its previous target;
            # the same signed request goes there (the holder checks the signature as the owner would)
            holder = await self.loop.run_in_executor(
                None, find_on_neighbours, self.node.cluster_map(), self.target.id, self.bck, self.key
            )
            if holder is not None:
                resp.close()
                resp = await self.loop.run_in_executor(
                    _senders, self._send, holder, forward_headers(self.node, self.request), None
                )
        return await relay(resp, self.request.method == "HEAD")


def _noop() -> None:
    pass


def _close_quietly(future: Future[PeerResponse]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


async def relay(resp: PeerResponse, head: bool) -> Response:
    """A target's reply as ours: status and headers as they are, the body streamed when large."""
    headers = [(k, v) for k, v in resp.header_items() if k.lower() not in _REPLY_DROP]
    length_text = resp.headers.get("content-length", "")
    length = int(length_text) if length_text.isdigit() else None
    if head or resp.status in (204, 304):
        resp.close()
        return Response(resp.status, headers, content_length=length if head else None)
    if length is not None and length <= SMALL_REPLY:
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(_pool, _read_all, resp)
        return Response(resp.status, headers, body)
    return Response(resp.status, headers, stream=_stream(resp), content_length=length)


def _whole(resp: PeerResponse) -> Response:
    """A reply already read (not streamed) as ours."""
    headers = [(k, v) for k, v in resp.header_items() if k.lower() not in _REPLY_DROP]
    return Response(resp.status, headers, resp.content)


def _read_all(resp: PeerResponse) -> bytes:
    return resp.content  # read whole, the connection goes back to the pool


async def _stream(resp: PeerResponse) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    chunks = resp.iter_chunks(_CHUNK)
    try:
        while True:
            chunk = await loop.run_in_executor(_pool, next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        resp.close()


# -- fan-out ------------------------------------------------------------------------------------


def _targets(node: Node) -> list[NodeInfo]:
    targets = list(node.cluster_map().targets.values())
    if not targets:
        raise S3Error("ServiceUnavailable", "No storage target is available", 503)
    return targets


class AsyncSmallBodyExchange:
    """A bounded, decoded and verified body, then an async handler (it talks to targets)."""

    def __init__(self, ctx: S3Context, handler: Callable[[S3Context, bytes], Awaitable[Response]]) -> None:
        self.ctx = ctx
        self.handler = handler
        self.chunks: list[bytes] = []
        self.total = 0
        self.reader = BodyReader(ctx.request, ctx.signature, self._collect)

    def _collect(self, data: bytes | memoryview) -> None:
        self.total += len(data)
        if self.total > MAX_XML:
            raise S3Error("MaxMessageLengthExceeded", "Your request was too big.")
        self.chunks.append(bytes(data))

    def feed(self, data: bytes) -> None:
        self.reader.feed(data)

    def finish(self) -> Awaitable[Response]:
        self.reader.finish()
        return self.handler(self.ctx, b"".join(self.chunks))

    def abort(self) -> None:
        self.chunks = []


MAX_XML = 2 << 20


# -- listings -----------------------------------------------------------------------------------


class _Kind(msgspec.Struct, frozen=True):
    root: str
    entries: tuple[str, ...]
    limit: str


_V1 = _Kind("ListBucketResult", ("Contents", "CommonPrefixes"), "MaxKeys")
_VERSIONS = _Kind("ListVersionsResult", ("Version", "DeleteMarker", "CommonPrefixes"), "MaxKeys")
_UPLOADS = _Kind("ListMultipartUploadsResult", ("Upload", "CommonPrefixes"), "MaxUploads")


async def list_merged(ctx: S3Context, body: bytes) -> Response:
    """Every target lists its own objects for the client's (signed) request; we merge the pages."""
    request = ctx.request
    headers = forward_headers(ctx.node, request)
    targets = _targets(ctx.node)
    by_target = await peer_client().fan_out(
        "GET", targets, request.path, query=request.query, headers=headers, kind=CallKind.LIST
    )
    answers = [by_target[t.id] for t in targets]
    for answer in answers:
        if answer.status != 200:  # the same validation ran everywhere: pass the first failure on
            return _whole(answer)
    docs = [_parse_reply(answer.content) for answer in answers]
    query = ctx.query
    if "uploads" in query:
        return xml_response(_merge(docs, _UPLOADS, v2=False))
    if "versions" in query:
        return xml_response(_merge(docs, _VERSIONS, v2=False))
    return xml_response(_merge(docs, _V1, v2=query.get("list-type") == "2"))


def _parse_reply(body: bytes) -> ET.Element:
    root = ET.fromstring(body)  # a peer's reply: trusted, and larger than client documents may be
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return root


def _merge(docs: list[ET.Element], kind: _Kind, *, v2: bool) -> bytes:
    first = docs[0]
    encoded = first.findtext("EncodingType") == "url"
    limit = int(first.findtext(kind.limit) or "1000")

    def name_of(element: ET.Element) -> str:
        text = element.findtext("Prefix" if element.tag == "CommonPrefixes" else "Key") or ""
        return unquote(text) if encoded else text

    def sort_key(element: ET.Element) -> tuple[str, str, str]:
        if element.tag == "Upload":
            return name_of(element), element.findtext("Initiated") or "", element.findtext("UploadId") or ""
        return name_of(element), "", ""

    # 1. all entries of all pages, in order, without duplicates (a rebalance may show an object twice)
    entries: list[tuple[tuple[str, str, str], ET.Element]] = []
    for doc in docs:
        entries.extend((sort_key(e), e) for e in doc if e.tag in kind.entries)
    entries.sort(key=lambda pair: pair[0])
    merged: list[tuple[tuple[str, str, str], ET.Element]] = []
    seen: set[tuple[str, str]] = set()
    for key, element in entries:
        ident = (key[0], key[2])
        if ident in seen:
            continue
        seen.add(ident)
        merged.append((key, element))
    # 2. cut one page
    truncated = len(merged) > limit or any(d.findtext("IsTruncated") == "true" for d in docs)
    merged = merged[:limit]
    last_key, last = merged[-1] if merged else (("", "", ""), None)
    enc: Callable[[str], str] = (lambda t: quote(t, safe="/")) if encoded else (lambda t: t)
    more = truncated and last is not None
    # 3. the document, header fields in S3's order
    overrides: dict[str, str | None] = {"IsTruncated": "true" if truncated else "false"}
    order: tuple[str, ...]
    if kind is _V1 and v2:
        token = base64.urlsafe_b64encode(last_key[0].encode()).decode() if more else None
        overrides |= {"NextContinuationToken": token, "KeyCount": str(len(merged))}
        order = (
            "Name", "Prefix", "ContinuationToken", "NextContinuationToken", "KeyCount", "MaxKeys",
            "Delimiter", "StartAfter", "IsTruncated", "EncodingType",
        )  # fmt: skip
    elif kind is _V1:
        delimiter = first.findtext("Delimiter")
        overrides["NextMarker"] = enc(last_key[0]) if more and delimiter else None
        order = (
            "Name", "Prefix", "Marker", "NextMarker", "MaxKeys", "Delimiter", "IsTruncated", "EncodingType",
        )  # fmt: skip
    elif kind is _VERSIONS:
        overrides["NextKeyMarker"] = enc(last_key[0]) if more else None
        is_version = last is not None and last.tag == "Version"
        overrides["NextVersionIdMarker"] = "null" if more and is_version else None
        order = (
            "Name", "Prefix", "KeyMarker", "VersionIdMarker", "NextKeyMarker", "NextVersionIdMarker",
            "MaxKeys", "Delimiter", "IsTruncated", "EncodingType",
        )  # fmt: skip
    else:
        overrides["NextKeyMarker"] = last_key[0] if more else None
        overrides["NextUploadIdMarker"] = last_key[2] if more else None
        order = (
            "Bucket", "KeyMarker", "UploadIdMarker", "NextKeyMarker", "NextUploadIdMarker", "Prefix",
            "Delimiter", "MaxUploads", "IsTruncated",
        )  # fmt: skip
    writer = XmlWriter(kind.root)
    for tag in order:
        if tag in overrides:
            writer.leaf(tag, overrides[tag])
        else:
            child = first.find(tag)
            if child is not None:
                writer.parts.append(f"<{tag}>{escape(child.text or '')}</{tag}>")
    for tag in kind.entries:  # entries before common prefixes, as a single node writes them
        for _key, element in merged:
            if element.tag == tag:
                element.tail = None
                writer.parts.append(ET.tostring(element, encoding="unicode"))
    return writer.document(kind.root)


# -- bucket operations that need every target ----------------------------------------------------


async def bucket_has_objects(node: Node, ctx: S3Context) -> bool:
    """Does any target hold an object of the bucket? (a /v1 list of one entry from each)"""
    bck = ctx.bck
    msg = {"action": "list", "name": "", "value": {"pagesize": 1, "props": "name"}}
    peers = peer_client()

    def ask(target: NodeInfo) -> bool:
        answer = peers.request_json(
            "GET", target, f"/v1/buckets/{quote(bck.name)}", msg, query=bucket_params(bck)
        )
        if answer.status == 404:
            return False
        if answer.status != 200:
            raise S3Error("ServiceUnavailable", f"target {target.id} failed to list: {answer.status}", 503)
        return bool(answer.json().get("Entries"))

    return any(await peers.amap(ask, _targets(node)))


async def delete_bucket(ctx: S3Context, body: bytes) -> Response:
    from strata.roles import buckets as roles_buckets

    ctx.props(Permission.OWNER)
    if await bucket_has_objects(ctx.node, ctx):
        raise S3Error(
            "BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=ctx.bucket
        )
    roles_buckets.destroy_bucket(ctx.node, ctx.bck)
    ctx.owners.forget(ctx.bucket)
    return Response(204)


async def delete_objects(ctx: S3Context, body: bytes) -> Response:
    """DeleteObjects: each key deleted on its owner (``/v1`` DELETE), concurrently."""
    # 1. parse and bound the request, as a single node does
    quiet, keys, versions = parse_delete_request(ctx, body)
    # 2. delete everywhere at once
    bck, smap = ctx.bck, ctx.node.cluster_map()
    peers = peer_client()

    def delete(key: str) -> S3Error | None:
        try:
            validate_object_name(key)
        except Exception as exc:
            return to_s3_error(exc, ctx.bucket, key)
        target = smap.target_for(bck, key)
        if target is None:
            return S3Error("ServiceUnavailable", "No storage target is available", 503)
        try:
            answer = peers.request("DELETE", target, object_path(bck, key), query=bucket_params(bck))
        except PeerUnreachable as exc:
            return to_s3_error(exc)
        if answer.status < 300 or answer.status == 404:
            return None
        return S3Error("InternalError", f"target {target.id} answered {answer.status}", 500)

    results = await peers.amap(delete, [k for k in keys if k is not None])
    # 3. the report
    writer = XmlWriter("DeleteResult")
    for key, version, error in zip(keys, versions, results, strict=True):
        if error is not None:
            writer.open("Error").leaf("Key", key).leaf("Code", error.code).leaf("Message", error.message)
            writer.close("Error")
        elif not quiet:
            writer.open("Deleted").leaf("Key", key).leaf("VersionId", version).close("Deleted")
    return xml_response(writer.document("DeleteResult"))


# -- bucket records in etcd ---------------------------------------------------------------------

_records = msgspec.json.Decoder(dict[str, BucketRecord])
CAS_ATTEMPTS = 20


class EtcdOwners(Owners):
    """``Owners`` for a cluster: one etcd key (``<prefix>s3/buckets``), read through on every lookup
    (a changed ACL applies on every node at once), decoded again only when it changed."""

    def __init__(self, store: EtcdMetaStore) -> None:
        self.store = store
        self.key = store.prefix + "s3/buckets"
        self._records: dict[str, BucketRecord] = {}
        self._revision = -1

    def all(self) -> dict[str, BucketRecord]:
        kv = self.store.etcd.get(self.key)
        if kv is None:
            self._records, self._revision = {}, 0
        elif kv.mod_revision != self._revision:
            self._records, self._revision = _records.decode(kv.value), kv.mod_revision
        return self._records

    def update(self, change: Callable[[dict[str, BucketRecord]], None]) -> None:
        for _ in range(CAS_ATTEMPTS):
            kv = self.store.etcd.get(self.key)
            records = _records.decode(kv.value) if kv is not None else {}
            change(records)
            if self.store.etcd.compare_and_swap(
                self.key, msgspec.json.encode(records), kv.mod_revision if kv is not None else 0
            ):
                return
            time.sleep(0.005)
        raise Conflict("S3 bucket records changed concurrently; retry")
