"""GetBatch in a cluster: the proxy redirects to a designated target that pulls peers' entries in order."""

from __future__ import annotations

import io
import json
import tarfile
import time

import pytest
import requests

from strata.cluster.devcluster import DevCluster
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(180)


def _tar_members(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]  # type: ignore[union-attr]


def _fill(cluster: DevCluster, n: int = 60) -> dict[str, bytes]:
    client = fast_client(cluster.endpoint)
    bucket = client.bucket("gb").create()
    objects = {f"s/{i:04d}": f"sample {i}".encode() * (1 + i % 17) for i in range(n)}
    for name, data in objects.items():
        bucket.object(name).get_writer().put_content(data)
    shard = io.BytesIO()
    with tarfile.open(fileobj=shard, mode="w") as tf:
        for j in range(5):
            payload = f"member {j}".encode() * 100
            info = tarfile.TarInfo(f"m{j}.bin")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    bucket.object("shard.tar").get_writer().put_content(shard.getvalue())
    return objects


def test_batch_through_a_proxy_in_request_order(cluster: DevCluster) -> None:
    objects = _fill(cluster)
    names = list(reversed(sorted(objects)))  # request order, not name order
    entries = [{"objname": n} for n in names] + [
        {"objname": "shard.tar", "archpath": "m3.bin"},
        {"objname": "s/0001", "start": 2, "length": 5},
    ]
    body = {"in": entries, "mime": ".tar", "coer": False, "onob": False, "strm": True}
    resp = requests.get(f"{cluster.endpoint}/v1/ml/moss/gb?provider=ais", data=json.dumps(body), timeout=60)
    assert resp.status_code == 200, resp.text[:300]
    members = _tar_members(resp.content)
    assert [m[0] for m in members] == [f"gb/{n}" for n in names] + ["gb/shard.tar/m3.bin", "gb/s/0001"]
    assert all(data == objects[name[3:]] for name, data in members[: len(names)])
    assert members[-2][1] == b"member 3" * 100
    assert members[-1][1] == objects["s/0001"][2:7]


def test_batch_with_coer_missing_entries_and_the_sdk(cluster: DevCluster) -> None:
    objects = _fill(cluster, 30)
    client = fast_client(cluster.endpoint)
    batch = client.batch(bucket=client.bucket("gb"))
    for name in sorted(objects)[:10]:
        batch.add(name)
    got = [(meta.obj_name, data) for meta, data in batch.get()]
    assert [name for name, _ in got] == sorted(objects)[:10]
    assert all(data == objects[name] for name, data in got)
    body = {
        "in": [{"objname": "s/0000"}, {"objname": "nope"}, {"objname": "s/0002"}],
        "coer": True,
        "strm": True,
    }
    resp = requests.get(f"{cluster.endpoint}/v1/ml/moss/gb?provider=ais", data=json.dumps(body), timeout=60)
    assert [m[0] for m in _tar_members(resp.content)] == ["gb/s/0000", "__404__/gb/nope", "gb/s/0002"]
    strict = {"in": [{"objname": "s/0000"}, {"objname": "nope"}], "coer": False, "strm": True}
    resp = requests.get(f"{cluster.endpoint}/v1/ml/moss/gb?provider=ais", data=json.dumps(strict), timeout=60)
    assert resp.status_code == 404


def test_batch_survives_a_target_killed_mid_batch_with_coer(cluster: DevCluster) -> None:
    objects = _fill(cluster, 90)
    victim, designated = [p for p in cluster.procs.values() if p.role == "target"][:2]
    smap = fast_client(cluster.endpoint).cluster().get_info()
    on_victim = [
        n
        for n in sorted(objects)
        if int(smap.get_target_for_object(f"ais/@#/gb/{n}").public_net.daemon_port) == victim.port
    ]
    cluster.kill(victim.name)  # still in the cluster map (its lease has not expired): peers fail on it
    url = f"{designated.url}/v1/ml/moss/gb?provider=ais"
    # without coer an entry on a target that does not answer fails the batch with 503, never 404:
    # the object exists, the client retries once the map has dropped the target
    strict = {"in": [{"objname": on_victim[0]}], "coer": False, "strm": True}
    resp = requests.get(url, data=json.dumps(strict), timeout=120)
    assert resp.status_code == 503 and "unreachable" in resp.text, resp.text[:300]
    body = {"in": [{"objname": n} for n in sorted(objects)], "coer": True, "strm": True}
    resp = requests.get(url, data=json.dumps(body), timeout=120)
    # a third of 90 > max_soft_errs: the soft errors of a down peer end the batch with its 503
    assert resp.status_code == 503 and "too many soft errors" in resp.text, resp.text[:300]
    raised = {"action": "set-config", "name": "", "value": {"get_batch": {"max_soft_errs": 1000}}}
    assert requests.put(f"{cluster.endpoint}/v1/cluster", json=raised, timeout=10).status_code == 200
    time.sleep(1)  # the designated target sees the new config through its etcd watch
    resp = requests.get(url, data=json.dumps(body), timeout=120)
    assert resp.status_code == 200, resp.text[:400]
    members = _tar_members(resp.content)
    assert len(members) == len(objects)  # one member per entry, in order
    present = [(n, d) for n, d in members if not n.startswith("__404__/")]
    assert all(d == objects[n[3:]] for n, d in present)
    assert len(present) >= len(objects) // 3  # the survivors' share at least
