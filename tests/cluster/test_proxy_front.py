"""The AIS /v1 front through a cluster proxy: what the embedded tier checks in
``tests/integration/test_ais_front.py`` must hold when a proxy fans out to real targets, plus the bucket
summary that only a proxy has to add up.

One cluster (etcd, 2 targets, 1 proxy) serves the whole module; each test uses its own buckets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError

from strata.cluster.devcluster import DevCluster
from tests.integration.helpers import fast_client
from tests.integration.test_ais_front import (
    check_destroy_needs_the_destroy_bit,
    check_getbatch_missing_bucket,
    check_not_built_and_unknown,
    check_setconfig,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def proxy_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(str(tmp_path_factory.mktemp("proxy-front") / "cluster"), workers=1)
    try:
        dev.up(targets=2, proxies=1)
        yield dev
    finally:
        dev.down()


@pytest.fixture
def client(proxy_cluster: DevCluster) -> Client:
    return fast_client(proxy_cluster.endpoint)


def test_bucket_info_adds_up_every_target(client: Client) -> None:
    """``bucket.info()`` through a proxy: the counts of all targets, not the proxy's (empty) disks."""
    bucket = client.bucket("info-sum").create()
    sizes = {f"o{i:02d}": i + 1 for i in range(20)}
    for name, size in sizes.items():
        bucket.object(name).get_writer().put_content(b"x" * size)
    props, info = bucket.info()
    assert json.loads(props)["provider"] == "ais"
    assert info["ObjCount"]["obj_count_present"] == "20"
    assert info["TotalSize"]["size_all_present_objs"] == str(sum(sizes.values()))
    assert info["ObjSize"]["obj_max_size"] == 20 and info["ObjSize"]["obj_min_size"] == 1
    with pytest.raises(AISError) as err:
        client.bucket("no-such-bucket-info").info()
    assert err.value.status_code == 404


def test_job_lists_filter_by_kind_through_a_proxy(client: Client, proxy_cluster: DevCluster) -> None:
    bucket = client.bucket("jobs-kind").create()
    bucket.object("o").get_writer().put_content(b"x")
    list(client.batch(["o"], bucket=bucket).get())  # a get-batch job on the designated target
    cleanup = client.job(job_kind="cleanup-store").start()
    assert client.job(job_id=cleanup).wait(timeout=60).success
    cluster = client.cluster()
    assert any(name.startswith("get-batch[") for name in cluster.list_running_jobs())
    batches = cluster.list_running_jobs(job_kind="get-batch")
    assert batches and all(name.startswith("get-batch[") for name in batches), batches
    # (a target may have started a cleanup-store of its own: a host disk above space.cleanupwm)
    running = cluster.list_running_jobs(job_kind="cleanup-store")
    assert all(name.startswith("cleanup-store[") for name in running)
    assert not any(cleanup in name for name in running)
    cleanups = [s.uuid for s in cluster.list_jobs_status(job_kind="cleanup-store")]
    assert cleanups.count(cleanup) == 2  # one status per target
    assert cleanup not in [s.uuid for s in cluster.list_jobs_status(job_kind="get-batch")]
    target_id = sorted(cluster.get_info().tmap)[0]
    on_one = cluster.list_jobs_status(job_kind="cleanup-store", target_id=target_id)
    assert [s.uuid for s in on_one].count(cleanup) == 1
    url = f"{proxy_cluster.endpoint}/v1/cluster"
    by_id = requests.get(url, params={"what": "status_all"}, json={"id": cleanup}, timeout=10)
    assert by_id.status_code == 200 and {s["uuid"] for s in by_id.json()} == {cleanup}
    with pytest.raises(AISError) as info:
        cluster.list_running_jobs(job_kind="no-such-kind")
    assert info.value.status_code == 400


def test_get_performance_through_a_proxy(client: Client) -> None:
    performance = client.cluster().get_performance()
    smap = client.cluster().get_info()
    assert set(performance) == set(smap.tmap) and len(performance) == 2
    for target_id, status in performance.items():
        assert status["snode"]["daemon_id"] == target_id and status["snode"]["daemon_type"] == "target"
        assert status["capacity"]["mountpaths"] and "put.n" in status["tracker"]
    proxy_id = smap.proxy_si.daemon_id
    own = requests.get(
        f"{client.cluster().get_primary_url()}/v1/reverse/daemon",
        params={"what": "node_status"},
        headers={"Ais-Node-Id": proxy_id},
        timeout=10,
    )
    assert own.status_code == 200 and own.json()["snode"]["daemon_type"] == "proxy"
    unknown = requests.get(
        f"{client.cluster().get_primary_url()}/v1/reverse/daemon",
        params={"what": "node_status"},
        headers={"Ais-Node-Id": "no-such-node"},
        timeout=10,
    )
    assert unknown.status_code == 404


def test_setconfig_through_a_proxy(proxy_cluster: DevCluster) -> None:
    check_setconfig(proxy_cluster.endpoint)


def test_not_built_is_501_and_unknown_is_4xx_through_a_proxy(
    client: Client, proxy_cluster: DevCluster
) -> None:
    bucket = client.bucket("not-built").create()
    check_not_built_and_unknown(proxy_cluster.endpoint, bucket.name)
    resp = requests.delete(
        f"{proxy_cluster.endpoint}/v1/buckets/{bucket.name}?provider=ais",
        json={"action": "evict-listrange", "name": "", "value": {"objnames": ["a"]}},
        timeout=10,
    )
    assert resp.status_code == 400 and "remote buckets" in resp.json()["message"]


def test_destroy_refused_without_the_destroy_bit_through_a_proxy(
    client: Client, proxy_cluster: DevCluster
) -> None:
    check_destroy_needs_the_destroy_bit(proxy_cluster.endpoint, client.bucket("no-destroy").create())


def test_getbatch_missing_bucket_through_a_proxy(client: Client, proxy_cluster: DevCluster) -> None:
    check_getbatch_missing_bucket(proxy_cluster.endpoint, client, client.bucket("gb-missing").create())
