"""Jobs started through a proxy run on every target under one id; the SDK waits on them as usual."""

from __future__ import annotations

import pytest
import requests

from strata.cluster.devcluster import DevCluster
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(180)


def test_delete_listrange_summary_and_started_jobs_through_a_proxy(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    bucket = client.bucket("jobs").create()
    for i in range(30):
        bucket.object(f"f{i:02d}").get_writer().put_content(b"x" * (i + 1))
    summary = bucket.summary()
    assert summary["ObjCount"]["obj_count_present"] == "30"
    assert summary["TotalSize"]["size_all_present_objs"] == str(sum(range(1, 31)))
    job_id = bucket.objects(obj_names=[f"f{i:02d}" for i in range(10)]).delete()
    assert client.job(job_id=job_id).wait(timeout=60).success
    snaps = client.job(job_id=job_id).get_details().list_snapshots()
    assert len(snaps) == 3 and {s.id for s in snaps} == {job_id}  # one part per target, one id
    assert sum(s.stats.objects for s in snaps if s.stats) == 10
    assert [e.name for e in bucket.list_all_objects()] == [f"f{i:02d}" for i in range(10, 30)]
    started = client.job(job_kind="cleanup-store").start()
    assert client.job(job_id=started).wait(timeout=60).success
    stop = requests.put(
        f"{cluster.endpoint}/v1/cluster",
        json={"action": "stop", "name": "", "value": {"ID": started}},
        timeout=10,
    )
    assert stop.status_code == 200
    bad = requests.delete(
        f"{cluster.endpoint}/v1/buckets/jobs?provider=ais",
        json={"action": "delete-listrange", "name": "", "value": {"template": "x{3..1}"}},
        timeout=10,
    )
    assert bad.status_code == 400
