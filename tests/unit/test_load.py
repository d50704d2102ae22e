"""The load vector grades each dimension and turns critical load into 429 for heavy work."""

from __future__ import annotations

import pytest

from strata.core.errors import TooManyRequests
from strata.jobs.load import CRITICAL, OK, LoadMonitor


def test_calm_node_admits_and_does_not_throttle(tmp_path: object) -> None:
    monitor = LoadMonitor([str(tmp_path)], min_free=1, disk_high=80, disk_max=95)
    vector = monitor.vector()
    assert vector.memory == OK and vector.fd == OK
    assert vector.mem_total > 0 and vector.fd_limit > 0
    monitor.admit("a test")
    monitor.throttle()


def test_memory_floor_above_the_machine_is_critical(tmp_path: object) -> None:
    monitor = LoadMonitor([str(tmp_path)], min_free=1 << 50, disk_high=80, disk_max=95)
    vector = monitor.vector()
    assert vector.memory == CRITICAL and vector.level == CRITICAL
    assert "memory critical" in vector.describe()
    with pytest.raises(TooManyRequests) as info:
        monitor.admit("starting a job")
    assert info.value.retry_after > 0 and info.value.status == 429
