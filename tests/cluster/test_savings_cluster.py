"""The savings report of a real cluster (etcd, one proxy, two targets): the proxy adds up its targets.

Each target answers its own ledger at ``/v1/daemon?what=savings``; the proxy's
``/v1/cluster?what=savings`` must be their per-bucket sum, and ``strata savings`` through the proxy must
print it. Objects spread over both targets by HRW, so neither target's part alone is the total.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from strata.cluster.devcluster import DevCluster
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(180)
REPO_ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("original_bytes", "stored_bytes", "objects")


@pytest.fixture(scope="module")
def two_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(str(tmp_path_factory.mktemp("savings") / "cluster"), workers=1)
    try:
        dev.up(targets=2, proxies=1)
        yield dev
    finally:
        dev.down()


def _savings(url: str, scope: str, **query: str) -> dict[str, Any]:
    answer = requests.get(f"{url}/v1/{scope}", params={"what": "savings", **query}, timeout=60)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def _target_urls(dev: DevCluster) -> dict[str, str]:
    smap = requests.get(f"{dev.endpoint}/v1/daemon", params={"what": "smap"}, timeout=10).json()
    return {node_id: node["public_net"]["direct_url"] for node_id, node in smap["tmap"].items()}


def test_proxy_sums_the_targets_ledgers(two_targets: DevCluster) -> None:
    client = fast_client(two_targets.endpoint)
    bucket = client.bucket("sv-sum").create()
    bucket.make_request("PATCH", "set-bprops", value={"compression": {"enabled": True}})
    bodies = {f"obj-{i:02d}.log": (b"line %d of a log\n" % i) * (100 + 37 * i) for i in range(24)}
    for name, body in bodies.items():
        bucket.object(name).get_writer().put_content(body)
    parts = {}
    for node_id, url in _target_urls(two_targets).items():
        report = _savings(url, "daemon", bck="sv-sum")
        [row] = report["buckets"]
        parts[node_id] = row
    assert len(parts) == 2
    assert all(row["objects"] > 0 for row in parts.values()), "HRW put every object on one target?"
    total = _savings(two_targets.endpoint, "cluster", bck="sv-sum")
    [row] = total["buckets"]
    assert row["bucket"] == "ais://sv-sum"
    for field in FIELDS:
        assert row[field] == sum(part[field] for part in parts.values()), field
    assert row["objects"] == len(bodies) and row["original_bytes"] == sum(map(len, bodies.values()))
    assert row["saved_bytes"] == max(0, row["original_bytes"] - row["stored_bytes"])
    assert total["total"]["objects"] == len(bodies)
    # a target answers the cluster's question too (it asks every target), the same numbers
    any_target = next(iter(_target_urls(two_targets).values()))
    assert _savings(any_target, "cluster", bck="sv-sum")["buckets"] == total["buckets"]
    # verify: every target recounts its own disks
    verified = _savings(two_targets.endpoint, "cluster", bck="sv-sum", verify="true")
    assert verified["verified"] is True and verified["differences"] == []
    assert verified["buckets"] == total["buckets"]
    # the CLI through the proxy prints the sum
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["AIS_ENDPOINT"] = two_targets.endpoint
    result = subprocess.run(
        [sys.executable, "-m", "strata", "savings", "ais://sv-sum", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["buckets"][0]["objects"] == len(bodies)
    assert printed["total"]["original_bytes"] == row["original_bytes"]


def test_missing_bucket_is_404_from_the_proxy(two_targets: DevCluster) -> None:
    answer = requests.get(
        f"{two_targets.endpoint}/v1/cluster", params={"what": "savings", "bck": "no-such-sv"}, timeout=10
    )
    assert answer.status_code == 404
