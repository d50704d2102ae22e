"""Bucket requests: ``/v1/buckets[/<bucket>]`` -- list, create, destroy, HEAD, props, list objects."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from strata.config.access import (
    ACCESS_HEAD_BUCKET,
    ACCESS_PATCH,
)
from strata.config.bucket_props import (
    BucketProps,
    bucket_props_to_json,
    reset_bucket_props,
    update_bucket_props,
)
from strata.core.errors import InvalidRequest
from strata.core.names import BucketRef, normalize_provider
from strata.core.query import Query
from strata.core.wire import (
    ActionMsg,
    BucketName,
    Namespace,
    decode_action,
)
from strata.objects.remote import (
    CLOUD_PROVIDERS,
    PRESENT_ONLY,
    is_remote,
    off_loop_backend,
    remote_cluster_buckets,
    remote_of,
)
from strata.objects.remote import backend as remote_backend
from strata.roles import actions
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import empty_response, json_response

_REMOTE_ONLY = {
    "POST": ("prefetch-listrange", "prefetch-objects"),
    "DELETE": ("evict-listrange", "evict-objects", "evict-remote-bck"),
}


def list_buckets(node: Node, request: Request, query: Query) -> Response | Awaitable[Response]:
    provider = query.get("provider")
    bmd = node.meta.bmd()
    out = []
    for bck in bmd.refs():
        if provider and BucketRef.parse(bck.name, provider).provider != bck.provider:
            continue
        out.append(BucketName(bck.name, bck.provider, Namespace(bck.ns_uuid, bck.ns_name)))
    cloud = normalize_provider(provider) if provider else ""
    present_only = query.get("presence") in PRESENT_ONLY
    if cloud in CLOUD_PROVIDERS and not present_only:
        return _with_remote_buckets(cloud, out)  # every bucket the backend has, in the BMD or not
    namespace = query.get("namespace")
    if cloud in ("", "ais") and namespace.startswith("@") and not present_only:
        return _remote_cluster_buckets(namespace)  # ais://@alias: what the remote cluster has
    return json_response(out)


async def _remote_cluster_buckets(namespace: str) -> Response:
    found = await off_loop_backend(lambda: remote_cluster_buckets(namespace))
    return json_response([BucketName(b.name, b.provider, Namespace(b.ns_uuid, b.ns_name)) for b in found])


async def _with_remote_buckets(provider: str, present: list[BucketName]) -> Response:
    names = await off_loop_backend(lambda: remote_backend(BucketRef.parse("x", provider)).list_buckets())
    known = {bucket.name for bucket in present}
    present += [BucketName(name, provider, Namespace("", "")) for name in names if name not in known]
    return json_response(sorted(present, key=lambda bucket: bucket.name))


def head_bucket(
    node: Node, request: Request, bck: BucketRef, query: Query, prefix: str = ""
) -> Response | Awaitable[Response]:
    # 1. presence 2-4 asks about the BMD only: a remote bucket not in it is 404, never HEADed or added
    if query.get("presence") in PRESENT_ONLY:
        node.present_bucket_props(bck)
    elif query.flag("dont_add_remote_bck_md") and is_remote(bck) and node.meta.bmd().get(bck) is None:
        return _probe_remote(node, bck)
    # 2. info (props, then the summary job's result), or the props alone
    if "presence" in query or "bsumm_remote" in query or "uuid" in query:
        return node.role.bucket_info(node, request, bck, query, prefix)
    node.bucket_props(bck, ACCESS_HEAD_BUCKET)
    return Response(200, [("Ais-Bucket-Props", node.meta.bmd().props_header(bck))], content_length=0)


async def _probe_remote(node: Node, bck: BucketRef) -> Response:
    """HEAD of a remote bucket that must not join the BMD: its backend answers, props have ``bid`` 0."""
    props = await off_loop_backend(lambda: node.probe_remote_bucket(bck))
    return Response(200, [("Ais-Bucket-Props", bucket_props_to_json(props).decode())], content_length=0)


def patch_bucket(node: Node, request: Request, bck: BucketRef) -> Response | Awaitable[Response]:
    msg = decode_action(request.body)
    current = node.bucket_props(bck, ACCESS_PATCH)
    config = node.meta.config()
    if msg.action == "set-bprops":
        if not isinstance(msg.value, dict):
            raise InvalidRequest("set-bprops value must be a JSON object of (partial) bucket props")
        value = msg.value
        wanted = update_bucket_props(current, value)  # a 400 for bad props, before any backend call
        linked = wanted.backend_bck
        if linked.name and linked != current.backend_bck:  # a new backend bucket must answer now
            return _linked(node, bck, wanted, value)
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


async def _linked(node: Node, bck: BucketRef, wanted: BucketProps, value: dict[str, Any]) -> Response:
    """set-bprops naming a ``backend_bck``: the cloud bucket is HEADed first (off the event loop), so an
    unreachable or missing one is an error now rather than 404s later."""
    remote = remote_of(bck, wanted)
    if remote is None:
        raise InvalidRequest(
            f"backend_bck of {bck.uri} must name a cloud bucket (aws, gcp, azure) or ais://@alias/bucket"
        )
    await off_loop_backend(lambda: remote.backend.head_bucket(remote.name))
    node.meta.update_bmd(
        lambda bmd: bmd.with_bucket(bck, update_bucket_props(bmd.require(bck), value), replace=True)
    )
    return empty_response()


def bucket_action(
    node: Node, request: Request, bck: BucketRef, query: Query
) -> Response | Awaitable[Response]:
    """POST/PUT/DELETE with an ActMsg on a bucket: the node's role runs it (``strata.roles.actions``)."""
    msg = decode_action(request.body, required=request.method != "DELETE")
    if not msg.action and request.method == "DELETE":
        msg = ActionMsg(action="destroy-bck", name=msg.name, value=msg.value)
    return node.role.bucket_action(node, request, bck, query, msg)


def get_bucket(node: Node, request: Request, bck: BucketRef, query: Query) -> Response | Awaitable[Response]:
    msg = decode_action(request.body)
    if msg.action == "list":
        return node.role.list_objects(node, request, bck, msg)
    if msg.action in ("summary-bck", "summary"):
        return node.role.summary(node, request, bck, query, msg)
    return actions.unserved(node, bck, msg.action, "GET")
