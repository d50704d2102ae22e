"""Processes: the supervisor that binds one socket, forks N workers and keeps them alive.

Why processes: Python runs one thread of bytecode at a time, so using both cores of a node for
the data path means two interpreters. The supervisor binds the socket, then forks the workers; the
kernel hands each new connection to one of them. SIGTERM/SIGINT: workers stop accepting, finish
in-flight requests (bounded), and exit. A worker whose supervisor dies (``kill -9``, OOM killer) gets
that same SIGTERM from the kernel and exits too.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

log = logging.getLogger("strata")

WORKER_SLOT_ENV = "STRATA_WORKER_SLOT"


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s",
    )


def default_data_dir() -> str:
    return os.environ.get("STRATA_DATA") or os.path.join(os.path.expanduser("~"), ".strata")


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def supervise(
    sock: socket.socket, count: int, run_worker: Callable[[], int], on_stop: Callable[[], None] | None = None
) -> int:
    """Fork ``count`` workers, restart any that dies, and stop them all on SIGTERM/SIGINT."""
    children: dict[int, int] = {}
    stopping = False
    supervisor = os.getpid()

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            # the supervisor's own SIGTERM handler must not run here: until the worker's loop installs
            # its handler, a SIGTERM (a stop, or the supervisor's death) just ends the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            die_with_parent(supervisor)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when workers stop
            os.environ[WORKER_SLOT_ENV] = str(slot)  # the worker's row in shared per-node counters
            code = 1
            try:
                code = run_worker()
            except BaseException:
                log.exception("worker failed")
            finally:
                os._exit(code)
        children[pid] = slot

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        sock.close()  # no respawn from now on: the port closes once the workers have stopped
        if on_stop is not None:
            on_stop()
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(count):
        spawn(slot)
    # the supervisor keeps the socket open: a worker it respawns serves on it too
    last_restart = 0.0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        slot = children.pop(pid)
        if stopping:
            continue
        log.error("worker %d exited unexpectedly (status %d); restarting it", pid, status)
        if time.monotonic() - last_restart < 1.0:
            time.sleep(1.0)
        last_restart = time.monotonic()
        spawn(slot)
    log.info("stopped")
    return 0


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """In a freshly forked worker: have the kernel send SIGTERM when the supervisor dies.

    Without it a worker outlives a ``kill -9`` of its supervisor, still serving on the shared socket
    with nobody to restart or stop it. SIGTERM (not SIGKILL) runs the worker's normal graceful stop.
    The signal is tied to the thread that forked, so the supervisor forks from its main thread only.
    If the supervisor died before this call the worker was already re-parented and would never get
    the signal: it exits at once instead. Not on Linux (no prctl), nothing is armed.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return
    if prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:
        os._exit(1)


