"""One durable file write: a work file, fsync, rename over the old one, fsync of the directory.

A crash or ``kill -9`` at any point leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import os


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    work = f"{path}.{os.getpid()}.work"
    fd = os.open(work, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(work, path)
    except BaseException:
        try:
            os.unlink(work)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
