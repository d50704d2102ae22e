"""Process helpers for crash tests: a supervisor's worker processes, read from ``/proc`` (Linux)."""

from __future__ import annotations

import os
import socket
import time


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (state is [0], ppid is [1]); None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            text = file.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rpartition(")")[2].split()  # the name in parentheses may hold spaces


def child_pids(parent: int) -> list[int]:
    """The live processes whose parent is ``parent``."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[1] == str(parent) and fields[0] != "Z":
                children.append(int(entry))
    return children


def is_alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone: it runs no code and holds no socket)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def wait_for_children(parent: int, count: int, timeout: float = 10.0) -> list[int]:
    """The first ``count`` children of ``parent``, polled tightly to catch them just after the fork."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = child_pids(parent)
        if len(children) >= count:
            return children
        time.sleep(0.002)
    raise AssertionError(f"process {parent} has {child_pids(parent)} as children, expected {count}")


def wait_all_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` runs; returns the ones still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(is_alive(pid) for pid in pids):
            return []
        time.sleep(0.05)
    return [pid for pid in pids if is_alive(pid)]


def port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0
