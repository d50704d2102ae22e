"""What the node's automatic jobs share: one job of a kind per node, and a per-process rate limit.

The node starts some jobs by itself when a measure of its disks (``storage.capacity``) crosses a
watermark: ``lru`` above ``space.highwm`` (``jobs.lru``), ``cleanup-store`` above ``space.cleanupwm``
(``jobs.maintenance``). Whichever worker process measures first may start one; an ``flock`` on
``<kind>.lock`` in the jobs directory makes that one start, held by the job until it ends (the
descriptor is closed then, or with the process). Disks above a watermark are measured every few
seconds, so each process also considers a start at most once per ``RETRY_S``.
"""

from __future__ import annotations

import fcntl
import os

from strata.cluster.metastore import MetaStore
from strata.core.clock import SYSTEM_CLOCK, Clock
from strata.jobs.registry import JobRecord, JobRunner
from strata.objects.service import ObjectService

RETRY_S = 5.0  # an automatic start is considered at most this often per process


def try_lock(path: str) -> int | None:
    """The lock at ``path`` (an open descriptor holding it), taken without waiting; None when held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class AutoStarter:
    """The base of a node's starter of one kind of job: what it works with, its lock, its rate limit."""

    def __init__(
        self,
        runner: JobRunner,
        objects: ObjectService,
        meta: MetaStore,
        kind: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.kind = kind
        self.runner = runner
        self.objects = objects
        self.meta = meta
        self.clock = clock
        self.lock_path = os.path.join(runner.store.dir, f"{kind}.lock")
        self._quiet_until = 0.0

    def due(self) -> bool:
        """Whether this process may consider an automatic start now (then not again for ``RETRY_S``)."""
        now = self.clock.monotonic()
        if now < self._quiet_until:
            return False
        self._quiet_until = now + RETRY_S
        return True

    def lock(self) -> int | None:
        """The node's lock for this kind, taken without waiting; None when a job of it holds it."""
        return try_lock(self.lock_path)

    def last_ended(self) -> JobRecord | None:
        """The node's job of this kind that ended last, if any (reads every job record: not per request)."""
        ended = [record for record in self.runner.store.find(kind=self.kind) if record.finished]
        return max(ended, key=lambda record: record.end_ns, default=None)
