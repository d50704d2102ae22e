"""The downloader and the blob downloader in an in-process cluster (a proxy and two targets over the fake
peer client) with a real S3 emulator and a local HTTP origin: the proxy starts one ``dnl-`` job on every
target, each target fetches the objects HRW gives it, and the proxy adds their status up; a blob
download is sent (307) to the object's owner, which runs the job."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from strata.backends import close_backends
from strata.core.names import BucketRef
from tests.unit.inprocess_cluster import InProcessCluster

from .emulators import HttpOrigin, MotoServer

NOT_ENDED = "0001-01-01T00:00:00Z"


@pytest.fixture
def cluster(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessCluster]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    monkeypatch.setenv("AWS_REGION", moto.region)
    close_backends()
    in_process = InProcessCluster(tmp_path)
    yield in_process
    in_process.close()
    close_backends()


def _json(answer: Any) -> Any:
    assert answer.status == 200, answer.body
    return msgspec.json.decode(answer.body)


def _wait_download(cluster: InProcessCluster, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        state: dict[str, Any] = _json(
            cluster.call("GET", "/v1/download", body=json.dumps({"id": job_id}).encode())
        )
        if state["finished_time"] != NOT_ENDED:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def _holders(cluster: InProcessCluster, bck: BucketRef, name: str) -> list[str]:
    return [
        node_id
        for node_id, member in cluster.nodes.items()
        if node_id != "p1" and member.node.objects.listed(bck, name) is not None
    ]


def test_each_target_downloads_what_it_owns_and_the_proxy_adds_up(
    cluster: InProcessCluster, http_origin: HttpOrigin
) -> None:
    folder = f"cl-{uuid.uuid4().hex[:8]}"
    (http_origin.root / folder).mkdir()
    shards = {f"s-{i:02d}": os.urandom(2000 + i) for i in range(16)}
    for name, data in shards.items():
        (http_origin.root / folder / name).write_bytes(data)
    body = {
        "type": "range",
        "bucket": {"name": "dl", "provider": "ais"},
        "template": f"{http_origin.endpoint}/{folder}/s-{{00..15}}",
    }
    job_id = _json(cluster.call("POST", "/v1/download", body=json.dumps(body).encode()))["id"]
    state = _wait_download(cluster, job_id)
    assert (state["finished_cnt"], state["total"], state["error_cnt"], state["all_dispatched"]) == (
        16,
        16,
        0,
        True,
    )
    bck = BucketRef.parse("dl")
    owners = {cluster.proxy.node.cluster_map().target_for(bck, name).id for name in shards}  # type: ignore[union-attr]
    assert owners == {"t1", "t2"}  # both targets had work
    for name, data in shards.items():
        owner = cluster.proxy.node.cluster_map().target_for(bck, name)
        assert owner is not None and _holders(cluster, bck, name) == [owner.id]
        assert cluster.call("GET", f"/v1/objects/dl/{name}").body == data
    listed = _json(cluster.call("GET", "/v1/download"))
    assert [(job["id"], job["finished_cnt"]) for job in listed] == [(job_id, 16)]
    assert cluster.call("DELETE", "/v1/download/abort", body=b'{"id": "dnl-nope"}').status == 404
    assert (
        cluster.call("DELETE", "/v1/download/remove", body=json.dumps({"id": job_id}).encode()).status == 200
    )
    assert cluster.call("GET", "/v1/download", body=json.dumps({"id": job_id}).encode()).status == 404


def test_backend_download_and_blob_download_through_the_proxy(
    moto: MotoServer, cluster: InProcessCluster
) -> None:
    s3 = moto.s3()
    name = f"clb-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    keys = [f"k-{i}" for i in range(10)]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=key.encode() * 100)
    blob = os.urandom(3 * 1024 * 1024 + 7)
    s3.put_object(Bucket=name, Key="blob", Body=blob)
    body = {"type": "backend", "bucket": {"name": name, "provider": "aws"}, "prefix": "k-"}
    job_id = _json(cluster.call("POST", "/v1/download", body=json.dumps(body).encode()))["id"]
    state = _wait_download(cluster, job_id)
    assert (state["finished_cnt"], state["total"]) == (10, 10)
    bck = BucketRef.parse(name, "aws")
    for key in keys:
        owner = cluster.proxy.node.cluster_map().target_for(bck, key)
        assert owner is not None and _holders(cluster, bck, key) == [owner.id]
    # the blob downloader: the proxy sends the request to the object's owner, which runs the job
    message = {
        "action": "blob-download",
        "name": "blob",
        "value": {"chunk-size": 1024 * 1024, "num-workers": 3},
    }
    answer = cluster.call("POST", f"/v1/objects/{name}", "provider=aws", json.dumps(message).encode())
    assert answer.status == 200, answer.body
    blob_job = answer.body.decode()
    deadline = time.monotonic() + 60
    query = json.dumps({"ID": blob_job}).encode()
    while True:
        snaps = _json(cluster.call("GET", "/v1/cluster", "what=qryxstats", query))
        found = [snap for parts in snaps.values() for snap in parts]
        if found and found[0]["end-time"] != NOT_ENDED:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [snap] = found
    assert (
        snap["kind"] == "blob-download" and not snap["abort-err"] and snap["stats"]["loc-bytes"] == len(blob)
    )
    owner = cluster.proxy.node.cluster_map().target_for(bck, "blob")
    assert owner is not None and _holders(cluster, bck, "blob") == [owner.id]
    assert cluster.call("GET", f"/v1/objects/{name}/blob", "provider=aws").body == blob
    s3.close()
