"""Job control over the AIS API: status, qryxstats, running_all, status_all; start and stop.

Embedded mode answers for its one target; the shapes are the cluster's (``{target-id: [snaps]}``)
so the SDK's ``job.wait()``, ``wait_for_idle()`` and ``get_details()`` work unchanged.
"""

from __future__ import annotations

import msgspec

from strata.api.node import Node
from strata.api.responses import json_response, text_response
from strata.core.errors import InvalidRequest, NotFound
from strata.core.wire import ActionMsg
from strata.jobs import maintenance
from strata.jobs.kinds import job_kind
from strata.jobs.registry import Job, JobRecord
from strata.jobs.snapshots import JobArgs, decode_job_args, job_snap, job_status
from strata.server.http import Request, Response


def _query_args(request: Request) -> JobArgs:
    if not request.body.strip():
        return JobArgs()
    try:
        value = msgspec.json.decode(request.body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"invalid job query: {exc}") from None
    if isinstance(value, dict) and "action" in value and "value" in value:
        value = value["value"]
    return decode_job_args(value)


def _kind_name(kind: str) -> str:
    if not kind:
        return ""
    found = job_kind(kind)
    if found is None:
        raise InvalidRequest(f'unknown job kind "{kind}"')
    return found.name


def _matching(node: Node, args: JobArgs, *, running_only: bool = False) -> list[JobRecord]:
    return node.jobs.find(
        job_id=args.ID,
        kind=_kind_name(args.Kind),
        bck=args.bucket(),
        running_only=running_only or args.OnlyRunning,
    )


def _not_found(args: JobArgs) -> NotFound:
    what = f'job "{args.ID}"' if args.ID else f'no "{args.Kind or "any"}" job'
    return NotFound(f"{what} not found on this node")


def job_status_response(node: Node, request: Request) -> Response:
    args = _query_args(request)
    records = _matching(node, args)
    if not records:
        raise _not_found(args)
    return json_response(job_status(records[-1]))


def query_stats_response(node: Node, request: Request) -> Response:
    args = _query_args(request)
    records = _matching(node, args)
    if not records and args.ID:
        raise _not_found(args)
    return json_response({node.node_id: [job_snap(r) for r in records]})


def running_all_response(node: Node, request: Request) -> Response:
    args = _query_args(request)
    return json_response([f"{r.kind}[{r.id}]" for r in _matching(node, args, running_only=True)])


def status_all_response(node: Node, request: Request) -> Response:
    args = _query_args(request)
    records = _matching(node, args)
    return json_response([job_status(r) for r in records] or None)


def start_job(node: Node, msg: ActionMsg) -> Response:
    """``PUT /v1/cluster {"action": "start", "value": JobArgs}`` for the kinds started by name."""
    args = decode_job_args(msg.value)
    kind = job_kind(args.Kind)
    if kind is None:
        raise InvalidRequest(f'unknown job kind "{args.Kind}"')
    if not kind.startable:
        raise InvalidRequest(f'job "{kind.name}" is not started this way (see the bucket and object APIs)')
    bck = args.bucket()
    buckets = [bck] if bck is not None else node.meta.bmd().refs()
    if bck is not None:
        node.bucket_props(bck)
    job = node.runner.create(kind.name, bck=bck)
    if kind.name == "resilver":
        node.runner.start(job, lambda j: maintenance.resilver(j, node.mountpaths, buckets))
    elif kind.name == "cleanup-store":
        node.runner.start(job, lambda j: maintenance.cleanup_store(j, node.mountpaths, buckets))
    elif kind.name in ("rebalance", "lru"):
        # one node is the whole cluster: nothing to move; ais buckets are never evicted
        node.runner.start(job, _nothing_to_do)
    else:
        job.finish(error=f'starting "{kind.name}" by name is not implemented yet')
        raise InvalidRequest(f'starting "{kind.name}" by name is not implemented yet')
    return text_response(job.id)


def _nothing_to_do(job: Job) -> None:
    return None


def stop_jobs(node: Node, msg: ActionMsg) -> Response:
    """Abort a job by id, or every running job of a kind (and bucket)."""
    args = decode_job_args(msg.value)
    if args.ID:
        if node.cluster is not None and node.jobs.load(args.ID) is None:
            return json_response(None)  # a cluster job may have no part on this target
        node.jobs.request_abort(args.ID)
        return json_response(None)
    if not args.Kind and args.bucket() is None:
        raise InvalidRequest("stop needs a job id, a kind or a bucket")
    for record in _matching(node, args, running_only=True):
        node.jobs.request_abort(record.id)
    return json_response(None)
