"""Per-object write locks that hold across threads and worker processes.

Read-modify-write steps on one object -- "read the previous version, publish the next one",
"read the metadata, merge, write it back" -- must not interleave, or versions are lost and a
metadata patch can land on another version's bytes. Reads need no lock (rename is atomic).

Locks are striped: an object's name hashes to one of ``STRIPES`` lock files, each guarded by a
``flock`` (between processes) and a ``threading.Lock`` (between threads of one process, which
share the flock). Two objects may share a stripe; that only serializes them, briefly.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

STRIPES = 256


class ObjectLocks:
    def __init__(self, lock_dir: str) -> None:
        os.makedirs(lock_dir, exist_ok=True)
        self.dir = lock_dir
        self._threads = [threading.Lock() for _ in range(STRIPES)]
        self._fds: list[int] = [-1] * STRIPES
        self._pid = os.getpid()

    def _fd(self, stripe: int) -> int:
        if self._pid != os.getpid():  # forked: flock belongs to the open file, so reopen per process
            self._fds = [-1] * STRIPES
            self._pid = os.getpid()
        fd = self._fds[stripe]
        if fd < 0:
            fd = os.open(
                os.path.join(self.dir, f"{stripe:02x}"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
            self._fds[stripe] = fd
        return fd

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        stripe = zlib.crc32(key.encode()) % STRIPES
        with self._threads[stripe]:
            fd = self._fd(stripe)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
