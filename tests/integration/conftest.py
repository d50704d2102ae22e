"""Fixtures of the integration tier: real ``strata serve`` processes driven by the official SDK.

- ``server``: one server shared by the whole session (tests isolate themselves with unique buckets).
- ``server_factory``: fresh servers for tests that stop, kill or restart them (persistence, crashes).
- ``client``: ``aistore.sdk.Client`` on the shared server, with retries off (see ``helpers.fast_client``).
- ``bucket_name`` / ``bucket``: a unique name per test / that bucket already created (destroyed after).

When a test fails, the output of every server it used is attached to the report.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket

from .helpers import fast_client
from .server import StrataServer

_SERVERS_ATTR = "_strata_servers"


def _register(node: pytest.Item | Any, srv: StrataServer) -> None:
    servers: list[StrataServer] = getattr(node, _SERVERS_ATTR, [])
    servers.append(srv)
    setattr(node, _SERVERS_ATTR, servers)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for srv in getattr(item, _SERVERS_ATTR, []):
            report.sections.append((f"strata server :{srv.port} output ({srv.log_path})", srv.full_output()))
    return report


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    base = tmp_path_factory.mktemp("shared-server")
    srv = StrataServer(base / "data", base / "server.log").start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _attach_shared_server_output(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        _register(request.node, request.getfixturevalue("server"))


@pytest.fixture
def server_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., StrataServer]]:
    """Start servers private to this test: ``server_factory(workers=1, mountpaths=2)``."""
    started: list[StrataServer] = []

    def start(*, workers: int | None = None, mountpaths: int = 0, config: Path | None = None) -> StrataServer:
        index = len(started)
        root = tmp_path / f"srv{index}"
        mpaths = [root / f"mp{i}" for i in range(mountpaths)]
        srv = StrataServer(
            root / "data",
            tmp_path / f"srv{index}.log",
            workers=workers,
            mountpaths=mpaths,
            config_path=config,
        )
        started.append(srv)
        _register(request.node, srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def endpoint(server: StrataServer) -> str:
    return server.endpoint


@pytest.fixture
def client(server: StrataServer) -> Client:
    return fast_client(server.endpoint)


@pytest.fixture
def bucket_name(request: pytest.FixtureRequest) -> str:
    """A valid bucket name unique to this test: ``t-<test name>-<8 hex>`` (at most 64 bytes)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-").lower()[:40]
    return f"t-{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bucket(client: Client, bucket_name: str) -> Iterator[Bucket]:
    bck = client.bucket(bucket_name).create()
    yield bck
    try:
        bck.delete(missing_ok=True)
    except Exception:  # teardown must not mask the test's own result
        pass
