"""What a proxy does that a target does not: redirect data requests, and fan requests out to targets.

A proxy never touches object bytes: an object request is answered with 307 to the target HRW picks
from the current cluster map (the SDK and ``requests`` re-send method and body there). Listing a
bucket asks every target for its page after the continuation token and merges the pages in name
order (dropping duplicates, which exist while a rebalance moves objects).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import requests

from strata.api.node import Node
from strata.api.responses import MSGPACK, json_response
from strata.api.wire import (
    ActionMsg,
    ListEntry,
    ListObjectsMsg,
    ListObjectsPage,
    convert_value,
    msgpack_encode,
)
from strata.cluster.smap import NodeInfo
from strata.errors import InvalidRequest, StrataError
from strata.server.http import Request, Response
from strata.storage.names import BucketRef

FANOUT_TIMEOUT = (3.0, 60.0)
MAX_PAGE_SIZE = 10000
_pool = ThreadPoolExecutor(16, thread_name_prefix="fanout")
_page_decoder = msgspec.msgpack.Decoder(ListObjectsPage)


class TargetUnreachable(StrataError):
    """A target did not answer a fan-out request (its data is unavailable until it is back)."""

    status = 503


def redirect(node: Node, request: Request, bck: BucketRef, object_name: str) -> Response:
    """307 to the object's owner: the proxy does not read or write object bytes."""
    owner = node.cluster_map().target_for(bck, object_name)
    if owner is None:
        raise TargetUnreachable("no target is available to serve the request")
    location = owner.url + request.path + (f"?{request.query}" if request.query else "")
    return Response(307, [("Location", location), ("Content-Type", "text/plain")], b"")


def _session() -> requests.Session:
    return requests.Session()


def _call(
    target: NodeInfo,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query: str = "",
) -> requests.Response:
    url = target.url + path + (f"?{query}" if query else "")
    try:
        return requests.request(method, url, data=body, headers=headers, timeout=FANOUT_TIMEOUT)
    except requests.RequestException as exc:
        raise TargetUnreachable(f"target {target.id} ({target.url}) did not answer: {exc}") from None


async def fan_out(
    node: Node,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    query: str = "",
    headers: dict[str, str] | None = None,
) -> dict[str, requests.Response]:
    """The same request to every target, concurrently; answers keyed by target id."""
    targets = list(node.cluster_map().targets.values())
    loop = asyncio.get_running_loop()
    calls = [
        loop.run_in_executor(
            _pool, functools.partial(_call, t, method, path, body=body, headers=headers, query=query)
        )
        for t in targets
    ]
    answers = await asyncio.gather(*calls)
    return {t.id: a for t, a in zip(targets, answers, strict=True)}


async def list_objects(node: Node, request: Request, bck: BucketRef, msg: ActionMsg) -> Response:
    # 1. the bucket must exist; normalize the page request
    node.bucket_props(bck)
    lsmsg: ListObjectsMsg = convert_value(msg.value, ListObjectsMsg, "list-objects message")
    if lsmsg.pagesize < 0:
        raise InvalidRequest(f"invalid page size {lsmsg.pagesize}")
    page_size = min(lsmsg.pagesize or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    list_uuid = lsmsg.uuid or msgspec.json.encode(node.cluster_map().version).decode() + "-" + _new_id()
    # 2. every target's page after the token
    forwarded = msgspec.json.encode(
        {
            "action": "list",
            "name": "",
            "value": msgspec.structs.replace(lsmsg, pagesize=page_size, uuid=list_uuid),
        }
    )
    answers = await fan_out(
        node,
        "GET",
        request.path,
        body=forwarded,
        query=request.query,
        headers={"Accept": "application/msgpack", "Content-Type": "application/json"},
    )
    pages: list[ListObjectsPage] = []
    for target_id, answer in answers.items():
        if answer.status_code != 200:
            raise TargetUnreachable(
                f"target {target_id} failed to list: {answer.status_code} {answer.text[:200]}"
            )
        pages.append(_page_decoder.decode(answer.content))
    # 3. merge in name order, drop duplicates, cut one page
    more = any(p.ContinuationToken for p in pages)
    merged = _merge([p.Entries or [] for p in pages])
    entries: list[ListEntry] = []
    for entry in merged:
        if len(entries) == page_size:
            more = True
            break
        entries.append(entry)
    token = entries[-1].n if more and entries else ""
    page = ListObjectsPage(UUID=list_uuid, ContinuationToken=token, Flags=0, Entries=entries or None)
    if "msgpack" in request.headers.get("accept", ""):
        return Response(200, [MSGPACK], msgpack_encode(page))
    return json_response(page)


def _merge(pages: list[list[ListEntry]]) -> Iterator[ListEntry]:
    last = None
    for entry in heapq.merge(*pages, key=lambda e: e.n):
        if entry.n != last:
            yield entry
            last = entry.n


def _new_id() -> str:
    return secrets.token_hex(5)


def aggregate_json(answers: dict[str, requests.Response]) -> dict[str, Any]:
    out = {}
    for target_id, answer in answers.items():
        if answer.status_code == 200:
            out[target_id] = answer.json()
    return out
