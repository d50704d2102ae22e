"""Compressed objects in a real cluster (etcd, proxy, targets): copy-bck across targets and rebalance.

Both move stored bytes: a copy between buckets that compress alike, and a rebalance to a new owner,
must keep each object's stored form (the same zstd file, its metadata saying ``codec: zstd``) while
every client read still gives the original bytes. Files are found on the targets' data dirs and the
owner is the one HRW names in the cluster map.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from aistore.sdk import Client

from strata.cluster.devcluster import DevCluster
from strata.cluster.etcd import Etcd
from tests.integration.compression_support import (
    KIB,
    MIB,
    assert_stored_compressed,
    assert_stored_plain,
    compressible,
    compressing,
    randbytes,
    stored_metadata,
    stored_paths,
)
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(240)

# a mix: multi-frame (4 MiB frames), one frame, under min_size, incompressible
OBJECTS = {
    **{f"logs/{i:02d}.log": compressible(200 * KIB + 977 * i, shift=i * 31) for i in range(16)},
    "big/a.log": compressible(9 * MIB + 7, shift=1),
    "big/b.log": compressible(4 * MIB + 1, shift=2),
    "tiny.txt": b"tiny",
    "noise.bin": randbytes(300 * KIB, seed=3),
}
PLAIN = {"tiny.txt", "noise.bin"}  # stored as they are even in a compressing bucket


@pytest.fixture
def two_targets(tmp_path: Path) -> Iterator[DevCluster]:
    """2 targets + 1 proxy on a private etcd."""
    dev = DevCluster(str(tmp_path / "cluster"), workers=1)
    try:
        dev.up(targets=2, proxies=1)
        yield dev
    finally:
        dev.down()


def target_dirs(cluster: DevCluster, client: Client) -> dict[str, Path]:
    """target id -> its data dir, matched through the cluster map's ports."""
    by_port = {p.port: p.data for p in cluster.procs.values() if p.role == "target"}
    tmap = client.cluster().get_info().tmap.values()
    return {t.daemon_id: Path(by_port[int(t.public_net.daemon_port)]) for t in tmap}


def owner_file(cluster: DevCluster, client: Client, bucket: str, name: str) -> tuple[str, Path]:
    """The owner HRW names for ``bucket/name`` and its file there; no other target holds one."""
    owner = client.cluster().get_info().get_target_for_object(f"ais/@#/{bucket}/{name}").daemon_id
    found = {tid: stored_paths(root, bucket, name) for tid, root in target_dirs(cluster, client).items()}
    assert [tid for tid, paths in found.items() if paths] == [owner], f"{bucket}/{name}: files {found}"
    return owner, found[owner][0]


def fill(cluster: DevCluster, client: Client, bucket: str) -> dict[str, bytes]:
    """A compressing bucket with OBJECTS; returns each object's stored bytes."""
    bck = compressing(client.bucket(bucket).create())
    for name, data in OBJECTS.items():
        bck.object(name).get_writer().put_content(data)
    stored = {}
    owners = set()
    for name, data in OBJECTS.items():
        owner, path = owner_file(cluster, client, bucket, name)
        owners.add(owner)
        if name in PLAIN:
            assert_stored_plain(path, data)
        else:
            assert_stored_compressed(path, data)
        stored[name] = path.read_bytes()
    assert len(owners) == 2, "the objects are spread over both targets"
    return stored


def check_reads(client: Client, bucket: str) -> None:
    bck = client.bucket(bucket)
    for name, data in OBJECTS.items():
        assert bck.object(name).get_reader().read_all() == data, f"{bucket}/{name}"
    edge = f"bytes={4 * MIB - 5}-{4 * MIB + 4}"  # across the first frame edge of the 9 MiB object
    assert bck.object("big/a.log").get_reader(byte_range=edge).read_all() == OBJECTS["big/a.log"][
        4 * MIB - 5 : 4 * MIB + 5
    ]
    sizes = {e.name: e.size for e in bck.list_all_objects()}
    assert sizes == {name: len(data) for name, data in OBJECTS.items()}


def test_copy_bck_across_two_targets_keeps_or_decodes_the_stored_form(two_targets: DevCluster) -> None:
    client = fast_client(two_targets.endpoint)
    source = fill(two_targets, client, "src")
    compressing(client.bucket("dst-zstd").create())
    client.bucket("dst-plain").create()
    for dst in ("dst-zstd", "dst-plain"):
        job_id = client.bucket("src").copy(client.bucket(dst))
        assert client.job(job_id=job_id).wait(timeout=90).success, dst
        check_reads(client, dst)
        for name, data in OBJECTS.items():
            _owner, path = owner_file(two_targets, client, dst, name)
            if dst == "dst-plain" or name in PLAIN:
                assert_stored_plain(path, data)
            else:  # same settings: the source's stored bytes, moved as they are
                assert path.read_bytes() == source[name], f"{dst}/{name} was recompressed"
                assert stored_metadata(path).codec == "zstd"


def wait_rebalanced(cluster: DevCluster, active: int, timeout: float = 120.0) -> None:
    """Until a rebalance onto ``active`` targets is recorded in etcd and every target finished it."""
    deadline = time.monotonic() + timeout
    etcd = Etcd([cluster.etcd_url])
    record = None
    while time.monotonic() < deadline:
        kv = etcd.get("/strata/strata/rebalance")
        record = json.loads(kv.value) if kv is not None else None
        if record and record["id"] and len(record["targets"]) == active:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no rebalance onto {active} targets was recorded: {record}")
    body = {"ID": record["id"], "Kind": "", "DaemonID": "", "Bck": None, "Buckets": None}
    parts: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        stats = requests.get(f"{cluster.endpoint}/v1/cluster?what=qryxstats", json=body, timeout=10)
        if stats.status_code == 200:
            parts = [s for part in stats.json().values() for s in part or []]
            if len(parts) >= active and all(s["end-time"] != "0001-01-01T00:00:00Z" for s in parts):
                return
        time.sleep(0.3)
    raise AssertionError(f"rebalance {record['id']} did not finish: {parts}")


def check_after_rebalance(cluster: DevCluster, client: Client, stored: dict[str, bytes]) -> set[str]:
    """Every object sits on its new owner only, with the very stored bytes and codec it had."""
    owners = set()
    for name in OBJECTS:
        owner, path = owner_file(cluster, client, "rb", name)
        owners.add(owner)
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(stored[name]).digest(), (
            f"{name} on {owner} is not the stored file it was"
        )
        md = stored_metadata(path)
        assert md.codec == ("" if name in PLAIN else "zstd"), name
        assert md.size == len(OBJECTS[name]) and (not md.codec or md.stored_size == os.path.getsize(path))
    check_reads(client, "rb")
    return owners


def test_rebalance_moves_compressed_objects_as_they_are_stored(two_targets: DevCluster) -> None:
    client = fast_client(two_targets.endpoint)
    stored = fill(two_targets, client, "rb")
    before = {name: owner_file(two_targets, client, "rb", name)[0] for name in OBJECTS}

    two_targets.add_node("target")
    two_targets.wait_for_map(targets=3)
    wait_rebalanced(two_targets, active=3)
    after = {name: owner_file(two_targets, client, "rb", name)[0] for name in OBJECTS}
    assert any(before[n] != after[n] for n in OBJECTS), "some objects moved to the new target"
    check_after_rebalance(two_targets, client, stored)

    leaving, leaving_dir = sorted(target_dirs(two_targets, client).items())[0]
    resp = requests.put(
        f"{two_targets.endpoint}/v1/cluster",
        json={"action": "start-maintenance", "name": "", "value": {"sid": leaving}},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    wait_rebalanced(two_targets, active=2)
    owners = check_after_rebalance(two_targets, client, stored)
    assert leaving not in owners
    assert not [n for n in OBJECTS if stored_paths(leaving_dir, "rb", n)], "files left on the leaving target"
