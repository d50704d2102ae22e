"""How full the node's disks are, measured cheaply, against the ``space`` watermarks.

AIStore's capacity rules (``space{cleanupwm, lowwm, highwm, out_of_space}``, percentages of each
filesystem's blocks in use, as ``statfs`` counts them: ``(blocks - bavail) * 100 / blocks``, rounded
down):

- above ``out_of_space`` on any disk, nothing new is stored: PUTs on every front and cold GETs of
  remote objects answer 507 (``InsufficientStorage``) before a byte is written;
- above ``cleanupwm``, the node's ``cleanup-store`` job starts by itself (stale work files, trash, empty
  directories: ``strata.jobs.maintenance``), at most once per ``space.dont_cleanup_time``;
- above ``highwm``, the node's ``lru`` job starts by itself and evicts cached copies of remote objects
  down to ``lowwm`` (``strata.jobs.lru``).

A "disk" is one filesystem: mountpaths on the same device are measured once and share its usage.

Measuring is a ``statvfs`` per disk, never one per request: ``check`` costs a clock read and two
comparisons. The numbers are measured again when one of these is true:

- the last measure is older than ``lru.capacity_upd_time`` (below ``lowwm``) or ``SHORT_INTERVAL_S``
  (at or above it: close to the limits, and so a disk freed by another process or worker is seen soon);
- the writes begun in this process since then (their declared sizes) could have used a good part of
  the headroom left before the next watermark (``HEADROOM_SHARE``): a big write, or many, is followed
  by a fresh measure, not by ten minutes of guessing;
- the cluster config changed (a new watermark applies at once);
- a write is about to be refused: a 507 always rests on a measure taken for it, so space freed
  meanwhile (deletes, an eviction, another process) is seen at once. Refusals are the rare path.

Each worker process keeps its own monitor; they agree within the short interval.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from typing import NamedTuple

from strata.config.cluster import ClusterConfig
from strata.core.clock import SYSTEM_CLOCK, Clock
from strata.core.errors import InsufficientStorage

log = logging.getLogger("strata.capacity")

SHORT_INTERVAL_S = 1.0
HEADROOM_SHARE = 8  # a fresh measure once this process began writes of 1/8 of the headroom left
MIN_SLACK = 64 << 10


class DiskUsage(NamedTuple):
    """One filesystem holding one or more mountpaths: its size and the bytes in use (statfs)."""

    roots: tuple[str, ...]  # the mountpaths on it
    total: int
    used: int

    @property
    def pct(self) -> int:
        """Percent of the blocks in use, rounded down (AIStore's ``PctUsed``)."""
        return self.used * 100 // self.total if self.total > 0 else 0

    def above(self, percent: int) -> int:
        """Bytes in use above ``percent`` of the disk (what has to go to get back down to it); <= 0: none."""
        return self.used - self.total * percent // 100


class Usage(NamedTuple):
    """The node's disks at one moment, and the watermarks they were measured against."""

    disks: tuple[DiskUsage, ...]
    space_cleanupwm: int
    space_lowwm: int
    space_highwm: int
    space_out_of_space: int

    @property
    def fullest(self) -> DiskUsage | None:
        return max(self.disks, key=lambda disk: disk.pct, default=None)

    @property
    def pct_max(self) -> int:
        fullest = self.fullest
        return fullest.pct if fullest is not None else 0

    @property
    def out_of_space(self) -> bool:
        return self.pct_max > self.space_out_of_space

    @property
    def high(self) -> bool:
        return self.pct_max > self.space_highwm

    @property
    def needs_cleanup(self) -> bool:
        return self.pct_max > self.space_cleanupwm


def statvfs_usage(root: str) -> tuple[int, int]:
    """``(total, used)`` bytes of the filesystem holding ``root``, as AIStore counts them."""
    fs = os.statvfs(root)
    return fs.f_blocks * fs.f_frsize, (fs.f_blocks - fs.f_bavail) * fs.f_frsize


def _device(root: str) -> int:
    try:
        return os.stat(root).st_dev
    except OSError:
        return -1


class Capacity:
    """The capacity monitor of one process (see the module docstring); thread-safe.

    ``measure`` gives ``(total, used)`` for a mountpath (``statvfs_usage``; the unit tier passes a
    small simulated disk). ``on_cleanup`` and ``on_high`` are called with the usage whenever a measure
    finds a disk above ``cleanupwm`` or ``highwm`` (the node starts its ``cleanup-store`` or ``lru`` job
    there; each rate-limits itself).
    """

    def __init__(
        self,
        roots: list[str],
        config: Callable[[], ClusterConfig],
        *,
        clock: Clock = SYSTEM_CLOCK,
        measure: Callable[[str], tuple[int, int]] = statvfs_usage,
    ) -> None:
        self._config = config
        self._clock = clock
        self.measure = measure
        self.on_high: Callable[[Usage], None] | None = None
        self.on_cleanup: Callable[[Usage], None] | None = None
        groups: dict[int, list[str]] = {}
        for root in roots:
            device = _device(root)
            groups.setdefault(device if device >= 0 else -len(groups) - 2, []).append(root)
        self._disks = [tuple(group) for group in groups.values()]
        self._lock = threading.Lock()
        self._usage: Usage | None = None
        self._seen_config: ClusterConfig | None = None
        self._due = -math.inf  # measured at the first write
        self._full = False
        self._pending = 0  # declared bytes of writes begun here since the last measure
        self._slack = 0

    def usage(self) -> Usage:
        """The last measure (taking one first when none was taken yet)."""
        usage = self._usage
        return usage if usage is not None else self.refresh()

    def refresh(self) -> Usage:
        """Measure every disk now (a ``statvfs`` each) and decide when to measure again."""
        config = self._config()
        space = config.space
        disks = []
        for roots in self._disks:
            total, used = self.measure(roots[0])
            disks.append(DiskUsage(roots, total, used))
        usage = Usage(tuple(disks), space.cleanupwm, space.lowwm, space.highwm, space.out_of_space)
        with self._lock:
            self._usage = usage
            self._seen_config = config
            self._pending = 0
            self._slack = max(min((_headroom(disk, usage) for disk in disks), default=0) // HEADROOM_SHARE,
                              MIN_SLACK)  # fmt: skip
            pct = usage.pct_max
            interval = SHORT_INTERVAL_S if pct >= space.lowwm else max(config.lru.capacity_upd_time, 1.0)
            self._due = self._clock.monotonic() + interval
            was_full, self._full = self._full, usage.out_of_space
        if usage.out_of_space and not was_full:
            log.warning("out of space: %s; writes are refused (507)", describe(usage))
        elif was_full and not usage.out_of_space:
            log.warning("space again: %s", describe(usage))
        for above, start, kind in (
            (usage.needs_cleanup, self.on_cleanup, "cleanup-store"),
            (usage.high, self.on_high, "lru"),
        ):
            if above and start is not None:
                try:
                    start(usage)
                except Exception:  # starting a job must never fail the request that measured
                    log.exception("could not start the %s job at %s", kind, describe(usage))
        return usage

    def admits(self, incoming: int = 0) -> bool:
        """Whether a new write may store anything (no disk above ``space.out_of_space``); ``incoming``
        is its declared size, counted towards the next measure (0 when unknown). Every write asks:
        a clock read and a few comparisons (~0.5 us), a measure only when one is due."""
        measured = (
            self._clock.monotonic() >= self._due
            or self._pending > self._slack
            or self._config() is not self._seen_config
        )
        if measured:
            self.refresh()
        # a refusal rests on a fresh measure: space freed meanwhile (a delete, an eviction, another
        # process) is seen at once
        if self._full and (measured or self.refresh().out_of_space):
            return False
        self._pending += incoming  # unlocked: an estimate; a lost update only delays a measure
        return True

    def check(self, what: str, incoming: int = 0) -> None:
        """``admits``, refusing with 507 (``InsufficientStorage``) naming ``what``."""
        if not self.admits(incoming):
            raise self.refusal(what)

    def refusal(self, what: str) -> InsufficientStorage:
        """The 507 for a write refused now (the fullest disk against the watermarks, without its path)."""
        return InsufficientStorage(f"{what}: out of space ({describe(self.usage(), paths=False)})")


def _headroom(disk: DiskUsage, usage: Usage) -> int:
    """Bytes the disk can take before it crosses its next watermark (0 past out_of_space)."""
    for mark in (usage.space_highwm, usage.space_out_of_space):
        if disk.pct <= mark:
            return max(-disk.above(mark + 1), 0)
    return 0


def describe(usage: Usage, *, paths: bool = True) -> str:
    """The fullest disk against the watermarks, for logs (and, without the server's paths, errors)."""
    fullest = usage.fullest
    if fullest is None:
        return "no mountpaths"
    where = ", ".join(fullest.roots) if paths else "a disk"
    return (
        f"{where} is {fullest.pct}% full; space.highwm {usage.space_highwm}%, "
        f"space.out_of_space {usage.space_out_of_space}%"
    )
