"""``kill -9`` of a ``strata target`` or ``strata proxy`` supervisor takes its workers down with it.

A cluster node's workers outliving their supervisor are worse than a single server's: they keep
answering ``/v1/health`` and serving objects while the node's etcd lease (kept alive by the dead
supervisor) expires, so the cluster map drops a node that still looks alive to anyone who asks it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from strata.cluster.devcluster import DevCluster
from tests.integration.processes import port_answers, wait_all_gone, wait_for_children

pytestmark = pytest.mark.timeout(180)

EXIT_WITHIN_S = 5.0


@pytest.fixture
def two_worker_nodes(tmp_path: Path) -> Iterator[DevCluster]:
    """One target and one proxy, each with 2 workers."""
    dev = DevCluster(str(tmp_path / "cluster"), workers=2)
    try:
        dev.up(targets=1, proxies=1)
        yield dev
    finally:
        for proc in dev.procs.values():  # whatever a failed test left behind, workers included
            if proc.role != "etcd":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        dev.down()


@pytest.mark.parametrize("name", ["t1", "p1"])
def test_node_workers_exit_when_the_supervisor_is_killed(two_worker_nodes: DevCluster, name: str) -> None:
    proc = two_worker_nodes.procs[name]
    workers = wait_for_children(proc.pid, 2)
    assert requests.get(f"{proc.url}/v1/health", timeout=5).status_code == 200
    os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + EXIT_WITHIN_S
    while proc.alive() and time.monotonic() < deadline:  # reaps the supervisor, our child
        time.sleep(0.05)
    survivors = wait_all_gone(workers, EXIT_WITHIN_S)
    assert not survivors, f"{name}'s workers {survivors} outlived their supervisor by {EXIT_WITHIN_S:.0f} s"
    deadline = time.monotonic() + EXIT_WITHIN_S
    while port_answers(proc.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_answers(proc.port), f"{name}'s port still answers after its processes died"
