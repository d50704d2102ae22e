"""Access times that a read refreshes, without a metadata write per read.

LRU eviction (``strata.jobs.lru``) needs to know when each cached object was last read. The metadata
record's ``atime_ns`` is the write time: rewriting the record on every GET would cost a lock and an
xattr write per read, and would change the record the hot cache and the shard indexes key on. The
kernel's own access time cannot be trusted either: ``relatime`` (the usual mount option) refreshes it
at most once a day, ``noatime`` never.

So an object's access time is its file's ``st_atime``, set explicitly: a read only notes
``path -> now`` in a dict of this process (``note(path, atimes.now)``: a dict store, ~0.15 us, no
Python frame, no clock read -- ``now`` is kept to the second by the writer thread). That thread writes
the notes out every ``FLUSH_EVERY_S`` seconds, or sooner once ``MAX_PENDING`` paths wait, as one
``stat`` + ``utime`` per object read in that period however often (the file's mtime is kept; an access
time never moves back). A write sets it too: a new file's access time is its creation. AIStore
batches its atime updates the same way. The period is short next to ``lru.dont_evict_time`` (at
least an hour): a note another worker process has not written out yet when the LRU job walks is at
most a minute old; the job writes its own process's notes out before it walks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

FLUSH_EVERY_S = 60.0
MAX_PENDING = 65536
LOOK_EVERY_S = 1.0  # how often the writer thread looks at the number of notes


class AccessTimes:
    """One process's pending access times (see the module docstring); its writer thread runs from
    construction until ``close``."""

    def __init__(self, flush_every: float = FLUSH_EVERY_S) -> None:
        self.flush_every = flush_every
        self._pending: dict[str, int] = {}
        # the read path's call: the dict's own item assignment (notes are taken out with popitem,
        # one at a time, so a note made while they are written out is never lost)
        self.note: Callable[[str, int], None] = self._pending.__setitem__
        self.now = time.time_ns()  # to the second: what a read notes (LRU's times are hours)
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="atime-flush", daemon=True)
        self._thread.start()

    def touch(self, path: str) -> None:
        """Note a read of the object file at ``path`` now (to the nanosecond)."""
        self.note(path, time.time_ns())

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(LOOK_EVERY_S):
            self.now = time.time_ns()
            if time.monotonic() - last >= self.flush_every or len(self._pending) > MAX_PENDING:
                self.flush()
                last = time.monotonic()

    def flush(self) -> int:
        """Write the pending access times out now; returns how many files were touched."""
        touched = 0
        pending = self._pending
        with self._flush_lock:
            while True:
                try:
                    path, atime_ns = pending.popitem()
                except KeyError:
                    return touched
                try:
                    st = os.stat(path)
                    if st.st_atime_ns < atime_ns:
                        os.utime(path, ns=(atime_ns, st.st_mtime_ns))
                        touched += 1
                except OSError:  # deleted or replaced meanwhile: its new version has its own time
                    continue

    def close(self) -> None:
        """Write out what is pending and stop the thread (a node being dropped)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self.flush()
