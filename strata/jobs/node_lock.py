"""One job of a kind per node, across its worker processes: an ``flock`` on a file in the jobs directory.

The node's automatic jobs (``lru`` above ``space.highwm``, ``cleanup-store`` above ``space.cleanupwm``)
may be started by whichever worker process measures the disks first; the lock makes that one start,
held by the job until it ends (the descriptor is closed then, or with the process).
"""

from __future__ import annotations

import fcntl
import os


def try_lock(path: str) -> int | None:
    """The lock at ``path`` (an open descriptor holding it), taken without waiting; None when held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
