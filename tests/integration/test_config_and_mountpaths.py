"""Server options: ``--config`` (cluster config inherited by new buckets), ``--mountpath`` (objects spread
over several mountpaths and found again after a restart), and fail-fast start-up on a bad config."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import bucket_props, fast_client, pattern, raw
from .server import ServerStartError, StrataServer

pytestmark = pytest.mark.timeout(90)


def test_config_file_is_inherited_by_new_buckets(
    tmp_path: Path, server_factory: Callable[..., StrataServer]
) -> None:
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps({"checksum": {"type": "sha256"}, "mirror": {"burst_buffer": 1024}}))
    srv = server_factory(config=config)
    resp = raw("GET", f"{srv.endpoint}/v1/cluster", params={"what": "cluster_config"})
    assert resp.status_code == 200
    assert resp.json()["checksum"]["type"] == "sha256"
    assert resp.json()["lru"]["dont_evict_time"] == "2h0m", "sections not in the file keep their defaults"
    client = fast_client(srv.endpoint)
    bck = client.bucket("inherits").create()
    props = bucket_props(srv.endpoint, "inherits")
    assert props["checksum"]["type"] == "sha256"
    assert props["mirror"]["burst_buffer"] == 1024
    bck.object("o").get_writer().put_content(b"sha me")
    assert bck.object("o").head("checksum").checksum_value == hashlib.sha256(b"sha me").hexdigest()


def test_bad_config_fails_fast_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"checksum": {"type": "bogus-algo"}}))
    srv = StrataServer(tmp_path / "data", tmp_path / "bad.log", config_path=config)
    with pytest.raises(ServerStartError) as info:
        srv.start()
    srv.stop()
    assert "exited with code" in str(info.value), "the server exits instead of hanging"
    assert "bogus-algo" in str(info.value), "and says what is wrong"


def test_objects_spread_over_mountpaths_and_survive_restart(
    server_factory: Callable[..., StrataServer],
) -> None:
    srv = server_factory(mountpaths=3)
    client = fast_client(srv.endpoint)
    bck = client.bucket("spread").create()
    names = [f"item-{i:03d}" for i in range(90)]
    for name in names:
        bck.object(name).get_writer().put_content(pattern(name, 2000))
    per_mountpath = [
        sum(1 for p in mp.rglob("*") if p.is_file() and p.stat().st_size == 2000) for mp in srv.mountpaths
    ]
    assert all(n > 0 for n in per_mountpath), f"HRW spreads objects over every mountpath: {per_mountpath}"
    assert sum(per_mountpath) == len(names), f"each object is stored once: {per_mountpath}"
    srv.restart()
    bck = fast_client(srv.endpoint).bucket("spread")
    assert [e.name for e in bck.list_all_objects()] == names
    for name in names:
        assert bck.object(name).get_reader().read_all() == pattern(name, 2000)
