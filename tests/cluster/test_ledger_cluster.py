"""Every target's savings ledger follows the objects through rebalance, move-bck and destroy.

A rebalance has the receiving target's workers publish objects and the sending target's supervisor
delete them; a cluster move-bck renames each target's directories and then sends misplaced objects to
their new owners; a destroy reaches each target through the BMD watcher of its supervisor. After each,
``verify=true`` makes every target recount its disks: no bucket may differ, and the cluster's sum must
be what the clients wrote.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from strata.cluster.devcluster import DevCluster
from tests.cluster.test_rebalance import _wait_rebalanced
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(240)


def _verified(cluster: DevCluster) -> dict[str, Any]:
    answer = requests.get(
        f"{cluster.endpoint}/v1/cluster", params={"what": "savings", "verify": "true"}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    assert report["differences"] == [], report["differences"]
    return {row["bucket"]: row for row in report["buckets"]}


def test_ledgers_follow_rebalance_move_and_destroy(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    bucket = client.bucket("lg").create()
    objects = {f"d{i % 3}/o-{i:03d}": b"x" * (10 + i) for i in range(60)}
    for name, data in objects.items():
        bucket.object(name).get_writer().put_content(data)
    written = sum(map(len, objects.values()))
    assert _verified(cluster)["ais://lg"]["original_bytes"] == written
    cluster.add_node("target")  # objects move to the new target: received there, deleted here
    cluster.wait_for_map(targets=4)
    _wait_rebalanced(cluster, active=4)
    row = _verified(cluster)["ais://lg"]
    assert (row["objects"], row["original_bytes"]) == (len(objects), written)
    job_id = bucket.rename("lg2")
    assert client.job(job_id=job_id).wait(timeout=60).success
    rows = _verified(cluster)
    assert "ais://lg" not in rows
    assert (rows["ais://lg2"]["objects"], rows["ais://lg2"]["original_bytes"]) == (len(objects), written)
    client.bucket("lg2").delete()
    deadline = time.monotonic() + 30  # each target's supervisor removes the data when it sees the BMD
    while "ais://lg2" in _verified(cluster):
        assert time.monotonic() < deadline, "a destroyed bucket is still counted"
        time.sleep(0.2)
