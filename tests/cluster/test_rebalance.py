"""Membership changes rebalance the cluster: every object ends on its new HRW owner, none is lost."""

from __future__ import annotations

import json
import os
import time

import pytest
import requests
from aistore.sdk import Client

from strata.cluster.devcluster import DevCluster
from strata.cluster.etcd import Etcd
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(240)

N = 120


def _fill(client: Client, bucket: str) -> dict[str, bytes]:
    bck = client.bucket(bucket).create()
    objects = {f"d{i % 5}/obj-{i:04d}": f"content of {i}".encode() * (1 + i % 9) for i in range(N)}
    for name, data in objects.items():
        bck.object(name).get_writer().put_content(data)
    return objects


def _owner_dirs(cluster: DevCluster, client: Client) -> dict[str, str]:
    """target id -> its data dir, matched through the smap's ports."""
    smap = client.cluster().get_info()
    by_port = {p.port: p.data for p in cluster.procs.values() if p.role == "target"}
    return {
        t.daemon_id: by_port[int(t.public_net.daemon_port)]
        for t in smap.tmap.values()
        if int(t.public_net.daemon_port) in by_port
    }


def _wait_rebalanced(cluster: DevCluster, active: int, timeout: float = 90.0) -> None:
    """Until the rebalance onto ``active`` targets is recorded in etcd and every target finished it."""
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
    assert record is not None
    body = {"ID": record["id"], "Kind": "", "DaemonID": "", "Bck": None, "Buckets": None}
    parts: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        stats = requests.get(f"{cluster.endpoint}/v1/cluster?what=qryxstats", json=body, timeout=10)
        if stats.status_code == 200:
            parts = [s for part in stats.json().values() for s in part or []]
            targets = len(requests.get(f"{cluster.endpoint}/v1/daemon?what=smap", timeout=10).json()["tmap"])
            if len(parts) >= targets and all(s["end-time"] != "0001-01-01T00:00:00Z" for s in parts):
                return
        time.sleep(0.3)
    raise AssertionError(f"rebalance {record['id']} did not finish: {parts}")


def _check_placement(cluster: DevCluster, client: Client, bucket: str, objects: dict[str, bytes]) -> None:
    dirs = _owner_dirs(cluster, client)
    smap = client.cluster().get_info()
    for name, data in objects.items():
        owner = smap.get_target_for_object(f"ais/@#/{bucket}/{name}")
        segments = name.split("/")
        rel = os.path.join(*(s + "%" for s in segments[:-1]), segments[-1])
        path = os.path.join(dirs[owner.daemon_id], "mp", "@ais", bucket, "%ob", rel)
        assert os.path.exists(path), f"{name} is not on its owner {owner.daemon_id}"
        for other_id, other_dir in dirs.items():
            if other_id != owner.daemon_id:
                assert not os.path.exists(os.path.join(other_dir, "mp", "@ais", bucket, "%ob", rel)), (
                    f"{name} also left on {other_id}"
                )
        assert client.bucket(bucket).object(name).get_reader().read_all() == data


def test_new_target_rebalances_every_object_onto_its_owner(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    objects = _fill(client, "rb")
    cluster.add_node("target")
    cluster.wait_for_map(targets=4)
    _wait_rebalanced(cluster, active=4)
    _check_placement(cluster, client, "rb", objects)
    body = {"ID": "", "Kind": "rebalance", "DaemonID": "", "Bck": None, "Buckets": None}
    snaps = [
        s
        for part in requests.get(f"{cluster.endpoint}/v1/cluster?what=qryxstats", json=body, timeout=10)
        .json()
        .values()
        for s in part or []
    ]
    newest = max(snaps, key=lambda s: s["start-time"])["id"]
    parts = [s for s in snaps if s["id"] == newest]
    sent = sum(s["stats"]["out-objs"] for s in parts)
    assert sent > 0 and sum(s["stats"]["in-objs"] for s in parts) == sent  # receivers count what arrived
    assert sorted(e.name for e in client.bucket("rb").list_all_objects()) == sorted(objects)


def test_reads_during_rebalance_find_objects_not_moved_yet(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    objects = _fill(client, "gfn")
    cluster.add_node("target")
    cluster.wait_for_map(targets=4)
    for name, data in objects.items():  # straight away: some are still on their old targets
        assert client.bucket("gfn").object(name).get_reader().read_all() == data
    _wait_rebalanced(cluster, active=4)


def test_maintenance_moves_objects_off_a_target(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    objects = _fill(client, "mt")
    smap = client.cluster().get_info()
    leaving = sorted(smap.tmap)[0]
    resp = requests.put(
        f"{cluster.endpoint}/v1/cluster",
        json={"action": "start-maintenance", "name": "", "value": {"sid": leaving}},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    _wait_rebalanced(cluster, active=2)
    dirs = _owner_dirs(cluster, client)
    left = [
        n
        for n in objects
        if os.path.exists(os.path.join(dirs[leaving], "mp", "@ais", "mt", "%ob"))
        and n in {e for e in os.listdir(os.path.join(dirs[leaving], "mp", "@ais", "mt", "%ob"))}
    ]
    assert not left
    for name, data in objects.items():
        owner = client.cluster().get_info().get_target_for_object(f"ais/@#/mt/{name}")
        assert owner.daemon_id != leaving
        assert client.bucket("mt").object(name).get_reader().read_all() == data
    bad = requests.put(
        f"{cluster.endpoint}/v1/cluster",
        json={"action": "start-maintenance", "name": "", "value": {"sid": "nope"}},
        timeout=10,
    )
    assert bad.status_code == 404


def test_rebalance_interrupted_by_another_change_loses_and_duplicates_nothing(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    bck = client.bucket("intr").create()
    objects = {f"x/{i:05d}": f"payload {i}".encode() * 50 for i in range(600)}
    for name, data in objects.items():
        bck.object(name).get_writer().put_content(data)
    cluster.add_node("target")  # starts a rebalance...
    time.sleep(1.2)
    cluster.add_node("target")  # ...that the next membership change interrupts
    cluster.wait_for_map(targets=5)
    _wait_rebalanced(cluster, active=5, timeout=120)
    _check_placement(cluster, client, "intr", objects)
    listed = [e.name for e in bck.list_all_objects()]
    assert listed == sorted(objects) and len(set(listed)) == len(listed)
