"""Fixtures for the cluster tier: real etcd, real proxy and target processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.cluster.devcluster import DevCluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DevCluster]:
    """3 targets + 2 proxies, private to the test (tests kill and add nodes)."""
    dev = DevCluster(str(tmp_path / "cluster"), workers=1)
    try:
        dev.up(targets=3, proxies=2)
        yield dev
    finally:
        dev.down()
