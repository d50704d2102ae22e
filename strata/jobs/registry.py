"""Jobs (AIStore's xactions): one life cycle, one snapshot shape, visible from every worker.

Life cycle::

    created -> running -> (idle <-> running)* -> finished | aborted (with abort_err when it failed)

A job runs in the worker process that started it (in a thread). Its state is a small JSON record
in the node's jobs directory, rewritten atomically on every change of state and at most every
``FLUSH_EVERY`` seconds while counters move, so any worker can answer status and qryxstats.
Aborting writes a marker file next to the record; the running job sees it at its next
``check()`` and stops. A record left "running" by a process that no longer exists reads as
aborted ("the process running it exited"), so a crash never leaves a job running forever.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from strata.core.errors import Conflict, InvalidRequest, NotFound
from strata.core.names import BucketRef
from strata.jobs.load import LoadMonitor

FLUSH_EVERY = 0.25
_RECEIVED = struct.Struct("<QQ")  # objects, bytes
KEEP_FINISHED_S = 3600.0
KEEP_FINISHED_MAX = 500
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class JobAborted(Exception):
    """Raised inside a job's work when it has been asked to stop."""


class JobRecord(msgspec.Struct, omit_defaults=True):
    """What the jobs directory holds for one job (internal; the wire shape is ``JobSnap``)."""

    id: str
    kind: str
    node_id: str
    pid: int
    start_ns: int
    end_ns: int = 0
    bck: str = ""  # BucketRef.key
    src_bck: str = ""
    dst_bck: str = ""
    aborted: bool = False
    abort_err: str = ""
    idle: bool = False
    objects: int = 0
    bytes: int = 0
    in_objects: int = 0
    in_bytes: int = 0
    out_objects: int = 0
    out_bytes: int = 0
    extra: dict[str, Any] = {}

    @property
    def finished(self) -> bool:
        return self.end_ns != 0


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(JobRecord).decode


_JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _checked_id(job_id: str) -> str:
    """Job ids name files: only letters, digits, ``-`` and ``_`` (ids come from clients too)."""
    if not _JOB_ID_RE.fullmatch(job_id):
        raise InvalidRequest(f'invalid job id "{job_id[:80]}"')
    return job_id


def new_job_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


class Job:
    """The live handle of a running job: counters, idle flag, abort checks, the final state."""

    def __init__(self, store: JobStore, record: JobRecord) -> None:
        self.store = store
        self.record = record
        self.throttle: Callable[[], None] = _no_throttle  # set by the runner: the node's load vector
        self._lock = threading.Lock()
        self._last_flush = 0.0
        self._abort_path = store.abort_path(record.id)

    @property
    def id(self) -> str:
        return self.record.id

    def add(self, objects: int = 0, nbytes: int = 0, *, direction: str = "loc") -> None:
        """Count work done: ``loc`` (local), ``in`` (received), ``out`` (sent)."""
        with self._lock:
            rec = self.record
            if direction == "loc":
                rec.objects += objects
                rec.bytes += nbytes
            elif direction == "in":
                rec.in_objects += objects
                rec.in_bytes += nbytes
            else:
                rec.out_objects += objects
                rec.out_bytes += nbytes
        self._maybe_flush()

    def set_idle(self, idle: bool) -> None:
        with self._lock:
            changed = self.record.idle != idle
            self.record.idle = idle
        if changed:
            self.flush()

    def aborted(self) -> bool:
        return os.path.exists(self._abort_path)

    def check(self) -> None:
        """Call between units of work: yields to the node's load, raises ``JobAborted`` once asked to stop."""
        self.throttle()
        if self.aborted():
            raise JobAborted(self.id)

    def finish(self, error: str = "") -> None:
        with self._lock:
            rec = self.record
            if rec.end_ns:
                return
            rec.end_ns = time.time_ns()
            if error:
                rec.abort_err = error
                rec.aborted = True
            elif self.aborted():
                rec.aborted = True
            rec.idle = True
        self.flush()

    def _maybe_flush(self) -> None:
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            data = _encode(self.record)
            self._last_flush = time.monotonic()
        self.store.write(self.record.id, data)


class JobStore:
    """The node's jobs directory: one JSON record per job plus abort markers."""

    def __init__(self, jobs_dir: str, node_id: str) -> None:
        self.dir = jobs_dir
        self.node_id = node_id
        os.makedirs(jobs_dir, exist_ok=True)

    def record_path(self, job_id: str) -> str:
        return os.path.join(self.dir, f"{_checked_id(job_id)}.json")

    def abort_path(self, job_id: str) -> str:
        return os.path.join(self.dir, f"{_checked_id(job_id)}.abort")

    def write(self, job_id: str, data: bytes) -> None:
        tmp = os.path.join(self.dir, f".{job_id}.{os.getpid()}.{threading.get_ident()}")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.record_path(job_id))

    # -- creating -------------------------------------------------------------------------------

    def create(
        self,
        kind: str,
        *,
        bck: BucketRef | None = None,
        src: BucketRef | None = None,
        dst: BucketRef | None = None,
        job_id: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Job:
        record = JobRecord(
            id=job_id or new_job_id(),
            kind=kind,
            node_id=self.node_id,
            pid=os.getpid(),
            start_ns=time.time_ns(),
            bck=bck.key if bck else "",
            src_bck=src.key if src else "",
            dst_bck=dst.key if dst else "",
            extra=extra or {},
        )
        job = Job(self, record)
        job.flush()
        return job

    # -- reading ---------------------------------------------------------------------------------

    def load(self, job_id: str) -> JobRecord | None:
        if not _JOB_ID_RE.fullmatch(job_id):
            return None
        try:
            with open(self.record_path(job_id), "rb") as f:
                record = _decode(f.read())
        except (FileNotFoundError, msgspec.DecodeError):
            return None
        received = self._received(job_id)
        if received is not None:
            record.in_objects += received[0]
            record.in_bytes += received[1]
        return _settle_orphan(record)

    # -- what other processes received for a job (rebalance: objects sent here by peers) -------------

    def received_path(self, job_id: str) -> str:
        return os.path.join(self.dir, f"{_checked_id(job_id)}.in")

    def add_received(self, job_id: str, objects: int, nbytes: int) -> None:
        """Count objects that arrived for a job this node runs elsewhere (any worker may call this)."""
        fd = os.open(self.received_path(job_id), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = _RECEIVED.unpack(os.pread(fd, _RECEIVED.size, 0).ljust(_RECEIVED.size, b"\0"))
            os.pwrite(fd, _RECEIVED.pack(current[0] + objects, current[1] + nbytes), 0)
        finally:
            os.close(fd)

    def _received(self, job_id: str) -> tuple[int, int] | None:
        try:
            with open(self.received_path(job_id), "rb") as f:
                data = f.read(_RECEIVED.size)
        except FileNotFoundError:
            return None
        if len(data) != _RECEIVED.size:
            return None
        objects, nbytes = _RECEIVED.unpack(data)
        return objects, nbytes

    def all(self) -> Iterator[JobRecord]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                record = self.load(name[:-5])
                if record is not None:
                    yield record

    def find(
        self, *, job_id: str = "", kind: str = "", bck: BucketRef | None = None, running_only: bool = False
    ) -> list[JobRecord]:
        """Jobs matching every given filter, oldest first."""
        if job_id:
            record = self.load(job_id)
            candidates = [record] if record is not None else []
        else:
            candidates = list(self.all())
        out = []
        for record in candidates:
            if kind and record.kind != kind:
                continue
            if bck is not None and bck.key not in (record.bck, record.src_bck, record.dst_bck):
                continue
            if running_only and record.finished:
                continue
            out.append(record)
        out.sort(key=lambda r: r.start_ns)
        return out

    def request_abort(self, job_id: str) -> JobRecord:
        record = self.load(job_id)
        if record is None:
            raise NotFound(f'job "{job_id}" not found')
        if not record.finished:
            with open(self.abort_path(job_id), "w"):
                pass
        return record

    # -- housekeeping -----------------------------------------------------------------------------

    def settle_after_restart(self) -> int:
        """At start-up no job can be running: mark the leftovers aborted. Returns how many."""
        count = 0
        for record in self.all():
            if not record.finished:
                record.end_ns = time.time_ns()
                record.aborted = True
                record.abort_err = record.abort_err or "the node restarted while the job was running"
                self.write(record.id, _encode(record))
                count += 1
        self.prune()
        return count

    def prune(self) -> None:
        now = time.time_ns()
        finished = sorted((r for r in self.all() if r.finished), key=lambda r: r.end_ns, reverse=True)
        for n, record in enumerate(finished):
            if n >= KEEP_FINISHED_MAX or now - record.end_ns > KEEP_FINISHED_S * 1e9:
                for path in (
                    self.record_path(record.id),
                    self.abort_path(record.id),
                    self.received_path(record.id),
                ):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass


def _settle_orphan(record: JobRecord) -> JobRecord:
    """A record still "running" whose process is gone reads as aborted."""
    if record.finished:
        return record
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        record.end_ns = time.time_ns()
        record.aborted = True
        record.abort_err = "the process running the job exited"
    except PermissionError:
        pass
    return record


def _no_throttle() -> None:
    return None


class JobRunner:
    """Creates jobs (admitted by the node's load), runs them on threads, records how they end."""

    def __init__(self, store: JobStore, load: LoadMonitor | None = None, max_threads: int = 4) -> None:
        self.store = store
        self.load = load
        self._sem = threading.BoundedSemaphore(max_threads)

    def create(
        self,
        kind: str,
        *,
        bck: BucketRef | None = None,
        src: BucketRef | None = None,
        dst: BucketRef | None = None,
        job_id: str = "",
    ) -> Job:
        """A new job, unless the node is overloaded (429 with Retry-After: the SDK retries).

        In a cluster the proxy names the job (``job_id``, sent to targets as ``?xid=``) so that every
        target's part of it shares one id; otherwise a new id is made.
        """
        if self.load is not None:
            self.load.admit(f'starting a "{kind}" job')
        job = self.store.create(kind, bck=bck, src=src, dst=dst, job_id=job_id)
        if self.load is not None:
            job.throttle = self.load.throttle
        return job

    def start(self, job: Job, work: Callable[[Job], None], ended: Callable[[], None] | None = None) -> None:
        """Run ``work`` on a thread; ``ended`` (e.g. releasing a lock the job holds) runs once the job has
        finished, however it ended -- also when it was aborted before its work began."""

        def run() -> None:
            with self._sem:
                try:
                    job.check()
                    work(job)
                except JobAborted:
                    job.finish()
                except Exception as exc:  # the job failed: record why, never kill the worker
                    job.finish(error=str(exc) or type(exc).__name__)
                else:
                    job.finish()
                finally:
                    if ended is not None:
                        ended()

        threading.Thread(target=run, name=f"job-{job.record.kind}-{job.id}", daemon=True).start()

    def ensure_no_conflict(self, kind: str, bck: BucketRef) -> None:
        """One job of a kind per bucket at a time (AIStore's "renew" rule for bucket jobs)."""
        running = self.store.find(kind=kind, bck=bck, running_only=True)
        if running:
            raise Conflict(f'{bck.uri}: a "{kind}" job ({running[0].id}) is already running')
