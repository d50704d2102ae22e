"""``what=savings`` in-process: an embedded node answers its own ledger on both paths, a proxy of an
in-process cluster adds up its targets' (through the fake peer client), filters and bad queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .inprocess import InProcessNode
from .inprocess_cluster import InProcessCluster

FIELDS = ("original_bytes", "stored_bytes", "objects")


def _report(answer: Any) -> dict[str, Any]:
    assert answer.status == 200, answer.body
    report: dict[str, Any] = json.loads(answer.body)
    return report


def _make(call: Any, bucket: str, bodies: dict[str, bytes]) -> None:
    assert call("POST", f"/v1/buckets/{bucket}", "provider=ais", b'{"action": "create-bck"}').status == 200
    props = json.dumps({"action": "set-bprops", "value": {"compression": {"enabled": True}}}).encode()
    assert call("PATCH", f"/v1/buckets/{bucket}", "provider=ais", props).status == 200
    for name, body in bodies.items():
        assert call("PUT", f"/v1/objects/{bucket}/{name}", "provider=ais", body).status == 200


BODIES = {f"o{i:02d}.txt": b"all work and no play\n" * (50 * (i + 1)) for i in range(12)}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[InProcessNode]:
    in_process = InProcessNode(tmp_path)
    yield in_process
    in_process.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[InProcessCluster]:
    in_process = InProcessCluster(tmp_path)
    yield in_process
    in_process.close()


def test_embedded_node_answers_its_ledger_on_both_paths(node: InProcessNode) -> None:
    _make(node.call, "b1", BODIES)
    _make(node.call, "b2", {"x.txt": b"x" * 10})
    daemon = _report(node.call("GET", "/v1/daemon", "what=savings"))
    cluster = _report(node.call("GET", "/v1/cluster", "what=savings"))
    assert daemon == cluster
    rows = {row["bucket"]: row for row in daemon["buckets"]}
    assert rows["ais://b1"]["original_bytes"] == sum(map(len, BODIES.values()))
    assert rows["ais://b1"]["objects"] == len(BODIES)
    assert rows["ais://b2"]["original_bytes"] == 10
    for field in FIELDS:
        assert daemon["total"][field] == sum(row[field] for row in daemon["buckets"])
    only = _report(node.call("GET", "/v1/cluster", "what=savings&bck=b2&provider=ais"))
    assert [row["bucket"] for row in only["buckets"]] == ["ais://b2"]
    assert only["total"]["objects"] == 1
    verified = _report(node.call("GET", "/v1/cluster", "what=savings&verify=true"))
    assert verified["verified"] is True and verified["differences"] == [] and verified["unsettled"] == []
    assert verified["buckets"] == daemon["buckets"]


def test_an_empty_bucket_has_a_zero_row(node: InProcessNode) -> None:
    _make(node.call, "empty", {})
    report = _report(node.call("GET", "/v1/daemon", "what=savings&bck=empty"))
    [row] = report["buckets"]
    assert row == {
        "bucket": "ais://empty",
        "original_bytes": 0,
        "stored_bytes": 0,
        "saved_bytes": 0,
        "objects": 0,
        "ratio": 1.0,
        "saved_ratio": 0.0,
    }


def test_bad_queries(node: InProcessNode) -> None:
    assert node.call("GET", "/v1/cluster", "what=savings&bck=nope").status == 404
    assert node.call("GET", "/v1/daemon", "what=savings&bck=nope").status == 404
    assert node.call("GET", "/v1/daemon", "what=savings&verify=perhaps").status == 400


def test_proxy_adds_up_the_targets(cluster: InProcessCluster) -> None:
    _make(cluster.call, "spread", BODIES)
    parts = {
        node_id: _report(cluster.nodes[node_id].call("GET", "/v1/daemon", "what=savings&bck=spread"))
        for node_id in ("t1", "t2")
    }
    assert all(part["buckets"][0]["objects"] for part in parts.values()), "every object on one target"
    total = _report(cluster.proxy.call("GET", "/v1/cluster", "what=savings&bck=spread"))
    [row] = total["buckets"]
    for field in FIELDS:
        assert row[field] == sum(part["buckets"][0][field] for part in parts.values())
    assert row["objects"] == len(BODIES)
    verified = _report(cluster.proxy.call("GET", "/v1/cluster", "what=savings&verify=true"))
    assert verified["verified"] is True
    assert cluster.proxy.call("GET", "/v1/cluster", "what=savings&bck=nope").status == 404
