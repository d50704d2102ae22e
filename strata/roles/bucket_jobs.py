"""Bucket actions that run as jobs: copy-bck, move-bck, copy/delete-listrange, summary and info.

Each handler states its steps: validate the request (a missing bucket is a 404 before any job
exists), create the job, start its work on a thread, answer the job id as text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from strata.cluster.smap import NodeInfo
from strata.config.access import (
    ACCESS_CREATE_BUCKET,
    ACCESS_DELETE_OBJECT,
    ACCESS_GET,
    ACCESS_MOVE_BUCKET,
    ACCESS_PUT,
)
from strata.config.bucket_props import BucketProps, new_bucket_props
from strata.core.errors import BucketAlreadyExists, InvalidRequest, NotFound, ServiceUnavailable
from strata.core.names import BucketRef, validate_object_name
from strata.core.query import Query
from strata.core.wire import ActionMsg, json_encode
from strata.jobs import archive_job, bucket_ops, maintenance
from strata.jobs.archive_job import ArchiveRequest
from strata.jobs.blob_download import MIN_PREFETCH_THRESHOLD, blob_params
from strata.jobs.bucket_ops import BlobThreshold, CopyTarget, Selection
from strata.jobs.rebalance import move_misplaced
from strata.jobs.registry import Job, JobRecord
from strata.jobs.sources import ClusterObjects
from strata.objects.remote import is_remote, remote_of
from strata.roles import proxy
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import json_response, text_response


def parse_bucket_uname(raw: str, what: str) -> BucketRef:
    """``ais/@#/name/`` (the SDK's ``Bucket.get_path()``) or ``ais://name`` -> a bucket."""
    text = raw.strip()
    if "://" in text:
        provider, _, name = text.partition("://")
        return BucketRef.parse(name.strip("/"), provider)
    parts = text.strip("/").split("/")
    if len(parts) == 3:
        return BucketRef.parse(parts[2], parts[0], parts[1])
    if len(parts) == 1 and parts[0]:
        return BucketRef.parse(parts[0])
    raise InvalidRequest(f'invalid {what} "{raw}" (expected provider/@ns#/bucket or ais://bucket)')


def bucket_from_model(value: Any, what: str) -> BucketRef:
    if not isinstance(value, dict) or not value.get("name"):
        raise InvalidRequest(f'{what} must name a bucket: {{"name": ..., "provider": ...}}')
    namespace = value.get("namespace") or {}
    ns = f"@{namespace.get('uuid', '')}#{namespace.get('name', '')}" if namespace else ""
    return BucketRef.parse(str(value["name"]), str(value.get("provider", "")), ns)


def _value(msg: ActionMsg) -> dict[str, Any]:
    if msg.value is None:
        return {}
    if not isinstance(msg.value, dict):
        raise InvalidRequest(f'"{msg.action}" expects a JSON object as its value')
    return msg.value


def _flag(value: dict[str, Any], key: str) -> bool:
    raw = value.get(key, False)
    return raw is True or (isinstance(raw, str) and raw.lower() == "true")


def ensure_destination(node: Node, dst: BucketRef, like: BucketProps) -> BucketProps:
    """The destination of a copy: created on the fly (with the source's props) if it does not exist.

    The request's principal must be allowed to PUT there, and to create it when it is missing (AIStore:
    PUT on the destination, CREATE-BUCKET for an implicit create), before anything is created.
    """
    node.authorize(ACCESS_PUT, dst)
    props = node.meta.bmd().get(dst)
    if props is not None:
        return props
    if is_remote(dst):  # a remote bucket joins on first reference, if its backend has it (else 404)
        return node.bucket_props(dst)
    if dst.provider != "ais":
        raise NotFound(f'bucket "{dst.uri}" does not exist')
    node.authorize(ACCESS_CREATE_BUCKET)

    def change(bmd: Any) -> Any:
        if bmd.get(dst) is not None:
            return bmd
        fresh = new_bucket_props(
            node.meta.config(), provider="ais", created_ns=time.time_ns(), bid=(bmd.version + 1) | (1 << 63)
        )
        inherited = msgspec.structs.replace(
            like, provider="ais", created=fresh.created, bid=fresh.bid, backend_bck=fresh.backend_bck
        )
        return bmd.with_bucket(dst, inherited)

    node.objects.create_bucket(dst)
    node.meta.update_bmd(change)
    return node.meta.bmd().require(dst)


def _copy_target(
    node: Node, dst: BucketRef, src_props: BucketProps, prepend: str, dry_run: bool
) -> CopyTarget:
    """Where copies go, with the destination's props for the job's writes; a dry run only counts, so
    it creates nothing."""
    if dry_run:
        return CopyTarget(dst, None, prepend)
    props = ensure_destination(node, dst, src_props)
    target = CopyTarget(dst, props, prepend)
    if node.role.in_cluster:  # each copy goes to the target that owns its destination name
        me = node.node_id

        def remote_owner(name: str) -> NodeInfo | None:
            owner = node.cluster_map().target_for(dst, name)
            return owner if owner is not None and owner.id != me else None

        target.remote_owner = remote_owner
    return target


# -- whole buckets ---------------------------------------------------------------------------------


def copy_bucket(node: Node, src: BucketRef, query: Query, msg: ActionMsg) -> Response:
    # 1. validate source, destination and options
    src_props = node.bucket_props(src, ACCESS_GET)
    dst = parse_bucket_uname(query.get("bck_to"), "destination bucket (bck_to)")
    if dst == src:
        raise InvalidRequest(f"cannot copy {src.uri} onto itself")
    value = _value(msg)
    prefix = str(value.get("prefix", ""))
    prepend = str(value.get("prepend", ""))
    dry_run = _flag(value, "dry_run")
    # 2. the job, then the work
    target = _copy_target(node, dst, src_props, prepend, dry_run)
    if not dry_run:
        node.bucket_props(dst, ACCESS_PUT)
    node.runner.ensure_no_conflict("copy-bck", src)
    job = node.runner.create("copy-bck", bck=src, src=src, dst=dst, job_id=query.get("xid"))
    selection = Selection(template=prefix)
    names = None
    if remote_of(src, src_props) is not None and query.get("presence") not in ("2", "3", "4"):
        names = bucket_ops.remote_source_names(node.objects, src, src_props, prefix, _owned(node, src))
    node.runner.start(
        job,
        lambda j: bucket_ops.copy_objects(
            j,
            node.objects,
            src,
            src_props,
            selection,
            target,
            dry_run=dry_run,
            continue_on_error=True,
            names=names,
        ),
    )
    return text_response(job.id)


def _owned(node: Node, bck: BucketRef) -> Callable[[str], bool] | None:
    """In a cluster, whether this target owns an object name of ``bck`` (each target copies its own
    share of a remote bucket's listing); None embedded, where every name is this node's."""
    if not node.role.in_cluster:
        return None

    def mine(name: str) -> bool:
        owner = node.cluster_map().target_for(bck, name)
        return owner is not None and owner.id == node.node_id

    return mine


def move_bucket(node: Node, src: BucketRef, query: Query) -> Response:
    # 1. validate: the source exists, the destination does not
    src_props = node.bucket_props(src, ACCESS_MOVE_BUCKET)
    dst = parse_bucket_uname(query.get("bck_to"), "destination bucket (bck_to)")
    if dst.provider != "ais" or src.provider != "ais":
        raise InvalidRequest("only ais buckets can be renamed")
    if node.meta.bmd().get(dst) is not None and not node.role.in_cluster:
        raise BucketAlreadyExists(dst.uri)
    node.runner.ensure_no_conflict("move-bck", src)
    job = node.runner.create("move-bck", bck=src, src=src, dst=dst, job_id=query.get("xid"))

    def work(j: Job) -> None:
        # 2. destination in the BMD, directories renamed, source out of the BMD, stragglers resilvered
        node.meta.update_bmd(lambda bmd: bmd.with_bucket(dst, src_props))
        node.objects.rename_bucket(src, dst)
        node.meta.update_bmd(lambda bmd: bmd.without_bucket(src))
        maintenance.resilver(j, node.objects, [dst])

    def cluster_work(j: Job) -> None:
        # 2. (the proxy updated the BMD) rename here, then send objects HRW places elsewhere to their owners
        node.objects.rename_bucket(src, dst)
        maintenance.resilver(j, node.objects, [dst])
        move_misplaced(j, node.objects, node.cluster_map(), node.node_id, [dst], j.id)

    if node.role.in_cluster:
        node.runner.start(job, cluster_work)
        return text_response(job.id)

    node.runner.start(job, work)
    return text_response(job.id)


# -- list/range operations ----------------------------------------------------------------------------


def start_cluster_move(node: Node, src: BucketRef, query: Query) -> BucketRef:
    """On a proxy: the destination joins the BMD with the source's props, the source is marked
    ``Renamed`` (so targets do not delete its data when it leaves the BMD), then targets move the data."""
    src_props = node.bucket_props(src, ACCESS_MOVE_BUCKET)
    dst = parse_bucket_uname(query.get("bck_to"), "destination bucket (bck_to)")
    if dst.provider != "ais" or src.provider != "ais":
        raise InvalidRequest("only ais buckets can be renamed")

    def change(bmd: Any) -> Any:
        if bmd.get(dst) is not None:
            raise BucketAlreadyExists(dst.uri)
        marked = msgspec.structs.replace(bmd.require(src), renamed=dst.key)
        return bmd.with_bucket(dst, src_props).with_bucket(src, marked, replace=True)

    node.meta.update_bmd(change)
    return dst


def copy_objects(node: Node, src: BucketRef, query: Query, msg: ActionMsg) -> Response:
    src_props = node.bucket_props(src, ACCESS_GET)
    value = _value(msg)
    selection = Selection.from_value(value)
    dst = bucket_from_model(value.get("tobck"), "tobck")
    prepend = str(value.get("prepend", ""))
    dry_run = _flag(value, "dry_run")
    if dst == src and not prepend:
        raise InvalidRequest(f"cannot copy objects of {src.uri} onto themselves (use prepend)")
    target = _copy_target(node, dst, src_props, prepend, dry_run)
    if not dry_run:
        node.bucket_props(dst, ACCESS_PUT)
    job = node.runner.create("copy-listrange", bck=src, src=src, dst=dst, job_id=query.get("xid"))
    coer = _flag(value, "coer") or node.role.in_cluster  # a named object lives on one target
    node.runner.start(
        job,
        lambda j: bucket_ops.copy_objects(
            j, node.objects, src, src_props, selection, target, dry_run=dry_run, continue_on_error=coer
        ),
    )
    return text_response(job.id)


def delete_objects(node: Node, bck: BucketRef, query: Query, msg: ActionMsg) -> Response:
    props = node.bucket_props(bck, ACCESS_DELETE_OBJECT)
    value = _value(msg)
    selection = Selection.from_value(value)
    job = node.runner.create("delete-listrange", bck=bck, job_id=query.get("xid"))
    # in a cluster a named object lives on one target: the others skip it rather than fail
    coer = _flag(value, "coer") or node.role.in_cluster
    node.runner.start(
        job,
        lambda j: bucket_ops.delete_objects(j, node.objects, bck, props, selection, continue_on_error=coer),
    )
    return text_response(job.id)


def archive(node: Node, src: BucketRef, query: Query, msg: ActionMsg) -> Response:
    """``PUT /v1/buckets/B {"action": "archive"}``: pack objects into a shard (in this or ``tobck``)."""
    # 1. validate: source, selection, destination, shard name and format (a 400 before any job)
    src_props = node.bucket_props(src, ACCESS_GET)
    value = _value(msg)
    selection = Selection.from_value(value)
    dst = bucket_from_model(value["tobck"], "tobck") if value.get("tobck") else src
    archname = validate_object_name(str(value.get("archname", "")))
    request = ArchiveRequest(
        src=src,
        src_props=src_props,
        selection=selection,
        dst=_copy_target(node, dst, src_props, "", dry_run=False),
        archname=archname,
        mime=str(value.get("mime", "")),
        include_bucket_name=_flag(value, "isbn"),
        append=_flag(value, "aate"),
        continue_on_error=_flag(value, "coer"),
    )
    request.format  # noqa: B018 -- an unknown format is a 400 now, not a failed job later
    node.bucket_props(dst, ACCESS_PUT)
    if request.append:  # appending reads the shard there
        node.bucket_props(dst, ACCESS_GET)
    # 2. the job
    job = node.runner.create("archive", bck=src, src=src, dst=dst, job_id=query.get("xid"))
    # in a cluster the proxy sent this to the shard's owner, which pulls members from their owners
    source = None
    if node.role.in_cluster:
        source = ClusterObjects(node.objects, node.cluster_map, node.node_id)
    node.runner.start(job, lambda j: archive_job.archive_objects(j, node.objects, request, source))
    return text_response(job.id)


def prefetch_objects(node: Node, bck: BucketRef, query: Query, msg: ActionMsg) -> Response:
    """``prefetch-listrange``: cold GETs of a remote bucket's objects as a job (list or template)."""
    props = node.bucket_props(bck, ACCESS_GET)
    if remote_of(bck, props) is None:
        return remote_only(node, bck, msg.action)
    value = _value(msg)
    selection = Selection.from_value(value)
    workers = bucket_ops.prefetch_workers(value.get("num-workers"))
    blob = _blob_threshold(value)  # a 400 before any job
    job = node.runner.create("prefetch-listrange", bck=bck, job_id=query.get("xid"))
    coer = _flag(value, "coer") or node.role.in_cluster
    latest = _flag(value, "latest-ver")
    owned = owned_here(node, bck)

    def work(j: Job) -> None:
        bucket_ops.prefetch_objects(
            j, node.objects, bck, props, selection,
            continue_on_error=coer, latest=latest, workers=workers, owned=owned, blob=blob,
        )  # fmt: skip

    node.runner.start(job, work)
    return text_response(job.id)


def owned_here(node: Node, bck: BucketRef) -> Callable[[str], bool] | None:
    """In a cluster, whether this target is an object's HRW owner (each target of a job that runs on
    every target, such as a prefetch, takes its own share); None when the node holds every object."""
    if not node.role.in_cluster:
        return None
    me = node.node_id

    def owned(name: str) -> bool:
        owner = node.cluster_map().target_for(bck, name)
        return owner is not None and owner.id == me

    return owned


def _blob_threshold(value: dict[str, Any]) -> BlobThreshold | None:
    """``blob-threshold`` (with ``blob-chunk-size``, ``blob-num-workers``): None when not asked."""
    raw = value.get("blob-threshold")
    if raw in (None, 0, ""):
        return None
    params = blob_params(value.get("blob-chunk-size"), value.get("blob-num-workers"))
    threshold = blob_params(full_size=raw).full_size
    if threshold < MIN_PREFETCH_THRESHOLD:
        raise InvalidRequest(f"invalid blob-threshold {threshold}: must be at least 1MiB")
    return BlobThreshold(threshold, params)


def evict_objects(node: Node, bck: BucketRef, query: Query, msg: ActionMsg) -> Response:
    """``evict-listrange``: drop cached copies of a remote bucket's objects as a job."""
    props = node.bucket_props(bck, ACCESS_DELETE_OBJECT)
    if remote_of(bck, props) is None:
        return remote_only(node, bck, msg.action)
    selection = Selection.from_value(_value(msg))
    job = node.runner.create("evict-listrange", bck=bck, job_id=query.get("xid"))
    node.runner.start(job, lambda j: bucket_ops.evict_objects(j, node.objects, bck, props, selection))
    return text_response(job.id)


def remote_only(node: Node, bck: BucketRef, action: str) -> Response:
    node.bucket_props(bck)
    raise InvalidRequest(
        f'"{action}" applies to remote buckets; {bck.uri} is an ais bucket without a backend_bck'
    )


# -- summary (GET, 202-then-poll) and info (HEAD, 202-then-poll) ------------------------------------------


def _counts_remote(node: Node, bck: BucketRef, wanted: bool, query: Query) -> BucketProps | None:
    """The props to count the backend's objects with, when asked and the bucket has a backend -- on
    one node only: the proxy names the target (``remote_counter``) so the sum counts them once."""
    if not wanted:
        return None
    props = node.bucket_props(bck)
    if remote_of(bck, props) is None:
        return None
    counter = query.get(proxy.REMOTE_COUNTER)
    return props if not counter or counter == node.node_id else None


def _summary_job(
    node: Node, bck: BucketRef, prefix: str, job_id: str, remote: BucketProps | None = None
) -> Job:
    job = node.runner.create("summary-bck", bck=bck, job_id=job_id)

    def work(j: Job) -> None:
        j.record.extra["summary"] = bucket_ops.summarize(j, node.objects, bck, prefix, remote)

    node.runner.start(job, work)
    return job


def _finished_summary(node: Node, job_id: str) -> JobRecord | None:
    """The record if the summary job is done (raises if it failed or is unknown); None while running."""
    record = node.jobs.load(job_id)
    if record is None or record.kind != "summary-bck":
        raise NotFound(f'bucket summary job "{job_id}" not found')
    if not record.finished:
        return None
    if record.abort_err or "summary" not in record.extra:
        raise InvalidRequest(f"bucket summary failed: {record.abort_err or 'aborted'}")
    return record


def summary(node: Node, bck: BucketRef, query: Query, msg: ActionMsg) -> Response:
    node.bucket_props(bck)
    value = _value(msg)
    job_id = str(value.get("uuid", ""))
    if not job_id:
        remote = _counts_remote(node, bck, value.get("cached") is False, query)
        job = _summary_job(node, bck, str(value.get("prefix", "")), query.get("xid"), remote)
        return Response(202, [("Content-Type", "text/plain")], job.id.encode())
    record = _finished_summary(node, job_id)
    if record is None:
        return Response(202, [("Content-Type", "text/plain")], job_id.encode())
    return json_response([record.extra["summary"]])


def info(node: Node, bck: BucketRef, query: Query, prefix: str) -> Response:
    """HEAD with ``fltpresence``/``bsumm_remote``: props at once, the summary when its job is done."""
    node.bucket_props(bck)
    headers = [("Ais-Bucket-Props", node.meta.bmd().props_header(bck))]
    job_id = query.get("uuid")
    if not job_id:
        remote = _counts_remote(node, bck, query.flag("bsumm_remote"), query)
        job = _summary_job(node, bck, prefix, query.get("xid"), remote)
        headers.append(("Ais-Xaction-Id", job.id))
        return Response(202, headers, content_length=0)
    record = _finished_summary(node, job_id)
    if record is None:
        headers.append(("Ais-Xaction-Id", job_id))
        return Response(202, headers, content_length=0)
    headers.append(("Ais-Bucket-Summ", json_encode(record.extra["summary"]).decode()))
    return Response(200, headers, content_length=0)


async def cluster_info(node: Node, request: Request, bck: BucketRef) -> Response:
    """``info()`` on a proxy: the objects are on the targets, so each target summarizes its own under
    one job id (the proxy's ``xid``); 202 until every part is done, then their sums, as embedded."""
    node.bucket_props(bck)
    job_id = Query(request.query).get("uuid")
    query = request.query
    if not job_id:
        job_id, query = proxy.new_summary(node, bck, query)
    answers = await proxy.fan_out(node, "HEAD", request.path, query=query)
    if not answers:
        raise ServiceUnavailable("no target is available to summarize the bucket")
    parts: list[dict[str, Any]] = []
    for answer in answers.values():
        if answer.status not in (200, 202):  # pass the target's error on (HEAD: in Hdr-Error)
            error = [("Hdr-Error", answer.headers["Hdr-Error"])] if "Hdr-Error" in answer.headers else []
            return Response(answer.status, error, content_length=0)
        if answer.status == 200:
            parts.append(msgspec.json.decode(answer.headers.get("Ais-Bucket-Summ", "{}")))
    headers = [("Ais-Bucket-Props", node.meta.bmd().props_header(bck))]
    if len(parts) < len(answers):
        headers.append(("Ais-Xaction-Id", job_id))
        return Response(202, headers, content_length=0)
    headers.append(("Ais-Bucket-Summ", json_encode(proxy.sum_summaries(parts)).decode()))
    return Response(200, headers, content_length=0)
