"""Per-object write locks that hold across threads and worker processes.

Read-modify-write steps on one object -- "read the previous version, publish the next one",
"read the metadata, merge, write it back" -- must not interleave, or versions are lost and a
metadata patch can land on another version's bytes. Reads need no lock (rename is atomic).

Locks are striped: an object's name hashes to one of ``STRIPES`` lock files, each guarded by a
``flock`` (between processes) and a ``threading.Lock`` (between threads of one process, which
share the flock). Two objects may share a stripe; that only serializes them, briefly.

A stripe is also the unit of the savings ledger's crash recovery (``strata.storage.ledger``): a
``StripeGuard`` sees every stripe right after it is taken and settles what a writer that died holding
it left behind. Several stripes are always taken in ascending order (``hold_pair``, ``hold_all``), so
holders never deadlock.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import weakref
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from strata.storage.bookkeeping import Bookkeeper

STRIPES = 256

# how many forks this process is from the one that imported the module: a descriptor opened for flock
# belongs to the process that opened it (a check without a getpid system call on every lock)
FORKS = [0]


def _forked() -> None:
    FORKS[0] += 1


os.register_at_fork(after_in_child=_forked)


def _close_fds(fds: list[int], forks: int) -> None:
    """Close the lock files in ``fds`` if this process opened them (``forks``), and forget them."""
    if forks == FORKS[0]:
        for fd in fds:
            if fd >= 0:
                os.close(fd)
    fds[:] = [-1] * STRIPES


class StripeGuard(Protocol):
    def ready(self, stripes: tuple[int, ...]) -> bool:
        """Called with the stripes just taken: settle what a dead holder left; False when a whole-bucket
        change must be finished first (the stripes are then released and ``finish`` is called)."""
        ...

    def finish(self) -> None:
        """Finish what a dead whole-bucket change left (called holding no stripe)."""
        ...


def stripe_of(key: str) -> int:
    return zlib.crc32(key.encode(errors="surrogateescape")) % STRIPES


class ObjectLocks:
    def __init__(self, lock_dir: str) -> None:
        os.makedirs(lock_dir, exist_ok=True)
        self.dir = lock_dir
        self._threads = [threading.Lock() for _ in range(STRIPES)]
        self._fds: list[int] = [-1] * STRIPES
        self._forks = FORKS[0]
        # a store dropped without ``close`` (tests build many) must not keep up to 256 descriptors open
        self._finalizer = weakref.finalize(self, _close_fds, self._fds, self._forks)
        self.guard: Bookkeeper | None = None  # a ``StripeGuard``
        # where the guard's "something to settle" bytes are (``watch``): checked without a call
        self._flags: bytes | bytearray | mmap.mmap = b"\0"
        self._op_at = self._slots_at = self._slot_size = 0

    def watch(
        self,
        guard: Bookkeeper | None,
        flags: mmap.mmap | None = None,
        op_at: int = 0,
        slots_at: int = 0,
        slot_size: int = 0,
    ) -> None:
        """Install the guard; ``flags`` holds a byte at ``op_at`` and one per stripe at ``slots_at +
        stripe * slot_size``, non-zero when the guard has something to settle there."""
        self.guard = guard
        if flags is not None:
            self._flags, self._op_at, self._slots_at, self._slot_size = flags, op_at, slots_at, slot_size

    def _fd(self, stripe: int) -> int:
        if self._forks != FORKS[0]:  # forked: flock belongs to the open file, so reopen per process
            self._finalizer.detach()  # the inherited descriptors are the parent's business
            self._fds = [-1] * STRIPES
            self._forks = FORKS[0]
            self._finalizer = weakref.finalize(self, _close_fds, self._fds, self._forks)
        fd = self._fds[stripe]
        if fd < 0:
            fd = os.open(
                os.path.join(self.dir, f"{stripe:02x}"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
            self._fds[stripe] = fd
        return fd

    def close(self) -> None:
        """Close the lock files this process opened (a supervisor before it forks the workers)."""
        _close_fds(self._fds, self._forks)

    @contextmanager
    def _take(self, stripe: int) -> Iterator[None]:
        with self._threads[stripe]:
            fd = self._fd(stripe)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def hold(self, key: str) -> AbstractContextManager[int]:
        """Hold the stripe of ``key``; yields the stripe number."""
        return self.hold_stripe(stripe_of(key))

    @contextmanager
    def hold_stripe(self, stripe: int) -> Iterator[int]:
        while True:
            with self._threads[stripe]:  # ``_take``, written out: every object change comes here
                fd = self._fd(stripe)
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    guard = self.guard
                    if guard is None:
                        yield stripe
                        return
                    flags = self._flags  # two byte reads when nothing is left to settle
                    if not flags[self._op_at] and not flags[self._slots_at + stripe * self._slot_size]:
                        yield stripe
                        return
                    if guard.ready((stripe,)):
                        yield stripe
                        return
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            guard.finish()

    @contextmanager
    def hold_pair(self, first: str, second: str) -> Iterator[tuple[int, int]]:
        """Hold the stripes of two keys (one when they share it); yields both stripe numbers."""
        stripes = (stripe_of(first), stripe_of(second))
        ordered = tuple(sorted(set(stripes)))
        while True:
            with ExitStack() as stack:
                for stripe in ordered:
                    stack.enter_context(self._take(stripe))
                guard = self.guard
                if guard is None or guard.ready(ordered):
                    yield stripes
                    return
            guard.finish()

    @contextmanager
    def hold_all(self) -> Iterator[None]:
        """Hold every stripe: nothing else changes any object meanwhile (whole-bucket changes)."""
        with ExitStack() as stack:
            for stripe in range(STRIPES):
                stack.enter_context(self._take(stripe))
            yield
