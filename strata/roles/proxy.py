"""What a proxy does that a target does not: redirect data requests, and fan requests out to targets.

A proxy never touches object bytes: an object request is answered with 307 to the target HRW picks
from the current cluster map (the SDK and ``requests`` re-send method and body there). Listing a
bucket asks every target for its page after the continuation token and merges the pages in name
order (dropping duplicates, which exist while a rebalance moves objects).
"""

from __future__ import annotations

import heapq
import secrets
from collections.abc import Iterator
from typing import Any

import msgspec

from strata.cluster.peers import CallKind, PeerResponse, peer_client
from strata.cluster.smap import NodeInfo
from strata.core.errors import InvalidRequest, PeerRefused, ServiceUnavailable
from strata.core.names import BucketRef
from strata.core.wire import (
    ActionMsg,
    ListEntry,
    ListObjectsMsg,
    ListObjectsPage,
    convert_value,
)
from strata.jobs.registry import new_job_id
from strata.objects.remote import remote_of
from strata.roles.listing import (
    FLAG_CACHED,
    FLAG_NOT_CACHED,
    MAX_PAGE_SIZE,
    list_flags,
    listed_props,
    merged_entry,
    needs_local_status,
    page_response,
    wanted_props,
)
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import json_response

_page_decoder = msgspec.msgpack.Decoder(ListObjectsPage)


def redirect(node: Node, request: Request, bck: BucketRef, object_name: str) -> Response:
    """307 to the object's owner: the proxy does not read or write object bytes."""
    owner = node.cluster_map().target_for(bck, object_name)
    if owner is None:
        raise ServiceUnavailable("no target is available to serve the request")
    location = owner.url + request.path + (f"?{request.query}" if request.query else "")
    location = signed_location(node, request, location)
    return Response(307, [("Location", location), ("Content-Type", "text/plain")], b"")


def signed_location(node: Node, request: Request, location: str) -> str:
    """A redirect's ``Location`` with the redirect marker and, with ``auth.cluster_key``, its signature
    (``strata.auth.cluster_key``): the target then knows a proxy authorized the request."""
    return node.gate.redirect_location(
        location,
        method=request.method,
        path=request.path,
        headers=request.headers,
        map_version=node.cluster_map().version,
    )


async def fan_out(
    node: Node,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    query: str = "",
    headers: dict[str, str] | None = None,
    only: NodeInfo | None = None,
    kind: CallKind = CallKind.CONTROL,
) -> dict[str, PeerResponse]:
    """The same request to every target (or ``only`` one), concurrently; answers keyed by target id.
    A target that does not answer raises ``PeerUnreachable`` (503): its data is unavailable now."""
    targets = [only] if only is not None else list(node.cluster_map().targets.values())
    return await peer_client().fan_out(
        method, targets, path, query=query, headers=headers, body=body, kind=kind
    )


async def list_objects(node: Node, request: Request, bck: BucketRef, msg: ActionMsg) -> Response:
    # 1. the bucket must exist; normalize the page request
    lsmsg: ListObjectsMsg = convert_value(msg.value, ListObjectsMsg, "list-objects message")
    props = listed_props(node, bck, list_flags(lsmsg))
    if lsmsg.pagesize < 0:
        raise InvalidRequest(f"invalid page size {lsmsg.pagesize}")
    page_size = min(lsmsg.pagesize or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    list_uuid = lsmsg.uuid or msgspec.json.encode(node.cluster_map().version).decode() + "-" + _new_id()
    if remote_of(bck, props) is not None and not list_flags(lsmsg) & FLAG_CACHED:
        return await _remote_listing(node, request, lsmsg, page_size, list_uuid)
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
        kind=CallKind.LIST,
    )
    pages: list[ListObjectsPage] = []
    for target_id, answer in answers.items():
        if answer.status != 200:
            raise ServiceUnavailable(
                f"target {target_id} failed to list: {answer.status} {answer.text[:200]}"
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
    flags = 0
    for part in pages:
        flags |= part.Flags  # any target still rebalancing makes the whole listing unstable
    return page_response(request, list_uuid, token, entries, flags)


async def _remote_listing(
    node: Node, request: Request, lsmsg: ListObjectsMsg, page_size: int, list_uuid: str
) -> Response:
    """A remote bucket's page (wave-2 contract §2.5): one target, picked by HRW over the listing's
    uuid, pages the backend and merges what it caches; when the local status is asked for (cached
    flags, local props, ``NotCached``) the other targets say which of the page's names they cache.
    The continuation token is the backend's."""
    smap = node.cluster_map()
    designated = smap.target_for_key(list_uuid)
    if designated is None:
        raise ServiceUnavailable("no target is available to list the bucket")
    asked = msgspec.structs.replace(lsmsg, pagesize=page_size, uuid=list_uuid, target=designated.id)
    [page] = await _list_on(node, request, asked, [designated])
    entries = page.Entries or []
    flags = list_flags(lsmsg)
    others = [target for target in smap.active if target.id != designated.id]
    if entries and others and needs_local_status(flags, wanted_props(lsmsg, flags)):
        names = [entry.n for entry in entries]
        cached: dict[str, ListEntry] = {}
        for part in await _list_on(node, request, msgspec.structs.replace(asked, names=names), others):
            cached.update((entry.n, entry) for entry in part.Entries or [])
        if flags & FLAG_NOT_CACHED:
            entries = [entry for entry in entries if entry.n not in cached]
        else:
            entries = [merged_entry(e, cached[e.n]) if e.n in cached else e for e in entries]
    return page_response(request, list_uuid, page.ContinuationToken, entries)


async def _list_on(
    node: Node, request: Request, lsmsg: ListObjectsMsg, targets: list[NodeInfo]
) -> list[ListObjectsPage]:
    """The same list request on ``targets``; their pages (a failed target fails the listing)."""
    body = msgspec.json.encode({"action": "list", "name": "", "value": lsmsg})
    answers = await peer_client().fan_out(
        "GET",
        targets,
        request.path,
        query=request.query,
        headers={"Accept": "application/msgpack", "Content-Type": "application/json"},
        body=body,
        kind=CallKind.LIST,
    )
    pages = []
    for target_id, answer in answers.items():
        if 400 <= answer.status < 500 or answer.status == 507:  # e.g. the backend's 404/403/424
            raise PeerRefused(answer.status, _message(answer))
        if answer.status != 200:
            raise ServiceUnavailable(
                f"target {target_id} failed to list: {answer.status} {answer.text[:200]}"
            )
        pages.append(_page_decoder.decode(answer.content))
    return pages


def _message(answer: PeerResponse) -> str:
    """The message of a peer's AIStore error JSON (its text when it sent none)."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    return str(message) if message else answer.text[:500]


def _merge(pages: list[list[ListEntry]]) -> Iterator[ListEntry]:
    last = None
    for entry in heapq.merge(*pages, key=lambda e: e.n):
        if entry.n != last:
            yield entry
            last = entry.n


def _new_id() -> str:
    return secrets.token_hex(5)


async def job_query(node: Node, request: Request, what: str) -> Response:
    """Job status and stats across targets, in the shapes the SDK reads for a cluster."""
    answers = await fan_out(
        node,
        "GET",
        request.path,
        body=request.body,
        query=request.query,
        headers={"Content-Type": "application/json"},
    )
    known = {tid: a.json() for tid, a in answers.items() if a.status == 200}
    if what == "qryxstats":
        merged: dict[str, Any] = {}
        for part in known.values():
            merged.update(part)
        if not merged:  # no target knows the job asked for
            first = next(iter(answers.values()))
            return Response(first.status, [("Content-Type", "application/json")], first.content)
        return json_response(merged)
    if what == "running_all":
        names = sorted({name for part in known.values() for name in part or []})
        return json_response(names)
    if what == "status_all":
        statuses = [status for part in known.values() for status in part or []]
        return json_response(statuses or None)
    # status: one job seen by every target that ran it
    if not known:
        sample = next(iter(answers.values()), None)
        if sample is None:
            raise ServiceUnavailable("no target is available")
        return Response(sample.status, [("Content-Type", "application/json")], sample.content)
    parts = list(known.values())
    running = any(p["end_time"] == 0 for p in parts)
    return json_response(
        {
            "uuid": parts[0]["uuid"],
            "err": next((p["err"] for p in parts if p.get("err")), ""),
            "end_time": 0 if running else max(p["end_time"] for p in parts),
            "aborted": any(p.get("aborted") for p in parts),
        }
    )


async def forward_job(node: Node, request: Request, only: NodeInfo | None = None) -> Response:
    """Start a job on every target (or ``only`` one) under one id; answer the id."""
    job_id = new_job_id()
    query = f"{request.query}&xid={job_id}" if request.query else f"xid={job_id}"
    answers = await fan_out(
        node,
        request.method,
        request.path,
        body=request.body,
        query=query,
        headers={"Content-Type": "application/json"},
        only=only,
    )
    for answer in answers.values():
        if answer.status >= 300:  # the same validation failed everywhere: pass the first answer on
            return Response(answer.status, [("Content-Type", "application/json")], answer.content)
    return Response(200, [("Content-Type", "text/plain; charset=utf-8")], job_id.encode())


REMOTE_COUNTER = "remote_counter"  # the one target (by id) that counts a remote bucket's backend listing


def new_summary(node: Node, bck: BucketRef, query: str) -> tuple[str, str]:
    """A new summary's job id, and the query that starts its part on every target: the same id on
    all, and the one target that also counts the backend's objects (so the sum counts them once)."""
    job_id = new_job_id()
    counter = node.cluster_map().target_for(bck, "")
    extra = f"xid={job_id}" + (f"&{REMOTE_COUNTER}={counter.id}" if counter is not None else "")
    return job_id, f"{query}&{extra}" if query else extra


async def forward_summary(node: Node, request: Request, bck: BucketRef) -> Response:
    """Bucket summary across targets: 202 until every target's part is done, then the sums."""
    body = msgspec.json.decode(request.body or b"{}")
    value = body.get("value") or {}
    job_id = str(value.get("uuid", ""))
    query = request.query
    if not job_id:
        job_id, query = new_summary(node, bck, query)
    else:
        body["value"]["uuid"] = job_id
    answers = await fan_out(
        node,
        "GET",
        request.path,
        body=msgspec.json.encode(body),
        query=query,
        headers={"Content-Type": "application/json"},
    )
    if any(a.status == 202 for a in answers.values()) or not value.get("uuid"):
        for answer in answers.values():
            if answer.status >= 300 and answer.status != 202:
                return Response(answer.status, [("Content-Type", "application/json")], answer.content)
        return Response(202, [("Content-Type", "text/plain")], job_id.encode())
    parts = []
    for answer in answers.values():
        if answer.status != 200:
            return Response(answer.status, [("Content-Type", "application/json")], answer.content)
        parts.append(answer.json()[0])
    return json_response([sum_summaries(parts)])


def sum_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up per-target bucket summaries (counts and sizes are strings, as AIStore writes them)."""
    total = dict(parts[0])
    count = sum(int(p["ObjCount"]["obj_count_present"]) for p in parts)
    present = sum(int(p["TotalSize"]["size_all_present_objs"]) for p in parts)
    on_disk = sum(int(p["TotalSize"]["size_on_disk"]) for p in parts)
    disks = sum(int(p["TotalSize"]["total_disks_size"]) for p in parts)
    sizes = [p["ObjSize"] for p in parts if int(p["ObjCount"]["obj_count_present"])]
    remote_count = sum(int(p["ObjCount"].get("obj_count_remote", 0)) for p in parts)  # one target's
    remote_total = sum(int(p["TotalSize"].get("size_all_remote_objs", 0)) for p in parts)
    total["ObjCount"] = {"obj_count_present": str(count), "obj_count_remote": str(remote_count)}
    total["TotalSize"] = {
        "size_on_disk": str(on_disk),
        "size_all_present_objs": str(present),
        "size_all_remote_objs": str(remote_total),
        "total_disks_size": str(disks),
    }
    total["ObjSize"] = {
        "obj_min_size": min((s["obj_min_size"] for s in sizes), default=0),
        "obj_avg_size": present // count if count else 0,
        "obj_max_size": max((s["obj_max_size"] for s in sizes), default=0),
    }
    total["used_pct"] = round(100 * on_disk / disks) if disks else 0
    return total
