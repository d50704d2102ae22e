"""A cluster through the official SDK: proxies redirect, targets own objects by HRW, etcd is the truth."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError

from strata.cluster.devcluster import DevCluster
from strata.cluster.etcd import Etcd
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(180)


def _client(url: str) -> Client:
    return fast_client(url)


def _proxies(cluster: DevCluster) -> list[str]:
    return [p.url for p in cluster.procs.values() if p.role == "proxy" and p.alive()]


def test_round_trips_through_every_proxy_and_hrw_placement(cluster: DevCluster) -> None:
    p1, p2 = _proxies(cluster)
    bucket = _client(p1).bucket("images").create()
    for i in range(40):
        bucket.object(f"img/{i:03d}.jpg").get_writer().put_content(f"pixels {i}".encode())
    other = _client(p2).bucket("images")
    assert [e.name for e in other.list_all_objects(page_size=7)] == [f"img/{i:03d}.jpg" for i in range(40)]
    assert other.object("img/007.jpg").get_reader().read_all() == b"pixels 7"
    # each object sits on the target the SDK's own HRW picks (and direct reads go straight there)
    smap = _client(p1).cluster().get_info()
    ports = {t.daemon_id: int(t.public_net.daemon_port) for t in smap.tmap.values()}
    by_port = {p.port: p for p in cluster.procs.values() if p.role == "target"}
    for i in range(40):
        name = f"img/{i:03d}.jpg"
        owner = smap.get_target_for_object(f"ais/@#/images/{name}")
        data_dir = by_port[ports[owner.daemon_id]].data
        assert os.path.exists(
            os.path.join(data_dir, "mp", "@ais", "images", "%ob", "img%", f"{i:03d}.jpg")
        ), name
        assert bucket.object(name).get_reader(direct=True).read_all() == f"pixels {i}".encode()


def test_proxy_redirects_data_with_307(cluster: DevCluster) -> None:
    p1 = _proxies(cluster)[0]
    _client(p1).bucket("r").create()
    resp = requests.put(f"{p1}/v1/objects/r/x?provider=ais", data=b"abc", allow_redirects=False, timeout=10)
    assert resp.status_code == 307
    target = resp.headers["Location"]
    assert target.split("/v1/")[0] in {p.url for p in cluster.procs.values() if p.role == "target"}
    assert requests.put(target, data=b"abc", timeout=10).status_code == 200
    assert requests.get(f"{p1}/v1/objects/r/x?provider=ais", timeout=10).content == b"abc"


def test_bucket_metadata_is_cluster_wide(cluster: DevCluster) -> None:
    p1, p2 = _proxies(cluster)
    _client(p1).bucket("meta").create()
    assert "meta" in [b.name for b in _client(p2).cluster().list_buckets()]
    _client(p2).bucket("meta").object("o").get_writer().put_content(b"1")
    _client(p1).bucket("meta").delete()
    with pytest.raises(AISError):
        _client(p2).bucket("meta").head()
    # every target removed the bucket's data
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [
            p.name
            for p in cluster.procs.values()
            if p.role == "target" and os.path.isdir(os.path.join(p.data, "mp", "@ais", "meta"))
        ]
        if not left:
            break
        time.sleep(0.1)
    assert not left


def test_killed_target_leaves_the_map_and_others_keep_serving(cluster: DevCluster) -> None:
    endpoint = _proxies(cluster)[0]
    bucket = _client(endpoint).bucket("k").create()
    names = [f"o{i}" for i in range(30)]
    for name in names:
        bucket.object(name).get_writer().put_content(name.encode())
    smap = _client(endpoint).cluster().get_info()
    victim = next(p for p in cluster.procs.values() if p.role == "target")
    victim_id = next(t.daemon_id for t in smap.tmap.values() if int(t.public_net.daemon_port) == victim.port)
    survivors = [n for n in names if smap.get_target_for_object(f"ais/@#/k/{n}").daemon_id != victim_id]
    cluster.kill(victim.name)
    cluster.wait_for_map(targets=2, timeout=20)  # the lease expired; the map dropped it
    for name in survivors:
        assert (
            requests.get(f"{endpoint}/v1/objects/k/{name}?provider=ais", timeout=10).content == name.encode()
        )


def test_etcd_outage_reads_continue_and_changes_are_refused_then_resume(cluster: DevCluster) -> None:
    endpoint = _proxies(cluster)[0]
    bucket = _client(endpoint).bucket("e").create()
    bucket.object("before").get_writer().put_content(b"kept")
    cluster.stop("etcd")
    assert requests.get(f"{endpoint}/v1/objects/e/before?provider=ais", timeout=10).content == b"kept"
    resp = requests.post(
        f"{endpoint}/v1/buckets/new-during-outage?provider=ais",
        json={"action": "create-bck", "name": "", "value": None},
        timeout=10,
    )
    assert resp.status_code == 503 and "etcd" in resp.json()["message"]
    cluster.restart("etcd")
    cluster.wait_for_map(targets=3, timeout=30)
    deadline = time.monotonic() + 20
    while True:
        resp = requests.post(
            f"{endpoint}/v1/buckets/after-outage?provider=ais",
            json={"action": "create-bck", "name": "", "value": None},
            timeout=10,
        )
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert resp.status_code == 200, resp.text
    bucket.object("after").get_writer().put_content(b"new")
    assert bucket.object("after").get_reader().read_all() == b"new"


def test_duplicate_node_id_and_malformed_records_are_refused(cluster: DevCluster) -> None:
    # a second process on a live target's data directory has that target's id
    target = next(p for p in cluster.procs.values() if p.role == "target")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "strata",
            "target",
            "--etcd",
            cluster.etcd_url,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data",
            target.data,
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "already registered" in done.stderr
    # a malformed registration in etcd is logged and ignored: the map stays as it was
    etcd = Etcd([cluster.etcd_url])
    etcd.put("/strata/strata/nodes/bogus", b"{not json")
    etcd.put("/strata/strata/bmd", json.dumps({"version": 0, "uuid": "x", "buckets": {}}).encode())
    time.sleep(0.5)
    smap = cluster.wait_for_map(targets=3, proxies=2)
    assert "bogus" not in smap["tmap"]  # type: ignore[operator]
    endpoint = _proxies(cluster)[0]
    _client(endpoint).bucket("still-works").create()
    logs = "".join(Path(p.log).read_text() for p in cluster.procs.values() if p.role == "proxy")
    assert "refusing malformed nodes/bogus" in logs
    assert "refusing BMD version 0" in logs


def test_proxy_answers_a_body_announcing_put_before_the_body(cluster: DevCluster) -> None:
    """The SDK over HTTPS sends a PUT's headers with Connection: close and waits for the redirect."""
    proxy = next(p for p in cluster.procs.values() if p.role == "proxy")
    fast_client(proxy.url).bucket("early").create()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
        conn.sendall(
            b"PUT /v1/objects/early/x?provider=ais HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 5\r\nConnection: close\r\n\r\n"
        )
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 307"), answer[:100]
    assert b"Location: http://127.0.0.1:" in answer
