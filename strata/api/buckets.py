"""Bucket requests: ``/v1/buckets[/<bucket>]`` -- list, create, destroy, HEAD, props, list objects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable

from strata.api.getbatch import get_batch
from strata.archive import format_of
from strata.config.access import (
    ACCESS_HEAD_BUCKET,
    ACCESS_LIST_OBJECTS,
    ACCESS_PATCH,
)
from strata.config.bucket_props import (
    reset_bucket_props,
    update_bucket_props,
)
from strata.core.errors import InvalidRequest, ServiceUnavailable, StrataError
from strata.core.names import BucketRef, validate_object_name
from strata.core.query import Query
from strata.core.wire import (
    ActionMsg,
    BucketName,
    ListEntry,
    ListObjectsMsg,
    ListObjectsPage,
    Namespace,
    convert_value,
    decode_action,
    json_encode,
    msgpack_encode,
)
from strata.jobs.kinds import refuse_unbuilt_action
from strata.roles import bucket_jobs, proxy
from strata.roles import buckets as roles_buckets
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import MSGPACK, empty_response, json_response

MAX_PAGE_SIZE = 10000

# list-objects flags (api/apc/lsmsg.go)
FLAG_CACHED = 1
FLAG_MISSING = 2
FLAG_DELETED = 4
FLAG_ARCH_DIR = 8
FLAG_NAME_ONLY = 16
FLAG_NAME_SIZE = 32
FLAG_BCK_PRESENT = 64
FLAG_NOT_CACHED = 512
FLAG_NO_RECURSION = 2048
FLAG_NO_DIRS = 8192
# page flags: a rebalance is moving objects, so the listing may be unstable (AIStore warns likewise)
LIST_REBALANCING = 1
# entry flags (cmn/objlist.go)
ENTRY_IS_CACHED = 64
ENTRY_IN_ARCH = 128
ENTRY_IS_DIR = 256
ENTRY_IS_ARCHIVE = 512

# Actions on remote buckets only (a clear 400 for an ais bucket), by method
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
        return list_objects(node, request, bck, msg)
    if msg.action in ("summary-bck", "summary"):
        if node.is_proxy:
            node.bucket_props(bck)
            return proxy.forward_summary(node, request)
        return bucket_jobs.summary(node, bck, msg)
    return _unserved_action(node, bck, msg.action, "GET")


# -- list objects --------------------------------------------------------------------------------


def _time_string(ns: int) -> str:
    """AIStore's default list time format (RFC822: ``02 Jan 06 15:04 UTC``)."""
    return time.strftime("%d %b %y %H:%M UTC", time.gmtime(ns / 1e9))


def list_objects(node: Node, request: Request, bck: BucketRef, msg: ActionMsg) -> Response:
    # 1. parse and validate the request
    node.metrics.add("lst_count")
    node.bucket_props(bck, ACCESS_LIST_OBJECTS)
    lsmsg: ListObjectsMsg = convert_value(msg.value, ListObjectsMsg, "list-objects message")
    try:
        flags = int(lsmsg.flags or "0")
    except ValueError:
        raise InvalidRequest(
            f'invalid list-objects flags "{lsmsg.flags}" (expected a decimal number)'
        ) from None
    if lsmsg.pagesize < 0:
        raise InvalidRequest(f"invalid page size {lsmsg.pagesize}")
    page_size = min(lsmsg.pagesize or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    props = {p.strip() for p in lsmsg.props.split(",") if p.strip()} if lsmsg.props else {"name", "size"}
    if flags & FLAG_NAME_ONLY:
        props = {"name"}
    elif flags & FLAG_NAME_SIZE:
        props = {"name", "size"}
    want_md = bool(props - {"name"})
    recursive = not flags & FLAG_NO_RECURSION
    after = max(lsmsg.continuation_token, lsmsg.start_after)
    if flags & FLAG_NOT_CACHED:  # ais buckets hold only present objects
        return _list_page(request, lsmsg.uuid or uuid.uuid4().hex, "", [])
    # 2. walk the bucket in name order, one page (plus one to know whether there is more)
    entries: list[ListEntry] = []
    token = ""
    names = node.objects.walk(bck, prefix=lsmsg.prefix, after=after, recursive=recursive)
    for name, is_dir in names:
        if len(entries) == page_size:
            token = entries[-1].n
            break
        if is_dir:
            if not flags & FLAG_NO_DIRS:
                entries.append(ListEntry(n=name, f=ENTRY_IS_DIR))
            continue
        entry = _entry(node, bck, name, props) if want_md else ListEntry(n=name, f=ENTRY_IS_CACHED)
        if entry is not None:
            entries.append(entry)
            if flags & FLAG_ARCH_DIR:  # a shard's members follow it (all in this page, see below)
                entries.extend(_archive_entries(node, bck, entry))
    rebalancing = node.cluster is not None and node.jobs.find(kind="rebalance", running_only=True)
    page_flags = LIST_REBALANCING if rebalancing else 0
    return _list_page(request, lsmsg.uuid or uuid.uuid4().hex, token, entries, page_flags)


def _archive_entries(node: Node, bck: BucketRef, shard: ListEntry) -> list[ListEntry]:
    """``shard.tar/member`` entries. A shard's members always go in the same page as the shard, so
    the continuation token (the last name) never splits one; a malformed shard lists no members."""
    try:
        fmt = format_of(shard.n)
    except InvalidRequest:
        return []
    try:
        obj, reader = node.objects.open_shard(bck, shard.n, fmt)
    except StrataError:
        return []
    try:
        members = [
            ListEntry(n=f"{shard.n}/{m.name}", s=m.size, f=ENTRY_IN_ARCH | ENTRY_IS_CACHED)
            for m in reader.members()
        ]
        node.objects.remember_shard(obj, reader)
    except StrataError:
        return []
    finally:
        reader.close()
        obj.close()
    shard.f |= ENTRY_IS_ARCHIVE
    return members


def _entry(node: Node, bck: BucketRef, name: str, props: set[str]) -> ListEntry | None:
    found = node.objects.listed(bck, name)
    if found is None:
        return None  # deleted while listing
    location, md = found
    entry = ListEntry(n=name, s=md.size, f=ENTRY_IS_CACHED)
    if "checksum" in props:
        entry.cs = md.checksum_value
    if "version" in props:
        entry.v = md.version
    if "atime" in props:
        entry.a = _time_string(md.atime_ns)
    if "location" in props:
        entry.t = f"t[{node.node_id}]:mp[{node.objects.mountpath_of(location)}]"
    if "copies" in props:
        entry.c = 1
    if "custom" in props and md.custom:
        entry.m = ",".join(f"{k}={v}" for k, v in md.custom.items())
    return entry


def _list_page(
    request: Request, list_uuid: str, token: str, entries: list[ListEntry], flags: int = 0
) -> Response:
    page = ListObjectsPage(UUID=list_uuid, ContinuationToken=token, Flags=flags, Entries=entries or None)
    if "msgpack" in request.headers.get("accept", ""):
        return Response(200, [MSGPACK], msgpack_encode(page))
    return json_response(json_encode(page))
