"""The role objects of a cluster, in-process: a proxy and two targets over the fake peer client.

What each role answers is tested here without a socket or etcd: the proxy redirects object requests
to the HRW owner and never stores bytes, merges the targets' listings, runs a bucket job on every
target under one job id, sends a GetBatch to a designated target that pulls its peers' entries, and
reports a target that does not answer as 503 (never 404).
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from strata.core.names import BucketRef
from strata.jobs.registry import JobRecord

from .inprocess_cluster import InProcessCluster

NAMES = [f"obj-{i:03d}" for i in range(40)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[InProcessCluster]:
    in_process = InProcessCluster(tmp_path)
    yield in_process
    in_process.close()


def _filled(cluster: InProcessCluster, bucket: str = "b") -> dict[str, str]:
    """Create the bucket through the proxy and PUT every name; returns name -> owning target id."""
    created = cluster.call("POST", f"/v1/buckets/{bucket}", "provider=ais", b'{"action": "create-bck"}')
    assert created.status == 200, created.body
    owners = {}
    cluster_map = cluster.proxy.node.cluster_map()
    for name in NAMES:
        put = cluster.call("PUT", f"/v1/objects/{bucket}/{name}", "provider=ais", name.encode())
        assert put.status == 200, put.body
        owner = cluster_map.target_for(BucketRef.parse(bucket, "ais"), name)
        assert owner is not None
        owners[name] = owner.id
    return owners


def _list(cluster: InProcessCluster, bucket: str) -> list[str]:
    body = json.dumps({"action": "list", "value": {"props": "name,size"}}).encode()
    answer = cluster.call("GET", f"/v1/buckets/{bucket}", "provider=ais", body)
    assert answer.status == 200, answer.body
    page = msgspec.json.decode(answer.body)
    return [entry["n"] for entry in page["Entries"] or []]


def test_objects_go_to_their_owner_and_the_proxy_stores_nothing(cluster: InProcessCluster) -> None:
    owners = _filled(cluster)
    assert set(owners.values()) == {"t1", "t2"}  # HRW spreads 40 names over both targets
    for name, owner in owners.items():
        target = cluster.nodes[owner].node
        assert target.objects.metadata(BucketRef.parse("b", "ais"), name).size == len(name)
        assert cluster.call("GET", f"/v1/objects/b/{name}", "provider=ais").body == name.encode()
    proxy = cluster.proxy.node
    assert proxy.metrics.totals()["put_count"] == 0
    assert proxy.metrics.totals()["redirect_count"] == 2 * len(NAMES)


def test_the_proxy_merges_every_targets_listing(cluster: InProcessCluster) -> None:
    _filled(cluster)
    assert _list(cluster, "b") == sorted(NAMES)


def test_a_bucket_job_runs_on_every_target_under_one_id(cluster: InProcessCluster) -> None:
    owners = _filled(cluster)
    doomed = [name for name in NAMES if name.endswith(("1", "2"))]
    assert {owners[name] for name in doomed} == {"t1", "t2"}
    body = json.dumps({"action": "delete-listrange", "value": {"objnames": doomed}}).encode()
    answer = cluster.call("DELETE", "/v1/buckets/b", "provider=ais", body)
    assert answer.status == 200, answer.body
    job_id = answer.body.decode()
    for target in ("t1", "t2"):  # each target ran its part under the proxy's id (passed as ?xid=)
        record = cluster.nodes[target].node.jobs.load(job_id)
        assert record is not None and record.kind == "delete-listrange"
        record = _wait_finished(cluster, target, job_id)
        assert not record.abort_err
    assert _list(cluster, "b") == sorted(set(NAMES) - set(doomed))


def _wait_finished(cluster: InProcessCluster, target: str, job_id: str) -> JobRecord:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = cluster.nodes[target].node.jobs.load(job_id)
        if record is not None and record.finished:
            return record
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish on {target}")


def test_getbatch_through_the_proxy_gathers_from_every_target_in_order(cluster: InProcessCluster) -> None:
    _filled(cluster)
    wanted = list(reversed(NAMES))
    body = json.dumps({"in": [{"objname": name} for name in wanted], "mime": ".tar", "strm": True}).encode()
    answer = cluster.call("GET", "/v1/ml/moss/b", "provider=ais", body)
    assert answer.status == 200, answer.body
    with tarfile.open(fileobj=io.BytesIO(answer.body)) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    assert members == [(f"b/{name}", name.encode()) for name in wanted]
    # the designated target fetched its peer's entries over the (fake) peer client
    assert any(call.path.startswith(("/v1/ml/moss", "/v1/objects/b/")) for call in cluster.peers.calls)


def test_a_target_that_does_not_answer_is_a_503_never_a_404(cluster: InProcessCluster) -> None:
    _filled(cluster)
    cluster.peers.set_unreachable("t2")
    body = json.dumps({"action": "list", "value": {"props": "name"}}).encode()
    answer = cluster.call("GET", "/v1/buckets/b", "provider=ais", body)
    assert answer.status == 503, answer.body
    assert b"t2" in answer.body


def _compressing(cluster: InProcessCluster, bucket: str) -> None:
    created = cluster.call("POST", f"/v1/buckets/{bucket}", "provider=ais", b'{"action": "create-bck"}')
    assert created.status == 200, created.body
    props = {"action": "set-bprops", "value": {"compression": {"enabled": True}}}
    changed = cluster.call("PATCH", f"/v1/buckets/{bucket}", "provider=ais", json.dumps(props).encode())
    assert changed.status == 200, changed.body


def test_a_compressed_copy_between_targets_travels_as_stored(cluster: InProcessCluster) -> None:
    """copy-bck into a bucket that keeps the same stored form: objects whose new owner is the other
    target arrive compressed, as stored, with their whole metadata, and are not compressed again there."""
    _compressing(cluster, "zs")
    _compressing(cluster, "zd")
    content = {name: (name.encode() + b" is a line of a compressible log\n") * 400 for name in NAMES}
    facts = {"source": "aws", "ETag": "e" * 32, "Last-Modified": "Tue, 01 Dec 2026 00:00:00 GMT", "team": "v"}
    patch = json.dumps({"value": facts}).encode()  # the backend's facts, kept apart on disk, and a user key
    for name, data in content.items():
        assert cluster.call("PUT", f"/v1/objects/zs/{name}", "provider=ais", data).status == 200
        assert cluster.call("PATCH", f"/v1/objects/zs/{name}", "provider=ais", patch).status == 200
    compressed_before = sum(n.node.metrics.totals()["compressed_put_count"] for n in cluster.nodes.values())
    body = json.dumps({"action": "copy-bck", "value": {}}).encode()
    answer = cluster.call("POST", "/v1/buckets/zs", "provider=ais&bck_to=ais/@%23/zd", body)
    assert answer.status == 200, answer.body
    for target in ("t1", "t2"):
        assert not _wait_finished(cluster, target, answer.body.decode()).abort_err
    dst, src = BucketRef.parse("zd", "ais"), BucketRef.parse("zs", "ais")
    cluster_map = cluster.proxy.node.cluster_map()
    moved = 0
    for name, data in content.items():
        assert cluster.call("GET", f"/v1/objects/zd/{name}", "provider=ais").body == data
        owner = cluster_map.target_for(dst, name)
        assert owner is not None
        md = cluster.nodes[owner.id].node.objects.metadata(dst, name)
        assert md.codec == "zstd" and md.size == len(data) and md.stored_size < len(data) // 10
        assert md.custom == facts  # the whole record travelled: facts and user metadata
        moved += cluster_map.target_for(src, name) != owner
    assert moved  # HRW put some destinations on the other target
    compressed_after = sum(n.node.metrics.totals()["compressed_put_count"] for n in cluster.nodes.values())
    assert compressed_after == compressed_before  # stored bytes travelled and were kept: no recompression
    transfers = [c for c in cluster.peers.calls if c.method == "PUT" and c.path.startswith("/v1/objects/zd/")]
    assert len(transfers) == moved
