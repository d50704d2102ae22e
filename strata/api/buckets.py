"""Bucket requests: ``/v1/buckets[/<bucket>]`` -- list, create, destroy, HEAD, props, list objects."""

from __future__ import annotations

from collections.abc import Awaitable

from strata.config.access import (
    ACCESS_HEAD_BUCKET,
    ACCESS_PATCH,
)
from strata.config.bucket_props import (
    reset_bucket_props,
    update_bucket_props,
)
from strata.core.errors import InvalidRequest, ServiceUnavailable
from strata.core.names import BucketRef, validate_object_name
from strata.core.query import Query
from strata.core.wire import (
    BucketName,
    Namespace,
    decode_action,
)
from strata.jobs.kinds import refuse_unbuilt_action
from strata.roles import bucket_jobs, listing, proxy
from strata.roles import buckets as roles_buckets
from strata.roles.batch import get_batch
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import empty_response, json_response

_REMOTE_ONLY = {
    "POST": ("prefetch-listrange", "prefetch-objects"),
    "DELETE": ("evict-listrange", "evict-objects", "evict-remote-bck"),
}


def list_buckets(node: Node, request: Request, query: Query) -> Response:
    provider = query.get("provider")
    bmd = node.meta.bmd()
    out = []
    for bck in bmd.refs():
        if provider and BucketRef.parse(bck.name, provider).provider != bck.provider:
            continue
        out.append(BucketName(bck.name, bck.provider, Namespace(bck.ns_uuid, bck.ns_name)))
    return json_response(out)


def head_bucket(
    node: Node, request: Request, bck: BucketRef, query: Query, prefix: str = ""
) -> Response | Awaitable[Response]:
    if "presence" in query or "bsumm_remote" in query or "uuid" in query:
        if node.is_proxy:  # the objects are on the targets: each counts its own, the proxy adds up
            return bucket_jobs.cluster_info(node, request, bck)
        return bucket_jobs.info(node, bck, query, prefix)
    node.bucket_props(bck, ACCESS_HEAD_BUCKET)
    return Response(200, [("Ais-Bucket-Props", node.meta.bmd().props_header(bck))], content_length=0)


def patch_bucket(node: Node, request: Request, bck: BucketRef) -> Response:
    msg = decode_action(request.body)
    node.bucket_props(bck, ACCESS_PATCH)
    config = node.meta.config()
    if msg.action == "set-bprops":
        if not isinstance(msg.value, dict):
            raise InvalidRequest("set-bprops value must be a JSON object of (partial) bucket props")
        value = msg.value
        node.meta.update_bmd(
            lambda bmd: bmd.with_bucket(bck, update_bucket_props(bmd.require(bck), value), replace=True)
        )
    elif msg.action == "reset-bprops":
        node.meta.update_bmd(
            lambda bmd: bmd.with_bucket(bck, reset_bucket_props(bmd.require(bck), config), replace=True)
        )
    else:
        raise InvalidRequest(f'invalid action "{msg.action}" for PATCH on a bucket')
    return empty_response()


def bucket_action(
    node: Node, request: Request, bck: BucketRef, query: Query
) -> Response | Awaitable[Response]:
    """POST/PUT/DELETE with an ActMsg on a bucket."""
    required = request.method != "DELETE"
    msg = decode_action(request.body, required=required)
    action = msg.action or ("destroy-bck" if request.method == "DELETE" else "")
    method = request.method
    if method == "POST":
        if action == "create-bck":
            return roles_buckets.create_bucket(node, bck, msg)
        if action in ("copy-bck", "copy-bucket"):
            return bucket_jobs.copy_bucket(node, bck, query, msg)
        if action in ("move-bck", "rename-bucket"):
            return bucket_jobs.move_bucket(node, bck, query)
        if action in ("copy-listrange", "copy-objects"):
            return bucket_jobs.copy_objects(node, bck, msg)
        if action in _REMOTE_ONLY["POST"]:
            return bucket_jobs.remote_only(node, bck, action)
        if action == "getbatch":
            return get_batch(node, request, bck.name, query, msg.value if msg.value is not None else {})
    elif method == "PUT":
        if action in ("archive", "arch-multiobj"):
            return bucket_jobs.archive(node, bck, msg)
    elif method == "DELETE":
        if action == "destroy-bck":
            return roles_buckets.destroy_bucket(node, bck)
        if action in ("delete-listrange", "delete-objects"):
            return bucket_jobs.delete_objects(node, bck, msg)
        if action in _REMOTE_ONLY["DELETE"]:
            return bucket_jobs.remote_only(node, bck, action)
    return _unserved_action(node, bck, action, method)


def _unserved_action(node: Node, bck: BucketRef, action: str, method: str) -> Response:
    """An action this node does not run with this method: 404 for a missing bucket first, then the
    kinds table (501 for an AIStore job kind Strata has not built), else 400."""
    node.bucket_props(bck)
    refuse_unbuilt_action(action)
    raise InvalidRequest(f'invalid action "{action}" for {method} on a bucket')


async def _cluster_move(node: Node, request: Request, bck: BucketRef, query: Query) -> Response:
    """Rename a bucket across the cluster: BMD first, then every target moves its data."""
    bucket_jobs.start_cluster_move(node, bck, query)
    answer = await proxy.forward_job(node, request)
    if answer.status == 200:
        node.meta.update_bmd(lambda bmd: bmd.without_bucket(bck))
    return answer


def _flag_true(raw: object) -> bool:
    return raw is True or (isinstance(raw, str) and raw.lower() == "true")


def cluster_bucket_action(
    node: Node, request: Request, bck: BucketRef, query: Query
) -> Response | Awaitable[Response]:
    """On a proxy, bucket actions that only change metadata; jobs are not run across targets yet."""
    msg = decode_action(request.body, required=request.method != "DELETE")
    action = msg.action or ("destroy-bck" if request.method == "DELETE" else "")
    if request.method == "POST" and action == "create-bck":
        return roles_buckets.create_bucket(node, bck, msg)
    if request.method == "DELETE" and action == "destroy-bck":
        return roles_buckets.destroy_bucket(node, bck)
    if request.method == "POST" and action == "getbatch":  # validated here, assembled by a target
        return get_batch(node, request, bck.name, query, msg.value if msg.value is not None else {})
    node.bucket_props(bck)
    if request.method == "DELETE" and action in ("delete-listrange", "delete-objects"):
        return proxy.forward_job(node, request)  # each target deletes what it holds
    if request.method == "POST" and action in ("copy-bck", "copy-bucket", "copy-listrange", "copy-objects"):
        # each target copies what it holds, sending every copy to its destination owner
        value = msg.value if isinstance(msg.value, dict) else {}
        if action.startswith("copy-b"):
            dst = bucket_jobs.parse_bucket_uname(query.get("bck_to"), "destination bucket (bck_to)")
        else:
            dst = bucket_jobs.bucket_from_model(value.get("tobck"), "tobck")
        if not _flag_true(value.get("dry_run")):
            bucket_jobs.ensure_destination(node, dst, node.bucket_props(bck))
        return proxy.forward_job(node, request)
    if request.method == "POST" and action in ("move-bck", "rename-bucket"):
        return _cluster_move(node, request, bck, query)
    if request.method == "PUT" and action in ("archive", "arch-multiobj"):
        # the shard is written by the target that owns its name; it gathers the members
        value = msg.value if isinstance(msg.value, dict) else {}
        dst = bucket_jobs.bucket_from_model(value["tobck"], "tobck") if value.get("tobck") else bck
        archname = validate_object_name(str(value.get("archname", "")))
        bucket_jobs.ensure_destination(node, dst, node.bucket_props(bck))
        owner = node.cluster_map().target_for(dst, archname)
        if owner is None:
            raise ServiceUnavailable("no target is available to write the archive")
        return proxy.forward_job(node, request, only=owner)
    if action in _REMOTE_ONLY.get(request.method, ()):
        return bucket_jobs.remote_only(node, bck, action)
    return _unserved_action(node, bck, action, request.method)


def get_bucket(node: Node, request: Request, bck: BucketRef, query: Query) -> Response | Awaitable[Response]:
    msg = decode_action(request.body)
    if msg.action == "list":
        if node.is_proxy:
            return proxy.list_objects(node, request, bck, msg)
        return listing.list_objects(node, request, bck, msg)
    if msg.action in ("summary-bck", "summary"):
        if node.is_proxy:
            node.bucket_props(bck)
            return proxy.forward_summary(node, request)
        return bucket_jobs.summary(node, bck, msg)
    return _unserved_action(node, bck, msg.action, "GET")
