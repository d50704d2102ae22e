"""The one table of bucket actions: what ``POST/PUT/DELETE /v1/buckets/B {"action": ...}`` runs.

Each row names an action, the HTTP method AIStore sends it with, and two handlers: ``local`` (a node
that stores objects runs the work itself: embedded, or a target told by its proxy) and ``cluster`` (a
proxy: it validates, changes metadata, and hands the work to the targets). The names a client may use
come from the job kinds table (``strata.jobs.kinds``: ``copy-objects`` is ``copy-listrange``), plus
the few actions that are not jobs (``create-bck``, ``destroy-bck``, ``getbatch``). An action that is
not in this table is decided by the kinds table too: 501 for an AIStore kind Strata has not built, 400
for anything else -- see ``unserved``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from strata.core.errors import InvalidRequest, ServiceUnavailable
from strata.core.names import BucketRef, validate_object_name
from strata.core.query import Query
from strata.core.wire import ActionMsg
from strata.jobs.kinds import job_kind, refuse_unbuilt_action
from strata.objects.remote import is_remote_ais
from strata.roles import batch, bucket_jobs, buckets, proxy, remote_clusters
from strata.roles.node import Node
from strata.server.http import Request, Response

Answer = Response | Awaitable[Response]
Handler = Callable[[Node, Request, BucketRef, Query, ActionMsg], Answer]


@dataclass(frozen=True)
class BucketAction:
    name: str
    method: str
    local: Handler
    cluster: Handler
    extra_names: tuple[str, ...] = ()  # spellings the kinds table does not list (not every action is a job)


def _value(msg: ActionMsg) -> dict[str, object]:
    return msg.value if isinstance(msg.value, dict) else {}


def _flag_true(raw: object) -> bool:
    return raw is True or (isinstance(raw, str) and raw.lower() == "true")


# -- the handlers: local (embedded, target) -------------------------------------------------------


def _create(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    if is_remote_ais(bck):  # ais://@x/b: the remote cluster makes it
        return remote_clusters.forward_bucket_action(node, request, bck, msg)
    return buckets.create_bucket(node, bck, msg)


def _destroy(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    if is_remote_ais(bck):
        return remote_clusters.forward_bucket_action(node, request, bck, msg)
    return buckets.destroy_bucket(node, bck)


def _evict_remote(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return buckets.evict_remote_bucket(node, bck, query.flag("keep_bck_md"))


def _getbatch(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return batch.get_batch(node, request, bck.name, query, msg.value if msg.value is not None else {})


def _copy_bucket(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return bucket_jobs.copy_bucket(node, bck, query, msg)


def _move_bucket(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return bucket_jobs.move_bucket(node, bck, query)


def _copy_objects(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return bucket_jobs.copy_objects(node, bck, query, msg)


def _delete_objects(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return bucket_jobs.delete_objects(node, bck, query, msg)


def _prefetch_objects(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return bucket_jobs.prefetch_objects(node, bck, query, msg)


def _evict_objects(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return bucket_jobs.evict_objects(node, bck, query, msg)


def _archive(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    return bucket_jobs.archive(node, bck, query, msg)


# -- the handlers: cluster (a proxy) ------------------------------------------------------------------


def _each_target(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    """Every target does its part of the job under one id (deletes: what each holds)."""
    node.bucket_props(bck)
    return proxy.forward_job(node, request)


def _cluster_copy(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    """Each target copies what it holds, sending every copy to its destination's owner."""
    props = node.bucket_props(bck)
    value = _value(msg)
    if msg.action in ("copy-bck", "copy-bucket"):
        dst = bucket_jobs.parse_bucket_uname(query.get("bck_to"), "destination bucket (bck_to)")
    else:
        dst = bucket_jobs.bucket_from_model(value.get("tobck"), "tobck")
    if not _flag_true(value.get("dry_run")):
        bucket_jobs.ensure_destination(node, dst, props)
    return proxy.forward_job(node, request)


async def _cluster_move(
    node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg
) -> Response:
    """Rename a bucket across the cluster: BMD first, then every target moves its data."""
    node.bucket_props(bck)
    bucket_jobs.start_cluster_move(node, bck, query)
    answer = await proxy.forward_job(node, request)
    if answer.status == 200:
        node.meta.update_bmd(lambda bmd: bmd.without_bucket(bck))
    return answer


def _cluster_archive(node: Node, request: Request, bck: BucketRef, query: Query, msg: ActionMsg) -> Answer:
    """The shard is written by the target that owns its name; that target gathers the members."""
    props = node.bucket_props(bck)
    value = _value(msg)
    dst = bucket_jobs.bucket_from_model(value["tobck"], "tobck") if value.get("tobck") else bck
    archname = validate_object_name(str(value.get("archname", "")))
    bucket_jobs.ensure_destination(node, dst, props)
    owner = node.cluster_map().target_for(dst, archname)
    if owner is None:
        raise ServiceUnavailable("no target is available to write the archive")
    return proxy.forward_job(node, request, only=owner)


ACTIONS: tuple[BucketAction, ...] = (
    # bucket metadata: the same on every role (a target's data follows the BMD it watches)
    BucketAction("create-bck", "POST", _create, _create),
    BucketAction("destroy-bck", "DELETE", _destroy, _destroy),
    # GetBatch: a proxy validates and redirects to a designated target (see roles.batch)
    BucketAction("getbatch", "POST", _getbatch, _getbatch),
    # jobs (names and aliases from the kinds table)
    BucketAction("copy-bck", "POST", _copy_bucket, _cluster_copy),
    BucketAction("move-bck", "POST", _move_bucket, _cluster_move),
    BucketAction("copy-listrange", "POST", _copy_objects, _cluster_copy),
    BucketAction("delete-listrange", "DELETE", _delete_objects, _each_target),
    BucketAction("archive", "PUT", _archive, _cluster_archive, extra_names=("arch-multiobj",)),
    # remote-bucket jobs: answered for ais buckets with a clear 400 (they have no backend)
    BucketAction("prefetch-listrange", "POST", _prefetch_objects, _each_target),
    BucketAction("evict-listrange", "DELETE", _evict_objects, _each_target),
    BucketAction("evict-remote-bck", "DELETE", _evict_remote, _evict_remote),
)


def _index() -> dict[tuple[str, str], BucketAction]:
    table: dict[tuple[str, str], BucketAction] = {}
    for action in ACTIONS:
        kind = job_kind(action.name)
        names = (action.name, *(kind.aliases if kind is not None else ()), *action.extra_names)
        for name in names:
            table[(action.method, name)] = action
    return table


_BY_METHOD_AND_NAME = _index()


def find(method: str, name: str) -> BucketAction | None:
    return _BY_METHOD_AND_NAME.get((method, name))


def unserved(node: Node, bck: BucketRef, action: str, method: str) -> Response:
    """An action no row serves with this method: 404 for a missing bucket first, then the kinds
    table (501 for an AIStore job kind Strata has not built), else 400."""
    node.bucket_props(bck)
    refuse_unbuilt_action(action)
    raise InvalidRequest(f'invalid action "{action}" for {method} on a bucket')
