"""The downloader (``/v1/download``): HTTP(S) links and remote buckets fetched into a bucket, as a job.

Why: AIStore's downloader (wave-2 contract §2.8) fills a bucket from the web -- one link, a URL
template (``https://host/shard-{000..099}.tar``), a list of links -- or from a remote bucket's objects
(``backend``: like prefetch, with a prefix/suffix filter and ``synchronize``). Each request is a
``download`` job (id ``dnl-...``) whose progress -- scheduled, finished, skipped and failed objects,
the tasks in flight, the links that failed and why -- is what ``GET /v1/download`` reports.

How:
- ``parse_request`` turns the request body into a ``DownloadPlan`` or a 400 (the proxy validates
  once before any target starts; each target parses again).
- ``run_download`` is the job's work on one node: it walks the plan's objects, keeps those this node
  owns (``owns``: HRW in a cluster), and runs them on ``limits.connections`` threads. A link is read
  with a pooled urllib3 client (``strata.backends.http_pool``) straight into an ``ObjectPut`` of the
  object service, so checksums, compression, the ledger and write-through apply as to any PUT and
  a failed or aborted download leaves nothing. ``limits.bytes_per_hour`` paces the reads.
- A failed link is not a failed job: it is counted in ``error_cnt`` and listed in
  ``download_errors`` (``{name, error}``), as in AIStore.
- ``DownloadProgress`` keeps the counters and task lists and publishes them in the job record's
  ``extra`` (at most every ``FLUSH_EVERY`` seconds), so any worker process can answer a status query.
"""

from __future__ import annotations

import collections
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import msgspec
import urllib3

from strata.backends import RemoteObject, Transport
from strata.backends.http_pool import UNREACHABLE, body_chunks, make_pool, release
from strata.config.bucket_props import BucketProps
from strata.config.units import parse_duration
from strata.core.errors import InvalidRequest, NotImplementedYet, StrataError
from strata.core.names import BucketRef, validate_object_name
from strata.jobs.registry import FLUSH_EVERY, Job, JobAborted, JobRecord
from strata.jobs.snapshots import iso_time
from strata.jobs.templates import expand_template, is_prefix
from strata.objects.remote import remote_of, same_remote_version
from strata.objects.service import ObjectService

JOB_ID_PREFIX = "dnl-"
TYPES = ("single", "range", "multi", "backend")
DEFAULT_CONNECTIONS = 4
MAX_CONNECTIONS = 64
MAX_LISTED_TASKS = 1000  # finished tasks and errors kept per job (the counters count them all)
CONNECT_TIMEOUT = 10.0

Owns = Callable[[str], bool]


class Limits(msgspec.Struct):
    connections: int = 0
    bytes_per_hour: int = 0


class DownloadBody(msgspec.Struct):
    """The JSON of ``POST /v1/download`` (AIStore's dload body: common fields plus the type's own)."""

    type: str = ""
    description: str = ""
    bucket: dict[str, Any] | None = None
    timeout: str | int | float = ""
    progress_interval: str = ""
    limits: Limits = msgspec.field(default_factory=Limits)
    headers: dict[str, str] | None = None
    etl_name: str = ""
    etl_args: Any = None
    # single
    object_name: str = ""
    link: str = ""
    from_remote: bool = False
    # range
    template: str = ""
    subdir: str = ""
    # multi
    objects: dict[str, str] | list[str] | None = None
    # backend
    prefix: str = ""
    suffix: str = ""
    synchronize: bool = False


@dataclass(frozen=True)
class DownloadPlan:
    """A validated download request: what to fetch, into which bucket, how."""

    type: str
    bck: BucketRef
    description: str = ""
    timeout: float = 0.0  # seconds without a byte before a link fails; 0 = ``downloader.timeout``
    connections: int = DEFAULT_CONNECTIONS
    bytes_per_hour: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # single, multi: (object name, link)
    template: str = ""  # range
    subdir: str = ""
    prefix: str = ""  # backend
    suffix: str = ""
    synchronize: bool = False

    def tasks(self) -> Iterator[tuple[str, str]]:
        """``(object name, link)`` of every object of a link-based plan, in order."""
        if self.type == "range":
            for link in expand_template(self.template):
                yield _joined(self.subdir, name_of_link(link)), link
        else:
            yield from self.links

    def total(self) -> int:
        """How many objects the plan names (-1 for ``backend``: known once listed)."""
        if self.type == "range":
            return sum(1 for _ in expand_template(self.template))
        return len(self.links) if self.type != "backend" else -1


def _joined(subdir: str, name: str) -> str:
    return f"{subdir.strip('/')}/{name}" if subdir.strip("/") else name


def name_of_link(link: str) -> str:
    """The object name a link gives by default: the last segment of its path, unescaped."""
    path = urllib.parse.urlsplit(link).path
    return urllib.parse.unquote(path.rstrip("/").rpartition("/")[2]) if path else ""


def _check_link(link: str) -> str:
    parts = urllib.parse.urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f'invalid link "{link[:200]}": expected an http:// or https:// URL')
    return link


def _object_name(name: str, link: str) -> str:
    name = name or name_of_link(link)
    if not name:
        raise InvalidRequest(f'cannot name the object of "{link[:200]}": give object_name')
    return validate_object_name(name)


def bucket_of(value: dict[str, Any] | None) -> BucketRef:
    if not isinstance(value, dict) or not value.get("name"):
        raise InvalidRequest('a download needs "bucket": {"name": ..., "provider": ...}')
    namespace = value.get("namespace") or {}
    ns = f"@{namespace.get('uuid', '')}#{namespace.get('name', '')}" if namespace else ""
    return BucketRef.parse(str(value["name"]), str(value.get("provider", "") or "ais"), ns)


def parse_request(body: bytes) -> DownloadPlan:
    """The plan of a ``POST /v1/download`` body; a 400 naming what is wrong."""
    if not body.strip():
        raise InvalidRequest('missing request body: expected {"type": ..., "bucket": ...}')
    try:
        raw = msgspec.json.decode(body, type=DownloadBody, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise InvalidRequest(f"invalid download request: {error}") from None
    if raw.type not in TYPES:
        raise InvalidRequest(f'invalid download type "{raw.type}" (expected one of {", ".join(TYPES)})')
    if raw.etl_name:
        raise NotImplementedYet("downloading through an ETL is not implemented yet")
    bck = bucket_of(raw.bucket)
    connections = raw.limits.connections or DEFAULT_CONNECTIONS
    if not 0 < connections <= MAX_CONNECTIONS or raw.limits.bytes_per_hour < 0:
        raise InvalidRequest(
            f"invalid limits: connections must be within 1..{MAX_CONNECTIONS}, bytes_per_hour not negative"
        )
    timeout = 0.0
    if raw.timeout not in ("", 0):
        try:
            if isinstance(raw.timeout, str):
                timeout = parse_duration(raw.timeout)
            else:  # Go's JSON for a duration: nanoseconds
                timeout = float(raw.timeout) / 1e9
        except ValueError as error:
            raise InvalidRequest(f"invalid timeout: {error}") from None
        if timeout < 0:
            raise InvalidRequest(f"invalid timeout {raw.timeout!r}: negative")
    common: dict[str, Any] = {
        "bck": bck,
        "description": raw.description,
        "timeout": timeout,
        "connections": connections,
        "bytes_per_hour": raw.limits.bytes_per_hour,
        "headers": dict(raw.headers or {}),
    }
    if raw.type == "single":
        if not raw.link:
            raise InvalidRequest('a "single" download needs "link"')
        link = _check_link(raw.link)
        return DownloadPlan("single", links=((_object_name(raw.object_name, link), link),), **common)
    if raw.type == "multi":
        return DownloadPlan("multi", links=_multi_links(raw.objects), **common)
    if raw.type == "range":
        if not raw.template or is_prefix(raw.template):
            raise InvalidRequest('a "range" download needs "template", a URL with a {first..last} range')
        first = next(iter(expand_template(raw.template)))  # a malformed template is a 400 now
        _object_name("", _check_link(first))
        if raw.subdir:
            validate_object_name(_joined(raw.subdir, "x"))
        return DownloadPlan("range", template=raw.template, subdir=raw.subdir, **common)
    return DownloadPlan(
        "backend", prefix=raw.prefix, suffix=raw.suffix, synchronize=raw.synchronize, **common
    )


def _multi_links(objects: dict[str, str] | list[str] | None) -> tuple[tuple[str, str], ...]:
    if not objects:
        raise InvalidRequest('a "multi" download needs "objects": {name: link, ...} or [link, ...]')
    pairs = objects.items() if isinstance(objects, dict) else (("", link) for link in objects)
    return tuple((_object_name(name, _check_link(link)), link) for name, link in pairs)


# -- progress ----------------------------------------------------------------------------------------


@dataclass
class _Task:
    name: str
    total: int = -1
    downloaded: int = 0
    start_ns: int = field(default_factory=time.time_ns)
    end_ns: int = 0

    def shape(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "downloaded": str(self.downloaded),
            "total": str(max(self.total, 0)),
            "start_time": iso_time(self.start_ns),
            "end_time": iso_time(self.end_ns),
        }


class DownloadProgress:
    """A download job's counters and task lists, published in its record's ``extra["download"]``."""

    def __init__(self, job: Job, plan: DownloadPlan) -> None:
        self.job = job
        self.description = plan.description
        self.bucket = plan.bck.uri
        self.total = 0
        self.scheduled = self.finished = self.skipped = self.errors = 0
        self.all_dispatched = False
        self.current: dict[str, _Task] = {}
        self.done: collections.deque[_Task] = collections.deque(maxlen=MAX_LISTED_TASKS)
        self.failures: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._published = 0.0
        self.publish(force=True)

    def expect(self, total: int) -> None:
        """The number of objects this node will fetch, when known before they are dispatched."""
        with self._lock:
            self.total = total
        self.publish(force=True)

    def schedule(self, name: str) -> None:
        with self._lock:
            self.scheduled += 1
            self.total = max(self.total, self.scheduled)
        self.publish()

    def drop(self, name: str) -> None:
        with self._lock:
            self.current.pop(name, None)

    def dispatched(self) -> None:
        with self._lock:
            self.all_dispatched = True
        self.publish(force=True)

    def start(self, name: str, total: int = -1) -> None:
        with self._lock:
            self.current[name] = _Task(name, total)
        self.publish()

    def advance(self, name: str, nbytes: int) -> None:
        with self._lock:
            task = self.current.get(name)
            if task is not None:
                task.downloaded += nbytes
        self.publish()

    def succeeded(self, name: str, size: int) -> None:
        with self._lock:
            task = self.current.pop(name, None) or _Task(name)
            task.downloaded = task.total = size
            task.end_ns = time.time_ns()
            self.done.append(task)
            self.finished += 1
        self.job.add(1, size)
        self.publish()

    def skip(self, name: str) -> None:
        with self._lock:
            self.current.pop(name, None)
            self.skipped += 1
        self.publish()

    def fail(self, name: str, error: str) -> None:
        with self._lock:
            self.current.pop(name, None)
            self.errors += 1
            if len(self.failures) < MAX_LISTED_TASKS:
                self.failures.append({"name": name, "error": error})
        self.publish(force=True)

    def publish(self, force: bool = False) -> None:
        """Put the current state in the job record; written out now when ``force``d, else at most every
        ``FLUSH_EVERY`` seconds (the job record is what every worker process reads)."""
        now = time.monotonic()
        if not force and now - self._published < FLUSH_EVERY:
            return
        with self._lock:
            self._published = now
            state = {
                "description": self.description,
                "bucket": self.bucket,
                "total": self.total,
                "scheduled_cnt": self.scheduled,
                "finished_cnt": self.finished,
                "skipped_cnt": self.skipped,
                "error_cnt": self.errors,
                "all_dispatched": self.all_dispatched,
                "current_tasks": [task.shape() for task in self.current.values()],
                "finished_tasks": [task.shape() for task in self.done],
                "download_errors": list(self.failures),
            }
        self.job.record.extra = {"download": state}
        self.job.flush()


class _Pace:
    """``limits.bytes_per_hour``: readers wait when they are ahead of the allowed rate."""

    def __init__(self, bytes_per_hour: int) -> None:
        self.rate = bytes_per_hour / 3600.0
        self.start = time.monotonic()
        self.taken = 0
        self._lock = threading.Lock()

    def take(self, nbytes: int, job: Job) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            self.taken += nbytes
            due = self.start + self.taken / self.rate
        while (wait_s := due - time.monotonic()) > 0:
            time.sleep(min(wait_s, 0.5))
            if job.aborted():
                raise JobAborted(job.id)


# -- the work --------------------------------------------------------------------------------------------


@dataclass
class _Context:
    job: Job
    objects: ObjectService
    plan: DownloadPlan
    props: BucketProps
    progress: DownloadProgress
    pace: _Pace
    pool: urllib3.PoolManager | None = None


def run_download(
    job: Job,
    objects: ObjectService,
    plan: DownloadPlan,
    props: BucketProps,
    progress: DownloadProgress,
    *,
    default_timeout: float,
    owns: Owns | None = None,
) -> None:
    """A download job's work on this node: the plan's objects this node ``owns`` (all when None).
    ``progress`` was made when the job was (so a status query finds the job before its work starts)."""
    context = _Context(job, objects, plan, props, progress, _Pace(plan.bytes_per_hour))
    if plan.type != "backend":
        timeout = plan.timeout or default_timeout
        connect = min(CONNECT_TIMEOUT, timeout)
        transport = Transport(connect_timeout=connect, read_timeout=timeout, max_attempts=2)
        context.pool = make_pool(transport, {"Accept-Encoding": "identity"})
    try:
        if plan.type == "backend":
            seen: set[str] | None = set() if plan.synchronize else None
            _run_tasks(context, _listed(context, owns, seen), _fetch_remote)
            if seen is not None and not job.aborted():
                _drop_removed(context, seen, owns)
        else:
            progress.expect(sum(1 for name, _ in plan.tasks() if owns is None or owns(name)))
            owned = ((name, link) for name, link in plan.tasks() if owns is None or owns(name))
            _run_tasks(context, owned, _fetch_link)
    finally:
        if context.pool is not None:
            context.pool.clear()
        progress.publish(force=True)
    if job.aborted():
        raise JobAborted(job.id)


def _run_tasks(
    context: _Context, tasks: Iterator[tuple[str, Any]], fetch: Callable[[_Context, str, Any], None]
) -> None:
    """Run ``fetch`` over ``tasks`` on ``connections`` threads, never more than twice that queued."""
    job, progress = context.job, context.progress
    limit = context.plan.connections
    running: set[Future[None]] = set()
    with ThreadPoolExecutor(limit, thread_name_prefix=f"download-{job.id}") as pool:
        for name, what in tasks:
            if job.aborted():
                break
            progress.schedule(name)
            running.add(pool.submit(_one, context, name, what, fetch))
            if len(running) >= 2 * limit:
                _, pending = wait(running, return_when=FIRST_COMPLETED)
                running = set(pending)
        progress.dispatched()
        wait(running)


def _one(context: _Context, name: str, what: Any, fetch: Callable[[_Context, str, Any], None]) -> None:
    """One object: its failure is recorded, never raised (a failed link does not fail the job)."""
    job, progress = context.job, context.progress
    if job.aborted():
        return
    try:
        fetch(context, name, what)
    except JobAborted:
        progress.drop(name)  # neither done nor failed: the job stops
    except StrataError as error:
        progress.fail(name, error.message)
    except Exception as error:  # a link's failure of any kind is that link's, reported with it
        progress.fail(name, str(error) or type(error).__name__)


def _fetch_link(context: _Context, name: str, link: str) -> None:
    """GET the link and store its body as the object (skipped when that link's copy is here)."""
    job, objects, plan, progress = context.job, context.objects, context.plan, context.progress
    cached = objects.listed(plan.bck, name)
    if cached is not None and cached[1].custom.get("orig_url") == link:
        progress.skip(name)
        return
    assert context.pool is not None
    try:
        response = context.pool.request(
            "GET", link, headers=plan.headers or None, preload_content=False, redirect=True
        )
    except UNREACHABLE as error:
        raise StrataError(f"{link}: cannot be reached: {error}") from None
    try:
        if response.status >= 400:
            reason = f" {response.reason}" if response.reason else ""
            raise StrataError(f"{link}: the origin answered {response.status}{reason}")
        length = _content_length(response)
        progress.start(name, length)
        out = objects.put(plan.bck, name, context.props, size_hint=length if length >= 0 else None)
        try:
            for chunk in body_chunks(response):
                job.check()
                context.pace.take(len(chunk), job)
                out.write(chunk)
                progress.advance(name, len(chunk))
            if 0 <= length != out.size:
                raise StrataError(f"{link}: the body ended after {out.size} of {length} bytes")
            md = out.commit(custom=_link_facts(link, response))
        except BaseException:
            out.abort()
            raise
    except UNREACHABLE as error:
        raise StrataError(f"{link}: the transfer broke off: {error}") from None
    finally:
        release(response)
    progress.succeeded(name, md.size)


def _content_length(response: urllib3.BaseHTTPResponse) -> int:
    try:
        return int(response.headers.get("Content-Length", ""))
    except ValueError:
        return -1


def _link_facts(link: str, response: urllib3.BaseHTTPResponse) -> dict[str, str]:
    """Custom metadata of a downloaded object (AIStore: ``source`` web and the original URL)."""
    facts = {"source": "web", "orig_url": link}
    etag = str(response.headers.get("ETag", "")).removeprefix("W/").strip('"')
    if etag:
        facts["ETag"] = etag
    modified = response.headers.get("Last-Modified")
    if modified:
        facts["Last-Modified"] = str(modified)
    return facts


# -- backend: a remote bucket's objects --------------------------------------------------------------


def _listed(context: _Context, owns: Owns | None, seen: set[str] | None) -> Iterator[tuple[str, Any]]:
    """The remote bucket's objects under the prefix with the suffix, page by page; ``seen`` collects
    every remote name (for ``synchronize``)."""
    plan = context.plan
    remote = remote_of(plan.bck, context.props)
    if remote is None:
        raise InvalidRequest(f'a "backend" download needs a remote bucket; {plan.bck.uri} has no backend')
    token = ""
    while True:
        context.job.check()
        page = remote.backend.list_page(remote.name, plan.prefix, token)
        for entry in page.entries:
            if not entry.name.endswith(plan.suffix):
                continue
            if seen is not None:
                seen.add(entry.name)
            if owns is None or owns(entry.name):
                yield entry.name, RemoteObject(entry.name, entry.size, entry.etag, entry.version)
        token = page.next_token
        if not token:
            return


def _fetch_remote(context: _Context, name: str, listed: RemoteObject) -> None:
    """Cold GET one remote object, unless cached (and, with ``synchronize``, still the same version)."""
    objects, plan, progress = context.objects, context.plan, context.progress
    cached = objects.listed(plan.bck, name)
    if cached is not None and (not plan.synchronize or same_remote_version(cached[1], listed)):
        progress.skip(name)
        return
    progress.start(name, listed.size)
    md = objects.fetch(plan.bck, name, context.props)
    progress.succeeded(name, md.size)


def _drop_removed(context: _Context, seen: set[str], owns: Owns | None) -> None:
    """``synchronize``: cached objects (under the prefix, with the suffix) the backend no longer has."""
    plan = context.plan
    gone = [
        name
        for name in context.objects.names(plan.bck, plan.prefix)
        if name.endswith(plan.suffix) and name not in seen and (owns is None or owns(name))
    ]
    for name in gone:
        context.job.check()
        context.objects.evict(plan.bck, name, context.props)


# -- what GET /v1/download answers ----------------------------------------------------------------------


def is_download(record: JobRecord) -> bool:
    return record.kind == "download" and "download" in record.extra


def status_of(record: JobRecord, *, only_active: bool = False, brief: bool = False) -> dict[str, Any]:
    """AIStore's download job status (``brief``: the list entry, without task lists)."""
    state = record.extra.get("download", {})
    out: dict[str, Any] = {
        "id": record.id,
        "xaction_id": record.id,
        "description": state.get("description", ""),
        "bucket": state.get("bucket", ""),
        "started_time": iso_time(record.start_ns),
        "finished_time": iso_time(record.end_ns),
        "finished_cnt": state.get("finished_cnt", 0),
        "scheduled_cnt": state.get("scheduled_cnt", 0),
        "skipped_cnt": state.get("skipped_cnt", 0),
        "error_cnt": state.get("error_cnt", 0),
        "total": state.get("total", 0),
        "all_dispatched": bool(state.get("all_dispatched")) or record.finished,
        "aborted": record.aborted,
    }
    if record.abort_err:  # the job itself failed (a listing refused, the node restarted...)
        out["error"] = record.abort_err
    if not brief:
        out["current_tasks"] = state.get("current_tasks", [])
        if not only_active:
            out["finished_tasks"] = state.get("finished_tasks", [])
        out["download_errors"] = state.get("download_errors", [])
    return out


def merge_statuses(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One job's status from every target's part (a proxy adds them up)."""
    merged = dict(parts[0])
    for key in ("finished_cnt", "scheduled_cnt", "skipped_cnt", "error_cnt", "total"):
        merged[key] = sum(int(part.get(key, 0)) for part in parts)
    merged["all_dispatched"] = all(part.get("all_dispatched") for part in parts)
    merged["aborted"] = any(part.get("aborted") for part in parts)
    merged["started_time"] = min(part["started_time"] for part in parts)
    ends = [part["finished_time"] for part in parts]
    merged["finished_time"] = iso_time(0) if iso_time(0) in ends else max(ends)
    for key in ("current_tasks", "finished_tasks", "download_errors"):
        if any(key in part for part in parts):
            merged[key] = [item for part in parts for item in part.get(key, [])]
    return merged


def new_download_id(random_id: str) -> str:
    return JOB_ID_PREFIX + random_id
