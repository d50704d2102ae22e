"""Cluster calls of the SDK: smap, readiness, config, jobs (fast answers), direct reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import xxhash
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError

from .helpers import pattern, raw, timed

pytestmark = pytest.mark.timeout(60)

HRW_SEED = 1103515245


def test_smap(client: Client, endpoint: str) -> None:
    smap = client.cluster().get_info()
    assert len(smap.tmap) == 1 and len(smap.pmap) == 1
    assert smap.uuid
    assert smap.version >= 1
    proxy = smap.proxy_si
    assert proxy.daemon_type == "proxy"
    assert proxy.daemon_id in smap.pmap
    assert proxy.public_net is not None and proxy.public_net.direct_url == endpoint
    (target,) = smap.tmap.values()
    assert target.daemon_type == "target"
    assert target.public_net is not None and target.public_net.direct_url == endpoint
    assert target.public_net.daemon_port == endpoint.rsplit(":", 1)[1]
    for node in (proxy, target):
        assert node.id_digest == xxhash.xxh64(node.daemon_id.encode(), seed=HRW_SEED).intdigest()
        assert not node.in_maint_or_decomm()
    assert client.cluster().get_primary_url() == endpoint
    assert client.cluster().get_uuid() == smap.uuid


def test_smap_is_stable(client: Client) -> None:
    first = client.cluster().get_info()
    for _ in range(5):
        again = client.cluster().get_info()
        assert again.uuid == first.uuid
        assert set(again.tmap) == set(first.tmap)
        assert again.proxy_si.daemon_id == first.proxy_si.daemon_id


def test_is_ready_and_health(client: Client, endpoint: str) -> None:
    assert client.cluster().is_ready() is True
    for params in ({}, {"prr": "true"}):
        resp = raw("GET", f"{endpoint}/v1/health", params=params)
        assert resp.status_code == 200


def test_cluster_config(endpoint: str) -> None:
    resp = raw("GET", f"{endpoint}/v1/cluster", params={"what": "cluster_config"})
    assert resp.status_code == 200, resp.text
    config = resp.json()
    assert config["checksum"]["type"] == "xxhash2"
    assert "auth" in config
    assert config["mirror"]["copies"] == 2
    assert config["lru"]["dont_evict_time"] == "2h0m"
    assert isinstance(config["config_version"], str)


def test_daemon_config_and_snode(endpoint: str, client: Client) -> None:
    resp = raw("GET", f"{endpoint}/v1/daemon", params={"what": "config"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["checksum"]["type"] == "xxhash2"
    resp = raw("GET", f"{endpoint}/v1/daemon", params={"what": "snode"})
    assert resp.status_code == 200, resp.text
    snode = resp.json()
    smap = client.cluster().get_info()
    assert snode["daemon_id"] in set(smap.tmap) | set(smap.pmap)


def answers_fast(call: Callable[[], Any], what: str) -> Any:
    """Run an SDK call that may be unimplemented: it must answer (or fail with 4xx/501) within 2 s."""
    with timed(2.0, what):
        try:
            return call()
        except AISError as err:
            assert err.status_code in (400, 404, 405, 501), f"{what}: {err.status_code} {err.message}"
            return None


def test_job_queries_answer_fast(client: Client) -> None:
    cluster = client.cluster()
    running = answers_fast(cluster.list_running_jobs, "list_running_jobs")
    if running is not None:
        assert isinstance(running, list)
    statuses = answers_fast(cluster.list_jobs_status, "list_jobs_status")
    if statuses is not None:
        assert isinstance(statuses, list)
    answers_fast(lambda: client.job(job_id="no-such-job").status(), "job status")
    answers_fast(cluster.get_performance, "get_performance")
    answers_fast(cluster.list_etls, "list_etls")


def test_unknown_job_status_is_not_found(client: Client) -> None:
    with timed(2.0, "status of an unknown job"), pytest.raises(AISError) as info:
        client.job(job_id="no-such-job-id").status()
    assert info.value.status_code in (400, 404, 501)


# --- direct reads (the SDK picks the target by HRW over the smap) ---------------------------------


def test_direct_read(bucket: Bucket) -> None:
    data = pattern("direct", 100_000)
    obj = bucket.object("dir/direct")
    obj.get_writer().put_content(data)
    assert obj.get_reader(direct=True).read_all() == data
    assert obj.get_reader(direct=True, byte_range="bytes=500-599").read_all() == data[500:600]
    assert b"".join(obj.get_reader(direct=True, chunk_size=4096)) == data


def test_direct_read_many_names(bucket: Bucket) -> None:
    for i in range(30):
        bucket.object(f"many/{i}").get_writer().put_content(pattern(str(i), 100 + i))
    for i in range(30):
        assert bucket.object(f"many/{i}").get_reader(direct=True).read_all() == pattern(str(i), 100 + i)


def test_parallel_download(bucket: Bucket) -> None:
    data = pattern("parallel", 3 * 1024 * 1024 + 5)
    bucket.object("par").get_writer().put_content(data)
    with bucket.object("par").get_reader(num_workers=2, chunk_size=1024 * 1024).read_all() as buf:
        assert buf.tobytes() == data


def test_prometheus_metrics_count_across_workers(endpoint: str, bucket: Bucket) -> None:
    """Every worker counts into shared per-node counters; /metrics shows the node's totals."""

    def counter(text: str, name: str) -> int:
        line = next(x for x in text.splitlines() if x.startswith(f"ais_target_{name}{{"))
        return int(line.rsplit(" ", 1)[1])

    before = requests.get(f"{endpoint}/metrics", timeout=10).text
    assert "# TYPE ais_target_get_count counter" in before and 'node_id="' in before
    for i in range(10):  # a new connection each time: both workers take part
        with requests.Session() as s:
            s.put(f"{endpoint}/v1/objects/{bucket.name}/m{i}?provider=ais", data=b"12345", timeout=10)
            s.get(f"{endpoint}/v1/objects/{bucket.name}/m{i}?provider=ais", timeout=10)
    after = requests.get(f"{endpoint}/metrics", timeout=10).text
    assert counter(after, "put_count") - counter(before, "put_count") == 10
    assert counter(after, "put_bytes") - counter(before, "put_bytes") == 50
    assert counter(after, "get_count") - counter(before, "get_count") == 10
