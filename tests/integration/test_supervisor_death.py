"""``kill -9`` of the ``strata serve`` supervisor takes its workers down with it.

The workers are forked children sharing the listening socket. Without a tie to their parent they
would outlive a crashed supervisor -- still answering ``/v1/health``, holding the port, and serving
with nobody to restart or stop them. Here only the supervisor is killed (not its process group), and
the workers must exit on their own within a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from .processes import port_answers, wait_all_gone, wait_for_children
from .server import REPO_ROOT, StrataServer

pytestmark = pytest.mark.timeout(60)

EXIT_WITHIN_S = 5.0


def test_workers_exit_when_the_supervisor_is_killed(server_factory: Callable[..., StrataServer]) -> None:
    srv = server_factory(workers=2)
    assert srv.process is not None
    supervisor = srv.process.pid
    workers = wait_for_children(supervisor, 2)
    assert requests.get(f"{srv.endpoint}/v1/health", timeout=5).status_code == 200
    os.kill(supervisor, signal.SIGKILL)
    srv.process.wait()
    survivors = wait_all_gone(workers, EXIT_WITHIN_S)
    assert not survivors, f"workers {survivors} outlived their supervisor by {EXIT_WITHIN_S:.0f} s"
    deadline = time.monotonic() + EXIT_WITHIN_S
    while port_answers(srv.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_answers(srv.port), "the port still answers after the supervisor and workers died"


def test_workers_still_starting_exit_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    """The supervisor dies right after forking, before the workers set up their own stop handling."""
    srv = StrataServer(tmp_path / "data", tmp_path / "server.log", workers=2)
    srv.data_dir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with (tmp_path / "server.log").open("ab") as log:
        process = subprocess.Popen(
            srv.command(),
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        workers = wait_for_children(process.pid, 2)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        survivors = wait_all_gone(workers, EXIT_WITHIN_S)
        assert not survivors, f"workers {survivors} outlived their supervisor by {EXIT_WITHIN_S:.0f} s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
