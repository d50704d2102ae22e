"""One object path: the AIS and S3 fronts apply the same rules because both call the object service.

In-process (no sockets): each test builds an embedded node over a temporary directory and sends
requests to its ``/v1`` and ``/s3`` fronts through the server's ``Application`` protocol. Every test
runs twice: over the POSIX object store and over its in-memory twin (the service must not care).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strata.config.access import ACCESS_RO
from strata.config.features import FEATURE_FSYNC_PUT
from strata.core.names import BucketRef

from .inprocess import InProcessNode


@pytest.fixture(params=InProcessNode.STORAGES)
def node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[InProcessNode]:
    node = InProcessNode(tmp_path, storage=request.param)
    yield node
    node.close()


def _create(node: InProcessNode, bucket: str) -> None:
    assert (
        node.call(
            "POST", f"/v1/buckets/{bucket}", "provider=ais", json.dumps({"action": "create-bck"}).encode()
        ).status
        == 200
    )


def _set_props(node: InProcessNode, bucket: str, props: dict[str, object]) -> None:
    body = json.dumps({"action": "set-bprops", "value": props}).encode()
    answer = node.call("PATCH", f"/v1/buckets/{bucket}", "provider=ais", body)
    assert answer.status == 200, answer.body


def _counters(node: InProcessNode) -> dict[str, int]:
    return node.node.metrics.totals()


def test_read_only_bucket_refuses_writes_on_both_fronts(node: InProcessNode) -> None:
    _create(node, "ro")
    assert node.call("PUT", "/v1/objects/ro/a", "provider=ais", b"v1").status == 200
    assert node.call("PUT", "/s3/ro/b", body=b"v1").status == 200
    _set_props(node, "ro", {"access": str(ACCESS_RO)})
    # reads work on both fronts
    assert node.call("GET", "/v1/objects/ro/a", "provider=ais").body == b"v1"
    assert node.call("GET", "/s3/ro/b").body == b"v1"
    # writes and deletes are refused on both, with each front's shape
    assert node.call("PUT", "/v1/objects/ro/a", "provider=ais", b"v2").status == 403
    s3_put = node.call("PUT", "/s3/ro/a", body=b"v2")
    assert s3_put.status == 403 and b"<Code>AccessDenied</Code>" in s3_put.body
    s3_delete = node.call("DELETE", "/s3/ro/b")
    assert s3_delete.status == 403 and b"AccessDenied" in s3_delete.body
    batch = b"<Delete><Object><Key>a</Key></Object></Delete>"
    assert node.call("POST", "/s3/ro", "delete", batch).status == 403
    assert node.call("DELETE", "/v1/objects/ro/a", "provider=ais").status == 403
    copy = node.call("PUT", "/s3/ro/c", headers={"x-amz-copy-source": "/ro/a"})
    assert copy.status == 403
    # nothing changed
    assert node.call("GET", "/s3/ro/a").body == b"v1"
    assert node.call("GET", "/v1/objects/ro/b", "provider=ais").body == b"v1"


def test_no_access_refuses_reads_on_both_fronts(node: InProcessNode) -> None:
    _create(node, "closed")
    assert node.call("PUT", "/s3/closed/a", body=b"x").status == 200
    _set_props(node, "closed", {"access": "0"})
    assert node.call("GET", "/v1/objects/closed/a", "provider=ais").status == 403
    assert node.call("HEAD", "/v1/objects/closed/a", "provider=ais").status == 403
    assert node.call("GET", "/s3/closed/a").status == 403
    assert node.call("HEAD", "/s3/closed/a").status == 403


def test_fsync_feature_applies_to_both_fronts(node: InProcessNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both fronts ask the storage for a durable write; the POSIX store then really fsyncs."""
    synced: list[int] = []
    real_fsync = os.fsync
    asked: list[bool] = []
    store = node.node.objects.store
    real_writer = store.writer

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    def spying_writer(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("fsync", False))
        return real_writer(*args, **kwargs)

    _create(node, "durable")
    monkeypatch.setattr(os, "fsync", counting_fsync)
    monkeypatch.setattr(store, "writer", spying_writer)
    assert node.call("PUT", "/s3/durable/plain", body=b"x").status == 200
    assert node.call("PUT", "/v1/objects/durable/plain", "provider=ais", b"x").status == 200
    assert asked == [False, False]
    assert synced == []
    _set_props(node, "durable", {"features": str(FEATURE_FSYNC_PUT)})
    synced.clear()  # the props change itself is written durably
    assert node.call("PUT", "/s3/durable/synced", body=b"x").status == 200
    assert asked[2:] == [True]
    assert len(synced) == (1 if node.storage == "posix" else 0)
    assert node.call("PUT", "/v1/objects/durable/synced", "provider=ais", b"x").status == 200
    assert asked[2:] == [True, True]
    assert len(synced) == (2 if node.storage == "posix" else 0)


def test_metrics_count_both_fronts(node: InProcessNode) -> None:
    _create(node, "counted")
    before = _counters(node)
    assert node.call("PUT", "/s3/counted/k", body=b"12345").status == 200
    assert node.call("GET", "/s3/counted/k").body == b"12345"
    assert node.call("HEAD", "/s3/counted/k").status == 200
    assert node.call("GET", "/s3/counted/missing").status == 404
    assert node.call("DELETE", "/s3/counted/k").status == 204
    after = _counters(node)
    delta = {name: after[name] - before[name] for name in after}
    assert delta["put_count"] == 1 and delta["put_bytes"] == 5
    assert delta["get_count"] == 1 and delta["get_bytes"] == 5
    assert delta["head_count"] == 1
    assert delta["err_get_count"] == 1
    assert delta["delete_count"] == 1


def test_corrupted_object_is_refused_without_a_5xx(node: InProcessNode) -> None:
    _create(node, "rot")
    assert node.call("PUT", "/v1/objects/rot/obj", "provider=ais", b"a" * 1000).status == 200
    _set_props(node, "rot", {"checksum": {"validate_warm_get": True}})
    node.corrupt(BucketRef.parse("rot", "ais"), "obj", 500, b"b")  # one byte under the stored checksum
    ais = node.call("GET", "/v1/objects/rot/obj", "provider=ais")
    assert ais.status == 422 and b"corrupted" in ais.body
    s3 = node.call("GET", "/s3/rot/obj")
    assert s3.status == 422 and b"<Code>ObjectCorrupted</Code>" in s3.body
    assert _counters(node)["err_cksum_count"] == 2


def test_objects_live_in_the_storage_asked_for(node: InProcessNode, tmp_path: Path) -> None:
    """The memory variant really runs without object files; what it cannot do yet answers 501."""
    _create(node, "where")
    assert node.call("PUT", "/s3/where/k", body=b"x").status == 200
    assert node.call("GET", "/v1/objects/where/k", "provider=ais").body == b"x"
    files = [p for p in (tmp_path / "data" / "mp").rglob("*") if "%ob" in p.parts and p.is_file()]
    assert len(files) == (1 if node.storage == "posix" else 0)
    append = node.call("PUT", "/v1/objects/where/log", "provider=ais&append_type=append", b"x")
    assert append.status == (200 if node.storage == "posix" else 501)
