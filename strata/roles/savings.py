"""The savings report: ``GET /v1/daemon?what=savings`` and ``GET /v1/cluster?what=savings``.

Every node answers both. ``daemon`` is this node's own ledger (``node.objects.ledger``: per bucket the
exact original bytes, stored bytes and objects, changed in the same step as each object); ``cluster``
is the whole cluster's -- a gateway asks every target's ``daemon`` through the one peer client and
adds up per bucket, an embedded node answers its own. The shape::

    {"buckets": [{"bucket": "ais://b", "original_bytes", "stored_bytes", "saved_bytes", "objects",
                  "ratio", "saved_ratio"}],
     "total": {the same fields, without "bucket"}}

``ratio`` is original / stored (1.0 for an empty bucket), ``saved_bytes`` is ``max(0, original -
stored)``, ``saved_ratio`` saved / original. Query: ``bck=NAME[&provider=ais]`` narrows to one bucket
(404 when it does not exist); ``verify=true`` also recounts every object on disk (off the event loop)
and adds ``"verified"``, ``"corrupted"`` (compressed objects whose frames fail to decode: bit rot) and
``"differences"``: ``[{"bucket", "ledger": {...}, "recount": {...}}]`` (with
``"node"`` in a cluster: a difference is one target's, and two targets' errors must not cancel out).
A bucket whose ledger moved while the disks were walked cannot be judged either way: it is listed
under ``"unsettled"`` (``[{"bucket"[, "node"]}]``) and the answer is not ``verified``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

from strata.cluster.peers import CallKind
from strata.core.errors import Conflict, InvalidRequest, ServiceUnavailable
from strata.core.names import BucketRef
from strata.core.query import Query
from strata.roles import proxy
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import json_response
from strata.storage.ledger import LEDGER_ENV, Footprint, recount

FIELDS = ("original_bytes", "stored_bytes", "objects")
Counts = tuple[int, int, int]  # original bytes, stored bytes, objects
_BOOLEANS = {"": False, "false": False, "0": False, "no": False, "true": True, "1": True, "yes": True}


def entry(original: int, stored: int, objects: int) -> dict[str, Any]:
    """One row of the report (a bucket's, or the total): the counts and what follows from them."""
    saved = max(0, original - stored)
    return {
        "original_bytes": original,
        "stored_bytes": stored,
        "saved_bytes": saved,
        "objects": objects,
        "ratio": round(original / stored, 6) if stored else 1.0,
        "saved_ratio": round(saved / original, 6) if original else 0.0,
    }


def report(counts: Mapping[str, Counts]) -> dict[str, Any]:
    """``{"buckets": [...], "total": {...}}`` from per-bucket counts, buckets in name order."""
    buckets = [{"bucket": bucket, **entry(*counts[bucket])} for bucket in sorted(counts)]
    totals = tuple(sum(values[i] for values in counts.values()) for i in range(3))
    return {"buckets": buckets, "total": entry(*totals)}


def counts_of(footprint: Footprint) -> Counts:
    return footprint.original_bytes, footprint.stored_bytes, footprint.objects


def _as_dict(counts: Counts) -> dict[str, int]:
    return dict(zip(FIELDS, counts, strict=True))


def wanted_bucket(node: Node, query: Query) -> str | None:
    """The bucket the query narrows to (``ais://b``), after checking it exists; None for all buckets."""
    name = query.get("bck")
    if not name:
        return None
    bck = BucketRef.parse(name, query.get("provider"), query.get("namespace"))
    node.bucket_props(bck)  # 404 when there is no such bucket
    return bck.uri


def verify_wanted(query: Query) -> bool:
    text = query.get("verify").lower()
    if text not in _BOOLEANS:
        raise InvalidRequest(f'invalid verify="{query.get("verify")}" (true or false)')
    return _BOOLEANS[text]


def _ledger(node: Node, only: str | None) -> dict[str, Counts]:
    if not node.role.stores_objects:
        return {}  # a gateway stores nothing: its own ledger is empty by definition
    ledger = node.objects.ledger
    if ledger is None:
        raise Conflict(
            f"the savings ledger is off on node {node.node_id} ({LEDGER_ENV}=0, or no room for it when "
            "the node started: see its log)"
        )
    totals = ledger.totals()
    return {bucket: counts_of(fp) for bucket, fp in totals.items() if only is None or bucket == only}


def local(node: Node, query: Query) -> Response | Awaitable[Response]:
    """``/v1/daemon?what=savings``: this node's ledger (and, asked to verify, its recount)."""
    only = wanted_bucket(node, query)
    if not verify_wanted(query):
        counts = _ledger(node, only)
        if only is not None:
            counts.setdefault(only, (0, 0, 0))
        return json_response(report(counts))
    return _verified(node, only)


async def _verified(node: Node, only: str | None) -> Response:
    body = await asyncio.get_running_loop().run_in_executor(None, verify, node, only)
    return json_response(body)


def verify(node: Node, only: str | None) -> dict[str, Any]:
    """The ledger beside a full recount of the disks (a blocking walk: run it on a thread)."""
    before = _ledger(node, only)
    found = recount(node.objects.store) if node.role.stores_objects else {}
    counted = {bucket: counts_of(fp) for bucket, fp in found.items() if only is None or bucket == only}
    after = _ledger(node, only)
    differences: list[dict[str, Any]] = []
    unsettled: list[dict[str, str]] = []
    empty = (0, 0, 0)
    for bucket in sorted(set(before) | set(after) | set(counted) | ({only} if only else set())):
        if before.get(bucket, empty) != after.get(bucket, empty):
            # written to during the walk: the recount may be half old, half new
            unsettled.append({"bucket": bucket})
            continue
        ledger, recounted = after.get(bucket, empty), counted.get(bucket, empty)
        if ledger != recounted:
            differences.append({"bucket": bucket, "ledger": _as_dict(ledger), "recount": _as_dict(recounted)})
    corrupted = [
        {"bucket": bck.uri, "object": name, "error": error}
        for bck in node.meta.bmd().refs()
        if bck.uri in counted
        for name, error in node.objects.undecodable(bck)
    ]
    counts = dict(after)
    if only is not None:
        counts.setdefault(only, empty)
    body = report(counts)
    body["verified"] = not differences and not unsettled and not corrupted
    body["differences"] = differences
    body["unsettled"] = unsettled
    body["corrupted"] = corrupted
    return body


async def from_targets(node: Node, request: Request, query: Query) -> Response:
    """``/v1/cluster?what=savings`` in a cluster: every target's ledger, added up per bucket."""
    wanted_bucket(node, query)  # a missing bucket is a 404 from the gateway, before any target
    verifying = verify_wanted(query)
    answers = await proxy.fan_out(
        node,
        "GET",
        "/v1/daemon",
        query=request.query,
        headers={"Accept": "application/json"},
        kind=CallKind.LIST if verifying else CallKind.CONTROL,  # a recount walks the disks: list timeouts
    )
    sums: dict[str, list[int]] = {}
    differences: list[dict[str, Any]] = []
    unsettled: list[dict[str, str]] = []
    corrupted: list[dict[str, str]] = []
    verified = True
    for target_id, answer in sorted(answers.items()):
        if answer.status != 200:  # a target refused (the same 4xx everywhere) or failed: pass it on
            return Response(answer.status, [("Content-Type", "application/json")], answer.content)
        part = answer.json()
        if not isinstance(part, dict) or not isinstance(part.get("buckets"), list):
            raise ServiceUnavailable(f"target {target_id} sent a savings report without buckets")
        for row in part["buckets"]:
            total = sums.setdefault(str(row["bucket"]), [0, 0, 0])
            for i, name in enumerate(FIELDS):
                total[i] += int(row[name])
        if verifying:
            verified = verified and bool(part.get("verified"))
            differences += [{**difference, "node": target_id} for difference in part.get("differences", [])]
            unsettled += [{**bucket, "node": target_id} for bucket in part.get("unsettled", [])]
            corrupted += [{**item, "node": target_id} for item in part.get("corrupted", [])]
    body = report({bucket: (values[0], values[1], values[2]) for bucket, values in sums.items()})
    if verifying:
        body["verified"] = verified and not differences and not unsettled and not corrupted
        body["differences"] = differences
        body["unsettled"] = unsettled
        body["corrupted"] = corrupted
    return json_response(body)
