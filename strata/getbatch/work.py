"""Each GetBatch request is a work item of the node's ``get-batch`` job (AIStore's x-moss).

One job per worker process serves every request: it is running-and-idle between requests (the SDK's
``job.wait()`` waits for two idle snapshots in a row, as for AIStore's x-moss), busy while work items
are in flight, and counts the objects and bytes they send. An aborted or finished job is replaced by a
new one at the next request.

Admission (before any work): 429 with ``Retry-After`` when the node's load vector is critical (memory,
CPU, disk or file descriptors) or when ``MAX_PENDING`` work items are already in flight in this
process. While streaming, a work item yields to the loop every few items and pauses briefly when the
load is high (counted in ``getbatch_throttle_ns``). Counters go to the job and to Prometheus
(``ais_target_getbatch_*``) every ``TALLY_EVERY`` entries and at the end.

Page-cache warm-up (``get_batch.warmup_workers`` > 0): a small thread pool per process opens the next
block of entries and asks the kernel to read them ahead (``posix_fadvise(WILLNEED)``) while the writer
is busy with the current block; at most one block per request is in flight, so it never runs away.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor

from strata.archive import Output
from strata.config.cluster import ClusterConfig
from strata.core.errors import TooManyRequests
from strata.core.metrics import Metrics
from strata.getbatch.assembler import Tally
from strata.getbatch.model import Entry
from strata.getbatch.sources import EntrySource
from strata.jobs.load import CRITICAL, HIGH, LoadMonitor
from strata.jobs.registry import Job, JobAborted, JobRunner

MAX_PENDING = 32  # work items in flight per worker process before new ones get 429
YIELD_EVERY = 32  # output items between turns given to other connections
ABORT_CHECK_EVERY = 256  # output items between checks of the job's abort marker
_PAUSE_S = {HIGH: 0.002, CRITICAL: 0.02}
_CLIENT_GONE = ConnectionResetError("the response was not sent to the end (the client went away)")


class GetBatchService:
    """Per-node (per worker process) state: the current job, the count of work items, the warm-up pool."""

    def __init__(
        self, runner: JobRunner, load: LoadMonitor, metrics: Metrics, config: Callable[[], ClusterConfig]
    ) -> None:
        self.runner = runner
        self.load = load
        self.metrics = metrics
        self.config = config
        self.job: Job | None = None
        self.pending = 0
        self._warm_pool: ThreadPoolExecutor | None = None
        self._warm_workers = 0

    def begin(self) -> WorkItem:
        """Admit a new work item (or raise 429) and mark the job busy."""
        # 1. admission: too many in flight here, or the node's load is critical
        if self.pending >= MAX_PENDING:
            raise TooManyRequests(
                f"get-batch: {self.pending} work items already in flight on this node; retry later",
                retry_after=1,
            )
        self.load.admit("get-batch")
        # 2. the job this work item belongs to
        job = self.job
        if job is None or job.record.finished or job.aborted():
            if job is not None:
                job.finish()
            job = self.job = self.runner.create("get-batch")
        self.pending += 1
        if self.pending == 1:
            job.set_idle(False)
        self.metrics.add("getbatch_count")
        return WorkItem(self, job)

    def end(self, job: Job) -> None:
        self.pending -= 1
        if self.pending == 0 and job is self.job:
            job.set_idle(True)

    def warm_pool(self) -> ThreadPoolExecutor | None:
        workers = self.config().get_batch.warmup_workers
        if workers <= 0:
            return None
        if self._warm_pool is None or self._warm_workers != workers:
            if self._warm_pool is not None:
                self._warm_pool.shutdown(wait=False)
            self._warm_pool = ThreadPoolExecutor(workers, thread_name_prefix="getbatch-warm")
            self._warm_workers = workers
        return self._warm_pool


class WorkItem:
    """One request's life: counters into the job and metrics, pacing, and exactly one ``finish``."""

    def __init__(self, service: GetBatchService, job: Job) -> None:
        self.service = service
        self.job = job
        self.metrics = service.metrics
        self.load = service.load
        metrics = self.metrics
        self.tally = Tally(lambda tally: _count(metrics, job, tally))  # no cycle back to self: see __del__
        self.finished = False
        self._warming: Future[None] | None = None

    @property
    def job_id(self) -> str:
        return self.job.id

    def warmer(self, source: EntrySource) -> Callable[[list[Entry]], None] | None:
        """A callback the assembler calls with the next block of entries, or None when warm-up is off."""
        pool = self.service.warm_pool()
        if pool is None:
            return None

        def warm(block: list[Entry]) -> None:
            if block and (self._warming is None or self._warming.done()):
                self._warming = pool.submit(_warm_block, source, block)

        return warm

    async def pace(self, count: int) -> None:
        """Between output items: let other connections run; slow down under load; stop if aborted."""
        if count % ABORT_CHECK_EVERY == 0 and self.job.aborted():
            raise JobAborted(self.job.id)
        pause = _PAUSE_S.get(self.load.vector().level, 0.0)
        if not pause:
            await asyncio.sleep(0)
            return
        started = time.monotonic_ns()
        await asyncio.sleep(pause)
        self.metrics.add("getbatch_throttle_ns", time.monotonic_ns() - started)

    def finish(self, error: BaseException | None) -> None:
        if self.finished:
            return
        self.finished = True
        if error is not None:
            self.metrics.add("err_getbatch_count")
        self.service.end(self.job)

    def __del__(self) -> None:
        # A request cancelled before its handler ran (the client left at once) never reaches a
        # ``finally``; it must still leave the in-flight count.
        if not self.finished:
            self.finish(_CLIENT_GONE)


_END = object()


def _next_or_end(items: Generator[Output, None, None]) -> object:
    """``next()`` for a thread: StopIteration cannot cross into a future, so the end is a sentinel."""
    try:
        return next(items)
    except StopIteration:
        return _END


class BatchStream:
    """The body of a streamed batch: the items produced before the status line, then the rest, paced.

    A class rather than an async generator so that ``close()`` always ends the work item -- also when
    the server drops the response without ever iterating it (the client went away first), which would
    never run an unstarted generator's ``finally``.
    """

    def __init__(
        self,
        work: WorkItem,
        head: list[Output],
        rest: Generator[Output, None, None] | None,
        *,
        threaded: bool = False,
    ) -> None:
        # threaded: the producer may wait on peers (a cluster's designated target), so it runs on a
        # thread and the event loop keeps serving other requests meanwhile
        self.threaded = threaded
        self.work = work
        self.head = collections.deque(head)
        self.rest = rest
        self.count = 0
        self.closed = False

    def __aiter__(self) -> BatchStream:
        return self

    async def __anext__(self) -> Output:
        if self.head:
            return self.head.popleft()
        if self.rest is None or self.closed:
            self.close(None)
            raise StopAsyncIteration
        self.count += 1
        try:
            if self.count % YIELD_EVERY == 0:
                await self.work.pace(self.count)
            if self.threaded:
                item = await asyncio.get_running_loop().run_in_executor(None, _next_or_end, self.rest)
                if item is _END:
                    raise StopIteration
                return item  # type: ignore[return-value]
            return next(self.rest)
        except StopIteration:
            self.close(None)
            raise StopAsyncIteration from None
        except BaseException as exc:
            self.close(exc)
            raise

    def close(self, error: BaseException | None = _CLIENT_GONE) -> None:
        """End the work item (the server calls this with no argument when it stops sending)."""
        if self.closed:
            return
        self.closed = True
        self.head.clear()
        if self.rest is not None:
            self.rest.close()
        self.work.finish(error)

    def __del__(self) -> None:
        self.close()


def _count(metrics: Metrics, job: Job, tally: Tally) -> None:
    add = metrics.add
    if tally.objects:
        add("getbatch_obj_count", tally.objects)
        add("getbatch_obj_bytes", tally.obj_bytes)
    if tally.files:
        add("getbatch_file_count", tally.files)
        add("getbatch_file_bytes", tally.file_bytes)
    if tally.soft_errors:
        add("err_soft_getbatch_count", tally.soft_errors)
    if tally.objects or tally.files:
        job.add(tally.objects + tally.files, tally.obj_bytes + tally.file_bytes)


def _warm_block(source: EntrySource, block: list[Entry]) -> None:
    for entry in block:
        source.warm(entry)
