"""Node-wide jobs started by name: rebalance, resilver, cleanup-store, lru.

In embedded mode the node is the whole cluster, so rebalance has nothing to move and ends at
once; resilver (objects onto their HRW mountpath, after mountpaths change) and cleanup-store
(stale work files, trash, empty directories) do real work. The files are the storage's business:
the work goes through the object service, which walks them and yields step by step so the job can
stop between steps and count what moved.

``cleanup-store`` also starts by itself, as AIStore's does (wave-2 contract section 5.3), when a measure
of the node's disks (``storage.capacity``) finds one above ``space.cleanupwm``: ``CleanupStarter``.
Work files count as stale once ``space.dont_cleanup_time`` old (a write in progress touches its file
far more often). One such job per node at a time (``starters``), and not again before
``dont_cleanup_time`` has passed since the last one ended: what it removes only becomes stale at that
pace, while a disk above the watermark is measured every few seconds.
"""

from __future__ import annotations

import logging
import os
import time

from strata.cluster.metastore import MetaStore
from strata.core.clock import SYSTEM_CLOCK, Clock
from strata.core.errors import TooManyRequests
from strata.core.names import BucketRef
from strata.jobs.registry import Job, JobRunner
from strata.jobs.starters import AutoStarter
from strata.objects.service import ObjectService
from strata.storage.capacity import Usage, describe

log = logging.getLogger("strata.cleanup")

CLEANUP_KIND = "cleanup-store"


def resilver(job: Job, objects: ObjectService, buckets: list[BucketRef]) -> None:
    """Move every object that is not on its HRW mountpath there (rename when possible)."""
    for bck in buckets:
        for moved in objects.resilver(bck):
            job.check()
            if moved is not None:
                job.add(1, moved)


def cleanup_store(job: Job, objects: ObjectService, buckets: list[BucketRef], stale_after: float) -> None:
    """Remove work files not changed for ``stale_after`` seconds, emptied trash, and empty virtual
    directories."""
    for removed in objects.cleanup(buckets, time.time() - stale_after):
        if removed is None:
            job.check()
        else:
            job.add(1, removed)


class CleanupStarter(AutoStarter):
    """Starts ``cleanup-store`` over every bucket when a disk is above ``space.cleanupwm`` (see the
    module docstring); ``on_above`` is the capacity monitor's callback."""

    def __init__(
        self, runner: JobRunner, objects: ObjectService, meta: MetaStore, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        super().__init__(runner, objects, meta, CLEANUP_KIND, clock=clock)
        # before this time a cleanup is known to have run within dont_cleanup_time: a disk that stays
        # above the watermark costs no look at the job records (every record file is read) until then
        self._next_look_ns = 0

    def on_above(self, usage: Usage) -> None:
        if not self.due() or time.time_ns() < self._next_look_ns:
            return
        stale_after = self.meta.config().space.dont_cleanup_time
        if self._ran_within(stale_after):
            return
        lock = self.lock()
        if lock is None:
            return  # running (started by another worker process of the node)
        try:
            if self._ran_within(stale_after):  # ended in another process since the first look
                os.close(lock)
                return
            job = self.runner.create(CLEANUP_KIND)
            self._next_look_ns = time.time_ns() + int(stale_after * 1e9)
        except TooManyRequests:
            os.close(lock)
            return  # overloaded: a later measure tries again
        except BaseException:
            os.close(lock)
            raise
        log.warning(
            "starting store cleanup: %s; space.cleanupwm %d%%", describe(usage), usage.space_cleanupwm
        )
        buckets = self.meta.bmd().refs()
        work = lambda job: cleanup_store(job, self.objects, buckets, stale_after)  # noqa: E731
        self.runner.start(job, work, ended=lambda: os.close(lock))

    def _ran_within(self, seconds: float) -> bool:
        """Whether a cleanup-store job of this node ended less than ``seconds`` ago (one running now
        holds the lock)."""
        last = self.last_ended()
        last_end = last.end_ns if last is not None else 0
        if time.time_ns() - last_end < seconds * 1e9:
            self._next_look_ns = last_end + int(seconds * 1e9)
            return True
        return False
