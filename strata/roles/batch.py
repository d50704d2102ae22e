"""The HTTP side of GetBatch: ``GET /v1/ml/moss[/BUCKET]`` and ``POST /v1/buckets/B {"action":"getbatch"}``.

Answers (see ``shared/spec/ais-wire-contract.md``):
- ``strm: true`` -- 200, ``Content-Type`` of the archive format, the archive as a chunked stream. The
  first items are produced before the status line is written (until the first zero-copy region or
  ``FIRST_BYTES`` of output), so a failure at the start of a batch -- a missing entry without coer, too
  many soft errors in a small batch -- is a proper 4xx; later failures can only truncate the stream.
- ``strm: false`` -- 200, ``multipart/mixed``: a ``metadata`` part (``MossResp`` JSON: the job id and
  one ``MossOut`` per entry) then an ``archive`` part, with a ``Content-Length``; the archive is spooled
  first (memory, then a temporary file), so every failure is a proper status.
- 400 for a malformed request, 404 for any bucket the request names that does not exist (before any
  byte, with or without coer: coer covers missing objects and archived files, not a wrong bucket),
  403 for a bucket whose access bits do not allow GET, 429 + ``Retry-After`` under load.
- In a cluster a proxy validates (400/404 as above) and redirects (307) to a designated target picked at
  random among the active ones; that target assembles the batch, pulling peers' entries
  (``remote.RoutingSource``) on a thread so its event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Awaitable, Iterator
from typing import Any

from strata.archive import FileRegion, Output, content_type
from strata.config.access import ACCESS_GET
from strata.core.errors import ServiceUnavailable
from strata.core.names import BucketRef
from strata.core.query import Query
from strata.getbatch.assembler import Assembler
from strata.getbatch.model import (
    BatchPlan,
    MossResp,
    convert_request,
    decode_request,
    encode_response,
    plan_request,
)
from strata.getbatch.remote import RoutingSource
from strata.getbatch.sources import EntrySource, LocalSource
from strata.getbatch.spool import Spool
from strata.getbatch.work import BatchStream, WorkItem
from strata.roles.node import Node
from strata.roles.proxy import signed_location
from strata.server.http import Request, Response

FIRST_BYTES = 256 << 10


def get_batch(
    node: Node, request: Request, bucket_name: str, query: Query, value: Any = None
) -> Awaitable[Response]:
    """``value`` is the ``getbatch`` action's value; otherwise the request body is the MossReq."""
    # 1. parse and validate the whole request (400 names the entry)
    req = convert_request(value) if value is not None else decode_request(request.body)
    provider = query.get("provider")
    default = BucketRef.parse(bucket_name, provider, query.get("namespace")) if bucket_name else None
    plan = plan_request(req, default, provider)
    # 2. buckets: every one named must exist (404 before any byte)
    for bck in plan.buckets.values():
        node.bucket_props(bck, ACCESS_GET)
    # 3. serve it: here, or (a proxy) on a designated target
    return node.role.serve_batch(node, request, plan, query)


def local_source(node: Node) -> LocalSource:
    """Entries on this node's own disks, read through the object service."""
    return LocalSource(node.objects)


def routing_source(node: Node, plan: BatchPlan, local: LocalSource) -> EntrySource:
    """Entries on this node from ``local``, the others from their owners over the peer client."""
    config = node.meta.config().get_batch
    return RoutingSource(
        local,
        plan.entries,
        node.cluster_map,
        node.node_id,
        max_wait=config.max_wait,
        gfn=lambda: node.metrics.add("getbatch_gfn_count"),
        waited=lambda ns: node.metrics.add("getbatch_rxwait_ns", ns),
    )


def assemble(node: Node, plan: BatchPlan, source: EntrySource, *, threaded: bool) -> Awaitable[Response]:
    """Admit the batch as a work item of the node's get-batch job, then stream or spool it.

    ``threaded``: entries come from peers, so the assembly waits for them on a thread rather than on
    the event loop.
    """
    work = node.getbatch.begin()  # 429 + Retry-After under load
    try:
        assembler = Assembler(
            plan,
            source,
            max_soft_errs=node.meta.config().get_batch.max_soft_errs,
            keep_metadata=not plan.strm,
            tally=work.tally,
            warm=work.warmer(source),
        )
    except BaseException as exc:
        work.finish(exc)
        raise
    if plan.strm:
        return _streamed(plan, assembler, work, threaded=threaded)
    return _multipart(node, plan, assembler, work, threaded=threaded)


async def to_designated_target(node: Node, request: Request) -> Response:
    """307 to a target chosen at random among the active ones (spreading the assembly work)."""
    targets = node.cluster_map().active
    if not targets:
        raise ServiceUnavailable("no target is available to assemble the batch")
    chosen = secrets.choice(targets)
    location = chosen.url + request.path + (f"?{request.query}" if request.query else "")
    return Response(307, [("Location", signed_location(node, request, location))], b"")


async def _streamed(
    plan: BatchPlan, assembler: Assembler, work: WorkItem, *, threaded: bool = False
) -> Response:
    items = assembler.items()
    try:
        if threaded:
            head, more = await asyncio.get_running_loop().run_in_executor(None, _prime, items)
        else:
            head, more = _prime(items)
    except BaseException as exc:
        items.close()
        work.finish(exc)
        raise
    headers = [("Content-Type", content_type(plan.fmt)), ("Ais-Xaction-Id", work.job_id)]
    return Response(200, headers, stream=BatchStream(work, head, items if more else None, threaded=threaded))


def _prime(items: Iterator[Output]) -> tuple[list[Output], bool]:
    """Produce the start before committing to 200 (see the module docstring); False: nothing more."""
    head: list[Output] = []
    produced = 0
    for item in items:
        head.append(item)
        if isinstance(item, FileRegion):
            return head, True
        produced += len(item)
        if produced >= FIRST_BYTES:
            return head, True
    return head, False


async def _multipart(
    node: Node, plan: BatchPlan, assembler: Assembler, work: WorkItem, *, threaded: bool
) -> Response:
    spool = Spool(node.data_dir)
    try:
        if threaded:  # entries from peers: wait for them on a thread, not the event loop
            await asyncio.get_running_loop().run_in_executor(None, _spool_all, assembler, spool)
        else:
            for count, item in enumerate(assembler.items(), 1):
                spool.write(item)
                if count % 32 == 0:
                    await work.pace(count)
        assert assembler.out is not None
        metadata = encode_response(MossResp(work.job_id, assembler.out))
    except BaseException as exc:
        spool.close()
        work.finish(exc)
        raise
    work.finish(None)
    boundary = secrets.token_hex(16)
    head = b"".join(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'.encode(),
            b"Content-Type: application/json\r\n\r\n",
            metadata,
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="archive"; '.encode(),
            f'filename="batch{plan.fmt}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode(),
        )
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = [("Content-Type", f"multipart/mixed; boundary={boundary}"), ("Ais-Xaction-Id", work.job_id)]
    length = len(head) + spool.size + len(tail)
    return Response(200, headers, stream=_SpooledBody(head, spool, tail), content_length=length)


def _spool_all(assembler: Assembler, spool: Spool) -> None:
    for item in assembler.items():
        spool.write(item)


class _SpooledBody:
    """The multipart body; ``close()`` (the server's, or garbage collection's) releases the spool."""

    def __init__(self, head: bytes, spool: Spool, tail: bytes) -> None:
        self.spool = spool
        self.items = itertools.chain((head,), spool.items(), (tail,))

    def __iter__(self) -> Iterator[bytes | FileRegion]:
        return self

    def __next__(self) -> bytes | FileRegion:
        try:
            return next(self.items)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        self.spool.close()

    def __del__(self) -> None:
        self.spool.close()
