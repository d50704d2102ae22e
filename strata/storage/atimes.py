"""Access times that a read refreshes, without a metadata write per read.

LRU eviction (``strata.jobs.lru``) needs to know when each cached object was last read. The metadata
record's ``atime_ns`` is the write time: rewriting the record on every GET would cost a lock and an
xattr write per read, and would change the record the hot cache and the shard indexes key on. The
kernel's own access time cannot be trusted either: ``relatime`` (the usual mount option) refreshes it
at most once a day, ``noatime`` never.

So an object's access time is its file's ``st_atime``, set explicitly: a read only notes
``path -> now`` in a dict of this process (``touch``: a clock read and a dict store, ~0.1 us); a
thread of the process writes the notes out every ``FLUSH_EVERY_S`` seconds, or sooner once
``MAX_PENDING`` paths wait, as one ``stat`` + ``utime`` per object read in that period, however often
(the file's mtime is kept; an access time never moves back). A write sets it too: a new file's access
time is its creation. AIStore batches its atime updates the same way. The period is short next to
``lru.dont_evict_time`` (at least an hour): a note another worker process has not written out yet when
the LRU job walks is at most a minute old; the job writes its own process's notes out before it walks.
"""

from __future__ import annotations

import os
import threading
from time import time_ns

FLUSH_EVERY_S = 60.0
MAX_PENDING = 65536


class AccessTimes:
    """One process's pending access times (see the module docstring)."""

    def __init__(self, flush_every: float = FLUSH_EVERY_S) -> None:
        self.flush_every = flush_every
        self._pending: dict[str, int] = {}
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()

    def touch(self, path: str) -> None:
        """Note a read of the object file at ``path`` now (the hot path: no system call)."""
        pending = self._pending
        pending[path] = time_ns()
        if self._thread is None:
            self._start()
        elif len(pending) > MAX_PENDING:  # a burst of distinct reads: write out before the period ends
            self._wake.set()

    def _start(self) -> None:
        """The writer thread starts with the first read (a process that never reads has none)."""
        with self._flush_lock:
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="atime-flush", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.flush_every)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write the pending access times out now; returns how many files were touched."""
        with self._flush_lock:
            pending, self._pending = self._pending, {}
            touched = 0
            # a copy made in one step: a read that still held the old dict may add to it meanwhile
            # (that one note is lost; the object's next read notes it again)
            for path, atime_ns in list(pending.items()):
                try:
                    st = os.stat(path)
                    if st.st_atime_ns < atime_ns:
                        os.utime(path, ns=(atime_ns, st.st_mtime_ns))
                        touched += 1
                except OSError:  # deleted or replaced meanwhile: its new version has its own time
                    continue
            return touched

    def close(self) -> None:
        """Write out what is pending and stop the thread (a node being dropped)."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self.flush()
