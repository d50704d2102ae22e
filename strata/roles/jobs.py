"""Job control over the AIS API: status, qryxstats, running_all, status_all; start and stop.

Embedded mode answers for its one target; the shapes are the cluster's (``{target-id: [snaps]}``)
so the SDK's ``job.wait()``, ``wait_for_idle()`` and ``get_details()`` work unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from strata.core.errors import InvalidRequest, NotFound, StrataError
from strata.core.names import BucketRef
from strata.core.wire import ActionMsg
from strata.jobs import bucket_ops, maintenance
from strata.jobs.bucket_ops import Selection
from strata.jobs.kinds import known_kind, startable_kind
from strata.jobs.registry import Job, JobRecord
from strata.jobs.snapshots import JobArgs, decode_job_args, job_snap, job_status
from strata.objects.remote import remote_of
from strata.roles.bucket_jobs import owned_here
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import json_response, text_response

# xact.QueryMsg's JSON tags (what list_jobs_status/list_running_jobs send) and xact.ArgsMsg's Go field
# names (what job.start/status/wait send), lowercased, to our JobArgs fields
_ARG_KEYS = {
    "id": "ID",
    "kind": "Kind",
    "daemonid": "DaemonID",
    "node": "DaemonID",
    "bck": "Bck",
    "buckets": "Buckets",
    "onlyrunning": "OnlyRunning",
    "show_active": "OnlyRunning",
}


def job_args(value: Any) -> JobArgs:
    """Which job(s) a request is about, in either spelling AIStore accepts.

    The SDK's ``JobArgs`` uses Go field names (``{"ID", "Kind", "DaemonID", "Bck"}``) but its
    ``JobQuery`` uses JSON tags (``{"kind", "node", "show_active"}``); AIStore's decoder matches keys
    case-insensitively, so both name the same filter. A key we do not know is ignored, as there.
    """
    if isinstance(value, dict):
        value = {_ARG_KEYS.get(str(key).lower(), key): item for key, item in value.items()}
    return decode_job_args(value)


def query_args(request: Request) -> JobArgs:
    """The job query in a GET body (bare, or as an ActMsg's value); its kind checked (400 if unknown).

    A proxy calls this before asking its targets, so a bad query is refused once, at the gateway.
    """
    if not request.body.strip():
        return JobArgs()
    try:
        value = msgspec.json.decode(request.body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"invalid job query: {exc}") from None
    if isinstance(value, dict) and "action" in value and "value" in value:
        value = value["value"]
    args = job_args(value)
    if args.Kind:
        known_kind(args.Kind)
    return args


def _matching(node: Node, args: JobArgs, *, running_only: bool = False) -> list[JobRecord]:
    if args.DaemonID and args.DaemonID != node.node_id:
        return []  # the query is about another node's jobs
    return node.jobs.find(
        job_id=args.ID,
        kind=known_kind(args.Kind).name if args.Kind else "",
        bck=args.bucket(),
        running_only=running_only or args.OnlyRunning,
    )


def _not_found(args: JobArgs) -> NotFound:
    what = f'job "{args.ID}"' if args.ID else f'no "{args.Kind or "any"}" job'
    return NotFound(f"{what} not found on this node")


def answer_query(node: Node, request: Request, what: str) -> Response:
    """``GET /v1/cluster?what=running_all|status_all|status|qryxstats`` about this node's jobs."""
    return _QUERIES[what](node, request)


def job_status_response(node: Node, request: Request) -> Response:
    args = query_args(request)
    records = _matching(node, args)
    if not records:
        raise _not_found(args)
    return json_response(job_status(records[-1]))


def query_stats_response(node: Node, request: Request) -> Response:
    args = query_args(request)
    records = _matching(node, args)
    if not records and args.ID:
        raise _not_found(args)
    return json_response({node.node_id: [job_snap(r) for r in records]})


def running_all_response(node: Node, request: Request) -> Response:
    args = query_args(request)
    return json_response([f"{r.kind}[{r.id}]" for r in _matching(node, args, running_only=True)])


def status_all_response(node: Node, request: Request) -> Response:
    args = query_args(request)
    records = _matching(node, args)
    return json_response([job_status(r) for r in records] or None)


def start_job(node: Node, msg: ActionMsg, job_id: str = "", *, force: bool = False) -> Response:
    """``PUT /v1/cluster {"action": "start", "value": JobArgs}`` for the kinds started by name.

    The kinds table decides what may be started (400 otherwise) and what is built (501 otherwise).
    ``force`` (``?frc=true``): lru evicts from the buckets named even where ``lru.enabled`` is off.
    """
    args = job_args(msg.value)
    kind = startable_kind(args.Kind)
    bck = args.bucket()
    if bck is not None:
        node.bucket_props(bck)
    if kind.name == "lru":
        return text_response(node.lru.start(_named_buckets(node, args), force=force, job_id=job_id))
    buckets = [bck] if bck is not None else node.meta.bmd().refs()
    work = _work(node, kind.name, buckets)
    job = node.runner.create(kind.name, bck=bck, job_id=job_id)
    node.runner.start(job, work)
    return text_response(job.id)


def _work(node: Node, kind: str, buckets: list[BucketRef]) -> Callable[[Job], None]:
    """What a job started by name does; every startable kind the table marks built has an entry."""
    if kind == "resilver":
        return lambda job: maintenance.resilver(job, node.objects, buckets)
    if kind == "cleanup-store":
        stale_after = node.meta.config().space.dont_cleanup_time
        return lambda job: maintenance.cleanup_store(job, node.objects, buckets, stale_after)
    if kind == "prefetch-listrange":  # by name: every object of the one remote bucket named
        props = node.bucket_props(buckets[0]) if len(buckets) == 1 else None
        if props is None or remote_of(buckets[0], props) is None:
            raise InvalidRequest("prefetch needs one remote bucket (s3://, gs://, az://, or a backend_bck)")
        bck, whole = buckets[0], Selection(template="")
        owned = owned_here(node, bck)
        return lambda job: bucket_ops.prefetch_objects(
            job, node.objects, bck, props, whole, continue_on_error=True, owned=owned
        )
    if kind == "blob-download":  # it needs an object: the SDK's Object.blob_download() sends one
        raise InvalidRequest(
            "a blob download is started with POST /v1/objects/BUCKET"
            ' {"action": "blob-download", "name": OBJECT}'
        )
    if kind == "rebalance":  # one node is the whole cluster: nothing to move
        return _nothing_to_do
    raise StrataError(f'the kinds table marks "{kind}" as built, but nothing starts it by name')


def _nothing_to_do(job: Job) -> None:
    return None


def _named_buckets(node: Node, args: JobArgs) -> list[BucketRef] | None:
    """The buckets a start names (``Bck``, or ``Buckets`` as the SDK sends several); None: all of them.
    Each must exist (404 otherwise)."""
    bck = args.bucket()
    if bck is not None:
        return [bck]
    if not args.Buckets:
        return None
    named = [decode_job_args({"Bck": model}).bucket() for model in args.Buckets]
    found = [bck for bck in named if bck is not None]
    for bck in found:
        node.bucket_props(bck)
    return found or None


def stop_jobs(node: Node, msg: ActionMsg) -> Response:
    """Abort a job by id, or every running job of a kind (and bucket)."""
    args = job_args(msg.value)
    if args.ID:
        if node.role.in_cluster and node.jobs.load(args.ID) is None:
            return json_response(None)  # a cluster job may have no part on this target
        node.jobs.request_abort(args.ID)
        return json_response(None)
    if not args.Kind and args.bucket() is None:
        raise InvalidRequest("stop needs a job id, a kind or a bucket")
    for record in _matching(node, args, running_only=True):
        node.jobs.request_abort(record.id)
    return json_response(None)


_QUERIES = {
    "running_all": running_all_response,
    "status_all": status_all_response,
    "status": job_status_response,
    "qryxstats": query_stats_response,
}
JOB_QUERIES = frozenset(_QUERIES)
