"""The ``lru`` job (display ``lru-eviction``): evict the least recently read cached copies of remote
objects until every disk is back down to ``space.lowwm``.

What goes, as AIStore's LRU decides it (spec: wave-2 contract section 5.3):

- per disk (a filesystem holding mountpaths), the bytes in use above ``lowwm`` are the amount to free;
- buckets largest first (the savings ledger's stored bytes); only buckets with a backend -- a cloud
  bucket or an ``ais://`` bucket with a ``backend_bck`` -- ever: their objects are copies and the
  backend keeps the data. A plain ``ais://`` bucket holds the only copy and is never touched, ``force``
  or not. Of those, buckets with ``lru.enabled`` and ``access`` allowing DELETE-OBJECT, or with
  ``force`` (``?frc=true``) every bucket named;
- objects read within the bucket's ``lru.dont_evict_time`` stay; the rest go oldest access first, from
  a heap that keeps the ``lru.batch_size`` oldest of one walk (bounded memory for any bucket; another
  walk follows while more must go); an object read since the walk saw it is spared;
- removal is the store's delete: under the object's lock, with the savings ledger in the same step.

Started by name (``PUT /v1/cluster {"action": "start", "value": {"Kind": "lru", "Buckets": [...]}}``), or
by the node itself when a measure of its disks finds one above ``space.highwm`` (``LruStarter.on_high``,
called by ``storage.capacity``). One ``lru`` job per node at a time, across its worker processes: the
job holds an ``flock`` on ``lru.lock`` in the jobs directory for as long as it runs. An automatic run
that freed nothing is not repeated before ``lru.capacity_upd_time`` has passed (everything cached was
read recently: walking again every second would free nothing either).
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections.abc import Iterable, Iterator

from strata.cluster.metastore import MetaStore
from strata.config.access import ACCESS_DELETE_OBJECT
from strata.config.bucket_props import BucketProps
from strata.core.clock import SYSTEM_CLOCK, Clock
from strata.core.errors import Conflict, InvalidRequest, TooManyRequests
from strata.core.names import BucketRef
from strata.jobs.registry import Job, JobRunner
from strata.jobs.starters import AutoStarter
from strata.objects.remote import remote_of
from strata.objects.service import ObjectService
from strata.storage.capacity import DiskUsage, Usage, describe
from strata.storage.eviction import CachedObject

log = logging.getLogger("strata.lru")

KIND = "lru"
DEFAULT_BATCH = 32768
CHECK_EVERY = 256  # walk steps between two abort checks
LOCK_WAIT_S = 1.0  # a start by name waits this long for a job that just finished to let go of the lock

Target = tuple[BucketRef, BucketProps]


def evictable(bck: BucketRef, props: BucketProps, *, force: bool) -> bool:
    """Whether the job may evict the bucket's objects: cached copies only (a backend behind it), and
    ``lru.enabled`` with DELETE-OBJECT access unless forced."""
    if remote_of(bck, props) is None:
        return False
    return force or (props.lru.enabled and bool(props.access & ACCESS_DELETE_OBJECT))


def evict(job: Job, objects: ObjectService, targets: list[Target]) -> None:
    """The job's work: bring every disk above ``lowwm`` back down to it, from ``targets``' objects."""
    objects.write_access_times()  # this process's pending notes: the walk must see them
    usage = objects.disk_usage(fresh=True)
    if usage is None or not targets:
        return
    ordered = _largest_first(objects, targets)
    for disk in usage.disks:
        if disk.above(usage.space_lowwm) > 0:
            _evict_disk(job, objects, disk, disk.above(usage.space_lowwm), ordered)
    after = objects.disk_usage(fresh=True)
    if after is not None:
        log.info("lru job %s done: %d object(s), %d byte(s) evicted; %s",
                 job.id, job.record.objects, job.record.bytes, describe(after))  # fmt: skip


def _largest_first(objects: ObjectService, targets: list[Target]) -> list[Target]:
    ledger = objects.ledger
    sizes = ledger.totals() if ledger is not None else {}
    return sorted(
        targets, key=lambda target: -sizes[target[0].uri].stored_bytes if target[0].uri in sizes else 0
    )


def _evict_disk(
    job: Job, objects: ObjectService, disk: DiskUsage, remaining: int, targets: list[Target]
) -> None:
    """Evict from ``targets`` in order until the disk is back down to ``lowwm``: ``remaining`` bytes by
    the first measure, measured again after every batch (writes that were in flight when the job
    began, or came meanwhile, count too)."""
    for bck, props in targets:
        cutoff = time.time_ns() - int(props.lru.dont_evict_time * 1e9)
        batch_size = props.lru.batch_size or DEFAULT_BATCH
        while remaining > 0:
            evicted = 0
            for found in _oldest(job, objects.cached_objects(bck, disk.roots), cutoff, batch_size):
                job.check()
                freed = objects.evict_unread(bck, found)
                if freed:
                    job.add(1, freed)
                    evicted += 1
                    remaining -= freed
                    if remaining <= 0:
                        break
            remaining = _measured(objects, disk)
            if not evicted:
                break  # nothing (more) this bucket may give
        if remaining <= 0:
            return


def _oldest(
    job: Job, walk: Iterator[CachedObject | None], cutoff_ns: int, batch_size: int
) -> list[CachedObject]:
    """The ``batch_size`` objects of the walk last read longest ago, before ``cutoff_ns``, oldest first
    (a max-heap on access time: memory for one batch whatever the bucket's size)."""
    heap: list[tuple[int, CachedObject]] = []
    for step, found in enumerate(walk):
        if step % CHECK_EVERY == 0:
            job.check()
        if found is None or found.atime_ns >= cutoff_ns:
            continue
        if len(heap) < batch_size:
            heapq.heappush(heap, (-found.atime_ns, found))
        elif -heap[0][0] > found.atime_ns:
            heapq.heapreplace(heap, (-found.atime_ns, found))
    return sorted(found for _key, found in heap)


def _measured(objects: ObjectService, disk: DiskUsage) -> int:
    """Bytes still to free on ``disk``, measured again."""
    usage = objects.disk_usage(fresh=True)
    if usage is None:
        return 0
    for now in usage.disks:
        if now.roots == disk.roots:
            return now.above(usage.space_lowwm)
    return 0


class LruStarter(AutoStarter):
    """Starts the node's ``lru`` job: by name, or by itself above ``space.highwm`` (see the module)."""

    def __init__(
        self, runner: JobRunner, objects: ObjectService, meta: MetaStore, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        super().__init__(runner, objects, meta, KIND, clock=clock)

    def targets(self, named: Iterable[BucketRef] | None, *, force: bool) -> list[Target]:
        """The buckets the job may evict from: every bucket of the BMD that qualifies, or those named
        (a named bucket without a backend is refused: its objects are the only copy)."""
        bmd = self.meta.bmd()
        if named is None:
            found = [(bck, bmd.get(bck)) for bck in bmd.refs()]
            return [
                (bck, props)
                for bck, props in found
                if props is not None and evictable(bck, props, force=False)
            ]
        targets = []
        for bck in named:
            props = bmd.require(bck)
            if remote_of(bck, props) is None:
                raise InvalidRequest(
                    f"{bck.uri}: lru evicts cached copies of remote objects only; "
                    "this bucket has no backend (its objects are the only copy)"
                )
            if evictable(bck, props, force=force):
                targets.append((bck, props))
        return targets

    def start(self, named: list[BucketRef] | None = None, *, force: bool = False, job_id: str = "") -> str:
        """Start the job (by name); the id of the one already running if there is one."""
        targets = self.targets(named, force=force)
        deadline = time.monotonic() + LOCK_WAIT_S
        while (lock := self.lock()) is None:
            running = self.runner.store.find(kind=KIND, running_only=True)
            if running:
                return running[-1].id
            if time.monotonic() >= deadline:  # held, yet no job runs: one starting or just ended
                raise Conflict('an "lru" job is starting or ending on this node; retry')
            time.sleep(0.01)
        return self._run(lock, targets, named[0] if named and len(named) == 1 else None, job_id)

    def on_high(self, usage: Usage) -> None:
        """A measure found a disk above ``highwm``: start the job unless one runs, or one that freed
        nothing ended less than ``lru.capacity_upd_time`` ago."""
        if not self.due():
            return
        targets = self.targets(None, force=False)  # from the BMD in memory: before any file is read
        if not targets:
            return  # nothing here may be evicted (plain ais buckets only, or lru disabled)
        if self._recently_fruitless():
            return
        lock = self.lock()
        if lock is None:
            return  # running (in this process or another worker)
        log.warning("starting lru eviction: %s", describe(usage))
        try:
            self._run(lock, targets, None, "")
        except TooManyRequests:
            return  # overloaded: the next measure tries again (the lock was released by _run)

    def _recently_fruitless(self) -> bool:
        last = self.last_ended()
        window_ns = self.meta.config().lru.capacity_upd_time * 1e9
        return last is not None and last.objects == 0 and time.time_ns() - last.end_ns < window_ns

    def _run(self, lock: int, targets: list[Target], bck: BucketRef | None, job_id: str) -> str:
        """Create and start the job; it holds ``lock`` until it ends."""
        try:
            job = self.runner.create(KIND, bck=bck, job_id=job_id)
        except BaseException:
            os.close(lock)
            raise
        self.runner.start(job, lambda job: evict(job, self.objects, targets), ended=lambda: os.close(lock))
        return job.id
