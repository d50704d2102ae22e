"""Requests of the blob downloader and the downloader: start, stream, status, abort, remove.

- ``POST /v1/objects/B {"action": "blob-download", "name": O, "value": BlobMsg}`` starts a
  ``blob-download`` job on the object's owner (a proxy answers 307 to it, as AIStore does) and answers
  the job id as text. The job's work is ``strata.jobs.blob_download.blob_job``.
- ``GET /v1/objects/B/O`` with ``Ais-Blob-Download: true`` on an object not cached yet streams it to
  the client while the blob downloader fetches and stores it (``blob_get``).
- ``/v1/download``: ``POST`` starts a ``download`` job (``{"id": "dnl-..."}``); ``GET`` with
  ``{"id"}`` reports one job, without an id lists them (``{"regex", "only_active_tasks"}``);
  ``DELETE /v1/download/abort`` and ``/remove`` with ``{"id"}``. A node that stores objects runs its
  part itself; a proxy validates once, then hands the request to every target under one id (each
  downloads the objects HRW gives it) and adds their answers up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from strata.auth import current as current_principal
from strata.auth.principals import require
from strata.config.access import ACCESS_GET, ACCESS_PUT
from strata.config.bucket_props import BucketProps
from strata.core.errors import (
    BucketAlreadyExists,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    NotImplementedYet,
    ServiceUnavailable,
)
from strata.core.names import BucketRef, validate_object_name
from strata.core.query import Query
from strata.core.wire import ActionMsg, decode_action
from strata.jobs.blob_download import (
    STREAM_MIN_SIZE,
    BlobFetch,
    BlobParams,
    blob_job,
    blob_stream,
    params_from_headers,
    params_from_message,
)
from strata.jobs.downloader import (
    DownloadPlan,
    DownloadProgress,
    is_download,
    merge_statuses,
    new_download_id,
    parse_request,
    run_download,
    status_of,
)
from strata.jobs.registry import JobRecord, new_job_id
from strata.jobs.snapshots import NOT_ENDED
from strata.objects.compression import off_loop
from strata.objects.remote import remote_of
from strata.roles import buckets, proxy
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import empty_response, json_response, text_response

Answer = Response | Awaitable[Response]

# -- the blob downloader -------------------------------------------------------------------------------


def post_to_bucket_path(node: Node, request: Request, bck: BucketRef, query: Query) -> Answer:
    """``POST /v1/objects/B`` (no object in the path): the SDK's ``blob_download`` names the object in
    the message. Other object actions need the object in the path."""
    msg = decode_action(request.body)
    if msg.action == "blob-download":
        return start_blob_download(node, request, bck, msg.name, query, msg)
    if msg.action == "promote":
        raise NotImplementedYet("promote is not implemented yet")
    raise InvalidRequest(f'invalid action "{msg.action}" for POST /v1/objects/BUCKET (name the object)')


def start_blob_download(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query, msg: ActionMsg
) -> Answer:
    # 1. validate: the object's name, the parameters, a remote bucket that allows GET
    if not object_name:
        raise InvalidRequest('"blob-download" needs the object\'s name ("name" in the message)')
    validate_object_name(object_name)
    params = params_from_message(msg.value)
    props = node.bucket_props(bck, ACCESS_GET)
    if remote_of(bck, props) is None:
        raise InvalidRequest(
            f'"blob-download" applies to remote buckets; {bck.uri} is an ais bucket without a backend_bck'
        )
    # 2. a proxy sends the request to the object's owner; the owner runs the job
    if not node.role.stores_objects:
        return proxy.redirect(node, request, bck, object_name)
    return _blob_job(node, bck, object_name, query, props, params)


async def _blob_job(
    node: Node, bck: BucketRef, object_name: str, query: Query, props: BucketProps, params: BlobParams
) -> Response:
    """The owner: HEAD the object first (a missing one is a 404 now, not a failed job), then the job."""
    info = None
    if not params.full_size:
        info = await off_loop(lambda: node.objects.head_remote(bck, object_name, props))
    job = node.runner.create("blob-download", bck=bck, job_id=query.get("xid"))
    job.record.extra["object"] = object_name
    node.runner.start(job, lambda j: blob_job(j, node.objects, bck, object_name, props, params, info))
    return text_response(job.id)


def wants_blob_get(request: Request) -> bool:
    return request.headers.get("ais-blob-download", "").lower() == "true"


async def blob_get(
    node: Node,
    request: Request,
    bck: BucketRef,
    object_name: str,
    query: Query,
    props: BucketProps,
    plain: Callable[[], Awaitable[Response]],
) -> Response:
    """A cold GET through the blob downloader: the object streams to the client while its chunks are
    fetched in parallel and stored; objects under 128 KiB take the ``plain`` cold GET."""
    params = params_from_headers(request.headers, latest=query.flag("latest-ver"))  # a 400 first
    info = await off_loop(lambda: node.objects.head_remote(bck, object_name, props))
    if info.size < STREAM_MIN_SIZE:
        return await plain()
    job = node.runner.create("blob-download", bck=bck)
    job.record.extra["object"] = object_name
    loop = asyncio.get_running_loop()
    try:
        fetch = await loop.run_in_executor(
            None, lambda: BlobFetch(node.objects, bck, object_name, props, params, info)
        )
    except BaseException as error:
        job.finish(error=str(error) or type(error).__name__)
        raise
    node.objects.sent(info.size)
    headers = [
        ("Ais-Version", info.version),
        ("Content-Type", info.content_type or "application/octet-stream"),
    ]
    return Response(200, headers, stream=blob_stream(fetch, job), content_length=info.size)


# -- the downloader -------------------------------------------------------------------------------------


class AdminBody(msgspec.Struct):
    """What status, abort and remove name (AIStore's DlAdminBody)."""

    id: str = ""
    regex: str = ""
    only_active_tasks: bool = False


def route_download(node: Node, request: Request, rest: str) -> Answer:
    """``/v1/download[/abort|/remove]``."""
    method = request.method
    if rest == "":
        if method == "POST":
            return _start(node, request)
        if method == "GET":
            return _status(node, request)
        raise MethodNotAllowed(f"{method} is not allowed on /v1/download")
    if rest in ("abort", "remove"):
        if method != "DELETE":
            raise MethodNotAllowed(f"{method} is not allowed on /v1/download/{rest}")
        return _abort_or_remove(node, request, rest)
    raise NotFound(f'invalid path "/v1/download/{rest}"')


def _destination(node: Node, plan: DownloadPlan) -> BucketProps:
    """The bucket the objects go to: a missing ais bucket is created (as AIStore does); a remote one
    joins the BMD on first reference; a ``backend`` download needs a remote bucket."""
    bck = plan.bck
    creates = plan.type != "backend"  # a backend download fills a remote bucket: one that exists
    if creates and bck.provider == "ais" and not bck.ns_uuid and node.meta.bmd().get(bck) is None:
        with contextlib.suppress(BucketAlreadyExists):  # someone else made it meanwhile
            buckets.create_bucket(node, bck, ActionMsg())
    props = node.bucket_props(bck, ACCESS_PUT)
    if plan.type == "backend" and remote_of(bck, props) is None:
        raise InvalidRequest(
            f'a "backend" download needs a remote bucket; {bck.uri} is an ais bucket without a backend_bck'
        )
    return props


def _start(node: Node, request: Request) -> Answer:
    plan = parse_request(request.body)  # a 400 before anything happens
    props = _destination(node, plan)
    if not node.role.stores_objects:
        return _start_on_targets(node, request)
    job_id = Query(request.query).get("xid") or new_download_id(new_job_id())
    job = node.runner.create("download", bck=plan.bck, job_id=job_id)
    progress = DownloadProgress(job, plan)  # the job answers status queries from now on
    owns = None
    if node.role.in_cluster:  # each target downloads the objects HRW places on it
        cluster_map, me = node.cluster_map(), node.node_id

        def owns(name: str) -> bool:
            owner = cluster_map.target_for(plan.bck, name)
            return owner is not None and owner.id == me

    timeout = float(node.meta.config().downloader.timeout)
    node.runner.start(
        job,
        lambda j: run_download(j, node.objects, plan, props, progress, default_timeout=timeout, owns=owns),
    )
    return json_response({"id": job.id})


async def _start_on_targets(node: Node, request: Request) -> Response:
    """A proxy: every target runs its part under one ``dnl-`` id."""
    job_id = new_download_id(new_job_id())
    query = f"{request.query}&xid={job_id}" if request.query else f"xid={job_id}"
    answers = await proxy.fan_out(
        node,
        "POST",
        request.path,
        body=request.body,
        query=query,
        headers={"Content-Type": "application/json"},
    )
    if not answers:
        raise ServiceUnavailable("no target is available to download")
    for answer in answers.values():
        if answer.status >= 300:  # the same validation failed everywhere: pass the first answer on
            return Response(answer.status, [("Content-Type", "application/json")], answer.content)
    return json_response({"id": job_id})


def _admin_body(request: Request) -> AdminBody:
    """The job a status, abort or remove names: the JSON body, or ``?id=`` (handy with curl)."""
    body = AdminBody()
    if request.body.strip():
        try:
            body = msgspec.json.decode(request.body, type=AdminBody, strict=False)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise InvalidRequest(f'invalid download request: {error} (expected {{"id": ...}})') from None
    query = Query(request.query)
    if query.get("id"):
        body = msgspec.structs.replace(body, id=query.get("id"))
    return body


def _may_manage(bck: BucketRef | None) -> bool:
    """Whether the request's principal may watch or stop a download into ``bck``: one who may PUT
    there, as starting it needed (anyone when auth is off, and the cluster's own calls; a job without
    a bucket, the cluster's PUT)."""
    principal = current_principal()
    return principal is None or principal.allows(ACCESS_PUT, bck)


def _require_manage(bck: BucketRef | None) -> None:
    principal = current_principal()
    if principal is not None:
        require(principal, ACCESS_PUT, bck)


def _job_bucket(record: JobRecord) -> BucketRef | None:
    return BucketRef.from_key(record.bck) if record.bck else None


def _status_bucket(status: dict[str, Any]) -> BucketRef | None:
    """The bucket a target's status of a download names (its ``uri``)."""
    return BucketRef.from_uri(status["bucket"]) if status.get("bucket") else None


def _record(node: Node, job_id: str) -> JobRecord:
    record = node.jobs.load(job_id) if job_id else None
    if record is None or not is_download(record):
        raise NotFound(f'download job "{job_id}" not found')
    return record


def _status(node: Node, request: Request) -> Answer:
    args = _admin_body(request)
    try:
        pattern = re.compile(args.regex) if args.regex else None
    except re.error as error:
        raise InvalidRequest(f'invalid regex "{args.regex}": {error}') from None
    if not node.role.stores_objects:
        return _status_from_targets(node, request.body, request.query, args)
    if args.id:
        record = _record(node, args.id)
        _require_manage(_job_bucket(record))
        return json_response(status_of(record, only_active=args.only_active_tasks))
    found = [
        status_of(record, brief=True)
        for record in node.jobs.find(kind="download")
        if is_download(record) and _may_manage(_job_bucket(record))
    ]
    if pattern is not None:
        found = [status for status in found if pattern.search(status["description"])]
    if args.only_active_tasks:
        found = [status for status in found if status["finished_time"] == NOT_ENDED]
    return json_response(found)


async def _status_from_targets(node: Node, body: bytes, query: str, args: AdminBody) -> Response:
    """A proxy's status answer: every target's part of the job (or of every job), added up; only jobs
    whose bucket the principal may manage."""
    answers = await proxy.fan_out(
        node, "GET", "/v1/download", body=body, query=query, headers={"Content-Type": "application/json"}
    )
    parts = [answer.json() for answer in answers.values() if answer.status == 200]
    if not parts:
        first = next(iter(answers.values()), None)
        if first is None:
            raise ServiceUnavailable("no target is available")
        return Response(first.status, [("Content-Type", "application/json")], first.content)
    if args.id:
        merged_one = merge_statuses(parts)
        _require_manage(_status_bucket(merged_one))
        return json_response(merged_one)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for status in part or []:
            by_id.setdefault(status["id"], []).append(status)
    merged = [
        merge_statuses(statuses)
        for statuses in by_id.values()
        if _may_manage(_status_bucket(statuses[0]))
    ]
    return json_response(sorted(merged, key=lambda status: status["started_time"]))


def _abort_or_remove(node: Node, request: Request, what: str) -> Answer:
    args = _admin_body(request)
    if not args.id:
        raise InvalidRequest(f'download {what} needs the job id: {{"id": "dnl-..."}}')
    if not node.role.stores_objects:
        return _on_targets(node, request, args.id)
    record = _record(node, args.id)
    _require_manage(_job_bucket(record))
    if what == "abort":
        node.jobs.request_abort(record.id)
        return empty_response()
    if not record.finished:
        raise InvalidRequest(f'download job "{record.id}" is still running: abort it first')
    for path in (
        node.jobs.record_path(record.id),
        node.jobs.abort_path(record.id),
        node.jobs.received_path(record.id),
    ):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return empty_response()


async def _on_targets(node: Node, request: Request, job_id: str) -> Response:
    """Abort or remove on every target: done where the job has a part; 404 only when none has, and a
    refusal (removing a part still running) is passed on. With auth on, the job's bucket is asked of
    the targets first (its status): the principal must be one who may manage downloads into it."""
    if current_principal() is not None:  # 403 unless the principal may manage it, 404 when no target has it
        by_id = urllib.parse.urlencode({"id": job_id})
        status = await _status_from_targets(node, b"", by_id, AdminBody(id=job_id))
        if status.status != 200:
            return status
    answers = await proxy.fan_out(
        node, request.method, request.path, body=request.body, query=request.query,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    refused = [answer for answer in answers.values() if answer.status not in (200, 404)]
    if not refused and any(answer.status == 200 for answer in answers.values()):
        return empty_response()
    first = refused[0] if refused else next(iter(answers.values()), None)
    if first is None:
        raise ServiceUnavailable("no target is available")
    return Response(first.status, [("Content-Type", "application/json")], first.content)
