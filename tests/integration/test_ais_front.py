"""The AIS /v1 front on an embedded server: job filters, the automatic store cleanup, node status,
setconfig, what is 501 and what is 4xx, bucket access bits on destroy, and GetBatch with a missing bucket.

The same behaviours through a cluster proxy are in ``tests/cluster/test_proxy_front.py``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError, ErrBckNotFound

from .helpers import act, bucket_props, error_json, fast_client, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(90)


# --- 1. job lists filtered by kind and id ---------------------------------------------------------


def test_job_lists_filter_by_kind_and_id(server_factory: Callable[..., StrataServer]) -> None:
    """The SDK sends ``{"kind", "node", "show_active"}``: a kind filter must hold, as on AIStore."""
    srv = server_factory(workers=1)
    client = fast_client(srv.endpoint)
    bucket = client.bucket("jobs-filter").create()
    bucket.object("o").get_writer().put_content(b"x")
    list(client.batch(["o"], bucket=bucket).get())  # a get-batch job, running (idle) from now on
    cleanup = client.job(job_kind="cleanup-store").start()
    assert client.job(job_id=cleanup).wait(timeout=30).success
    cluster = client.cluster()

    everything = cluster.list_running_jobs()
    assert any(name.startswith("get-batch[") for name in everything), everything
    batches = cluster.list_running_jobs(job_kind="get-batch")
    assert batches and all(name.startswith("get-batch[") for name in batches), batches
    # (the node may have started a cleanup-store of its own: a host disk above space.cleanupwm)
    for kind in ("cleanup-store", "cleanup"):  # an alias names the same kind
        running = cluster.list_running_jobs(job_kind=kind)
        assert all(name.startswith("cleanup-store[") for name in running), running
        assert not any(cleanup in name for name in running), running  # finished

    cleanups = [s.uuid for s in cluster.list_jobs_status(job_kind="cleanup-store")]
    assert cleanups.count(cleanup) == 1
    batch_ids = [s.uuid for s in cluster.list_jobs_status(job_kind="get-batch")]
    assert batch_ids and not set(batch_ids) & set(cleanups)
    assert cleanup in [s.uuid for s in cluster.list_jobs_status()]
    assert cluster.list_jobs_status(job_kind="cleanup-store", target_id="no-such-node") == []

    by_id = raw("GET", f"{srv.endpoint}/v1/cluster", params={"what": "status_all"}, json={"id": cleanup})
    assert by_id.status_code == 200 and [s["uuid"] for s in by_id.json()] == [cleanup]
    with pytest.raises(AISError) as info:
        cluster.list_jobs_status(job_kind="no-such-kind")
    assert info.value.status_code == 400



def test_the_node_cleans_its_store_by_itself_above_cleanupwm(
    server_factory: Callable[..., StrataServer], tmp_path: Path
) -> None:
    """With ``space.cleanupwm`` at 1% (any real disk is above it), the first write measures the disk and
    the node starts ``cleanup-store`` itself: the SDK sees the job, and a crashed write's work file older
    than ``dont_cleanup_time`` is gone while a newer one stays."""
    config = tmp_path / "cleanup.json"
    config.write_text(json.dumps({"space": {"cleanupwm": 1}}))
    srv = server_factory(workers=1, config=config)
    client = fast_client(srv.endpoint)
    bucket = client.bucket("auto-clean").create()
    bucket_dirs = list(Path(srv.data_dir).rglob("@ais/auto-clean"))
    assert len(bucket_dirs) == 1, bucket_dirs
    work = bucket_dirs[0] / "%wk"
    work.mkdir(exist_ok=True)
    stale, fresh = work / "crashed-put", work / "put-in-progress"
    for path in (stale, fresh):
        path.write_bytes(b"w" * 4096)
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    assert client.cluster().list_jobs_status(job_kind="cleanup-store") == []  # nothing written yet
    bucket.object("o").get_writer().put_content(b"x")  # the first write measures the disk
    deadline = time.monotonic() + 30
    while stale.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stale.exists() and fresh.exists()
    [job] = client.cluster().list_jobs_status(job_kind="cleanup-store")
    assert client.job(job_id=job.uuid).wait(timeout=30).success

# --- 3. node status (SDK get_performance) -------------------------------------------------------------


def test_get_performance(client: Client) -> None:
    performance = client.cluster().get_performance()
    smap = client.cluster().get_info()
    assert set(performance) == set(smap.tmap)
    for target_id, status in performance.items():
        assert status["snode"]["daemon_id"] == target_id
        assert status["snode"]["daemon_type"] == "target"
        assert status["status"] == "online"
        assert int(status["tracker"]["put.n"]["v"]) >= 0
        capacity = status["capacity"]
        assert capacity["mountpaths"] and int(capacity["total_avail"]) > 0
        for usage in capacity["mountpaths"].values():
            assert int(usage["total"]) >= int(usage["used"])


# --- 4. PUT /v1/cluster/setconfig?name=value ----------------------------------------------------------


def _cluster_config(endpoint: str) -> dict[str, Any]:
    resp = raw("GET", f"{endpoint}/v1/cluster", params={"what": "cluster_config"})
    assert resp.status_code == 200, resp.text
    config: dict[str, Any] = resp.json()
    return config


def check_setconfig(endpoint: str) -> None:
    """The ``ais config cluster k=v`` form: names in the query, values as strings; bad ones are 400."""
    url = f"{endpoint}/v1/cluster/setconfig"
    resp = raw("PUT", url, params={"periodic.stats_time": "20s", "space.highwm": "91", "transient": "false"})
    assert resp.status_code == 200, resp.text
    config = _cluster_config(endpoint)
    assert config["periodic"]["stats_time"] == "20s" and config["space"]["highwm"] == 91
    resp = raw("PUT", url, params={"features": str(1 << 4)})  # Fsync-PUT
    assert resp.status_code == 200, resp.text
    assert _cluster_config(endpoint)["features"] == "16"
    assert raw("PUT", url, params={"features": "0", "periodic.stats_time": "10s"}).status_code == 200
    for params, needle in (
        ({"periodic.stats_time": "soon"}, "stats_time"),
        ({"periodic.stats_time": "2h"}, "stats_time"),
        ({"space.highwm": "many"}, "highwm"),
        ({"no_such_section.key": "1"}, "no_such_section"),
        ({"features": "not-a-number"}, "features"),
        ({"transient": "true"}, "name=value"),
        ({}, "name=value"),
    ):
        bad = raw("PUT", url, params=params)
        assert bad.status_code == 400, (params, bad.status_code, bad.text)
        assert needle in error_json(bad)["message"], (params, bad.text)
    assert _cluster_config(endpoint)["periodic"]["stats_time"] == "10s"


def test_setconfig_names_in_the_query(server_factory: Callable[..., StrataServer]) -> None:
    check_setconfig(server_factory(workers=1).endpoint)


# --- 5. 501 only for what AIStore has and Strata has not built; 4xx for the rest -------------------------


def check_not_built_and_unknown(endpoint: str, bucket: str) -> None:
    """A job kind AIStore has but Strata has not built is 501 whichever way it is started; an unknown
    kind, action, path or method is a 4xx (a 5xx would make clients retry)."""
    client = fast_client(endpoint)
    for kind in ("make-n-copies", "mirror", "ec-encode", "rechunk"):
        with pytest.raises(AISError) as info:
            client.job(job_kind=kind).start()
        assert info.value.status_code == 501, kind
        assert "not implemented yet" in info.value.message, info.value.message
    # unknown to AIStore, not started by name, or (prefetch) without the one remote bucket it needs, or
    # (blob-download) without the object it needs
    for kind in ("no-such-kind", "copy-bck", "etl-bck", "prefetch-listrange", "blob-download"):
        with pytest.raises(AISError) as info:
            client.job(job_kind=kind).start()
        assert info.value.status_code == 400, kind
    bucket_url = f"{endpoint}/v1/buckets/{bucket}?provider=ais"
    for method, action in (("POST", "make-n-copies"), ("POST", "ec-encode"), ("POST", "etl-bck")):
        resp = raw(method, bucket_url, json=act(action, {}))
        assert resp.status_code == 501, (action, resp.status_code, resp.text)
    for method, action in (("POST", "no-such-action"), ("GET", "no-such-action"), ("PUT", "copy-bck")):
        resp = raw(method, bucket_url, json=act(action, {}))
        assert resp.status_code == 400, (method, action, resp.status_code, resp.text)
    resp = raw("PUT", f"{endpoint}/v1/cluster", json=act("no-such-action"))
    assert resp.status_code == 400, resp.text
    for method, path, status in (
        ("DELETE", "/v1/cluster", 405),
        ("POST", "/v1/cluster", 405),
        ("POST", "/v1/daemon", 405),
        ("GET", "/v1/cluster/no-such-path", 404),
        ("PUT", "/v1/cluster/no-such-path", 404),
        ("GET", "/v1/ml/whatever", 404),
        ("GET", "/v1/no-such-resource", 404),
        ("GET", "/v1/etl", 501),
        ("PUT", "/v1/download", 405),
        ("GET", "/v1/dsort", 501),
    ):
        resp = raw(method, f"{endpoint}{path}")
        assert resp.status_code == status, (method, path, resp.status_code, resp.text)


def test_not_built_is_501_and_unknown_is_4xx(endpoint: str, bucket: Bucket) -> None:
    check_not_built_and_unknown(endpoint, bucket.name)


# --- 6. destroy-bck honours the bucket's access bits -------------------------------------------------


def check_destroy_needs_the_destroy_bit(endpoint: str, bucket: Bucket) -> None:
    bucket.object("kept").get_writer().put_content(b"still here")
    url = f"{endpoint}/v1/buckets/{bucket.name}?provider=ais"
    assert raw("PATCH", url, json=act("set-bprops", {"access": "ro"})).status_code == 200
    assert bucket_props(endpoint, bucket.name)["access"] == "771"
    with pytest.raises(AISError) as info:
        bucket.delete()
    assert info.value.status_code == 403
    resp = raw("DELETE", url, json=act("destroy-bck"))
    assert resp.status_code == 403 and bucket.name in error_json(resp)["message"]
    assert bucket.object("kept").get_reader().read_all() == b"still here"
    assert bucket.name in [b.name for b in fast_client(endpoint).cluster().list_buckets()]


def test_destroy_refused_without_the_destroy_bit(bucket: Bucket, endpoint: str) -> None:
    check_destroy_needs_the_destroy_bit(endpoint, bucket)


# --- 7. GetBatch naming a missing bucket: 404 before any byte, also with coer -------------------------


def check_getbatch_missing_bucket(endpoint: str, client: Client, bucket: Bucket) -> None:
    bucket.object("present").get_writer().put_content(b"here")
    for strm in (True, False):
        body = {
            "in": [{"objname": "present"}, {"objname": "a", "bucket": "no-such-bucket-gb2"}],
            "coer": True,
            "strm": strm,
        }
        resp = raw("GET", f"{endpoint}/v1/ml/moss/{bucket.name}?provider=ais", json=body)
        assert resp.status_code == 404, (strm, resp.status_code, resp.content[:300])
        assert error_json(resp)["message"] == 'bucket "ais://no-such-bucket-gb2" does not exist'
        resp = raw("POST", f"{endpoint}/v1/buckets/{bucket.name}?provider=ais", json=act("getbatch", body))
        assert resp.status_code == 404, (strm, resp.status_code, resp.content[:300])
    batch = client.batch(bucket=bucket, cont_on_err=True)
    batch.add("present")
    batch.add("a", bck="no-such-bucket-gb2", provider="ais")
    with pytest.raises(ErrBckNotFound):
        list(batch.get())


def test_getbatch_missing_bucket_is_404_also_with_coer(endpoint: str, client: Client, bucket: Bucket) -> None:
    check_getbatch_missing_bucket(endpoint, client, bucket)
