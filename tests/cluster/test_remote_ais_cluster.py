"""A remote AIS cluster behind a real cluster (etcd, a proxy, two targets): attached through the proxy,
seen by every target (the config change travels through etcd), and ``ais://@alias/b`` served through
the proxy -- cold GETs by the HRW owners, listings with every target's cached flags, write-through,
and a copy-bck whose targets each copy their share of the remote listing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError
from aistore.sdk.namespace import Namespace

from strata.cluster.devcluster import DevCluster
from tests.integration.server import StrataServer

ALIAS = "far"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(str(tmp_path_factory.mktemp("remais-cluster") / "cluster"), workers=1)
    try:
        dev.up(targets=2, proxies=1)
        yield dev
    finally:
        dev.down()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    base = tmp_path_factory.mktemp("remais-remote")
    server = StrataServer(base / "data", base / "server.log", workers=1).start()
    yield server
    server.stop()


def targets(cluster: DevCluster) -> list[str]:
    return sorted(p.url for p in cluster.procs.values() if p.role == "target" and p.alive())


def remote_rows(endpoint: str, what: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{endpoint}/v1/{what}", params={"what": "remote"}, timeout=30)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["a"]
    return rows


def eventually(check: Any, timeout: float = 15.0) -> None:
    """Until ``check()`` holds: a config change reaches the other nodes through their etcd watch."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.1)


def test_attach_through_the_proxy_reaches_every_target_and_buckets_are_served(
    cluster: DevCluster, remote: StrataServer
) -> None:
    proxy = cluster.endpoint
    attached = requests.put(
        f"{proxy}/v1/cluster/attach",
        params={"what": "remote"},
        headers={"Ais-Remote-Ais-Alias": ALIAS, "Ais-Remote-Ais-Url": remote.endpoint},
        timeout=30,
    )
    assert attached.status_code == 200, attached.text
    remote_uuid = requests.get(f"{remote.endpoint}/v1/daemon", params={"what": "smap"}, timeout=10).json()[
        "uuid"
    ]
    rows = remote_rows(proxy, "cluster")
    assert [(r["alias"], r["uuid"], r["smap"] is not None) for r in rows] == [(ALIAS, remote_uuid, True)]
    for target in targets(cluster):  # each target knows it from the config in etcd
        eventually(lambda target=target: [r["alias"] for r in remote_rows(target, "daemon")] == [ALIAS])

    # the remote's bucket, through the proxy
    name = f"rb-{uuid.uuid4().hex[:8]}"
    at_remote = Client(remote.endpoint).bucket(name).create()
    keys = [f"k-{i}" for i in range(8)]
    for key in keys:
        at_remote.object(key).get_writer().put_content(key.encode() * 100)
    client = Client(proxy)
    bucket = client.bucket(name, namespace=Namespace(uuid=ALIAS))
    for key in ("k-1", "k-4", "k-6"):  # cold GETs, by whichever target owns each
        assert bucket.object(key).get_reader().read_all() == key.encode() * 100
    listed, cached, token = [], [], ""
    while True:
        page = bucket.list_objects(props="name,size,cached", page_size=3, continuation_token=token)
        listed += [entry.name for entry in page.entries]
        cached += [entry.name for entry in page.entries if entry.is_cached()]
        token = page.continuation_token
        if not token:
            break
    assert listed == keys and cached == ["k-1", "k-4", "k-6"]
    bucket.object("new").get_writer().put_content(b"through the cluster")  # written through
    assert at_remote.object("new").get_reader().read_all() == b"through the cluster"
    bucket.object("k-0").delete()
    with pytest.raises(AISError) as gone:
        at_remote.object("k-0").head()
    assert gone.value.status_code == 404

    # copy-bck: every target copies its own share of the remote listing
    local = client.bucket(f"copy-{uuid.uuid4().hex[:6]}").create()
    client.job(bucket.copy(to_bck=local)).wait(timeout=120)
    assert sorted(e.name for e in local.list_all_objects()) == sorted([*keys[1:], "new"])
    assert local.object("k-7").get_reader().read_all() == b"k-7" * 100

    # detach through the proxy: gone everywhere
    detached = requests.put(
        f"{proxy}/v1/cluster/detach",
        params={"what": "remote"},
        headers={"Ais-Remote-Ais-Alias": ALIAS},
        timeout=30,
    )
    assert detached.status_code == 200, detached.text
    for target in targets(cluster):
        eventually(lambda target=target: remote_rows(target, "daemon") == [])


def test_an_unreachable_cluster_attached_through_the_proxy_is_offline_everywhere(cluster: DevCluster) -> None:
    """Attached although it does not answer; every node lists it offline, its buckets answer 424."""
    proxy = cluster.endpoint
    dead = "http://127.0.0.1:9"
    attached = requests.put(
        f"{proxy}/v1/cluster/attach",
        params={"what": "remote"},
        headers={"Ais-Remote-Ais-Alias": "dead", "Ais-Remote-Ais-Url": dead},
        timeout=30,
    )
    assert attached.status_code == 200, attached.text
    for target in targets(cluster):
        eventually(
            lambda target=target: (
                remote_rows(target, "daemon") == [{"smap": None, "url": dead, "alias": "dead", "uuid": ""}]
            )
        )
    answer = requests.get(
        f"{proxy}/v1/objects/b/o",
        params={"provider": "ais", "namespace": "@dead"},
        timeout=30,
        allow_redirects=True,
    )
    assert answer.status_code == 424 and "unreachable" in answer.json()["message"]
    assert (
        requests.put(
            f"{proxy}/v1/cluster/detach",
            params={"what": "remote"},
            headers={"Ais-Remote-Ais-Alias": "dead"},
            timeout=30,
        ).status_code
        == 200
    )
