"""A remote bucket behind an in-process cluster (a proxy and two targets over the fake peer client)
and a real S3 emulator: the proxy adds the bucket on first reference, objects are cold-read by their
HRW owners, and a listing is the backend's pages with the cached flags of every target merged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from strata.backends import close_backends
from tests.unit.inprocess_cluster import InProcessCluster

from .emulators import MotoServer


@pytest.fixture
def cluster(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcessCluster]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    monkeypatch.setenv("AWS_REGION", moto.region)
    close_backends()  # clients made before the variables were set would not see them
    in_process = InProcessCluster(tmp_path)
    yield in_process
    in_process.close()
    close_backends()


def _page(
    cluster: InProcessCluster, bucket: str, props: str, token: str = "", flags: int = 0
) -> dict[str, Any]:
    value = {"props": props, "pagesize": 3, "continuation_token": token, "flags": str(flags)}
    body = json.dumps({"action": "list", "value": value}).encode()
    answer = cluster.call("GET", f"/v1/buckets/{bucket}", "provider=aws", body)
    assert answer.status == 200, answer.body
    return msgspec.json.decode(answer.body)  # type: ignore[no-any-return]


def test_remote_listing_through_the_proxy_merges_every_targets_cached_flags(
    moto: MotoServer, cluster: InProcessCluster
) -> None:
    s3 = moto.s3()
    name = f"cl-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    keys = [f"k-{i}" for i in range(8)]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=key.encode() * 10)
    for key in ("k-1", "k-4", "k-6"):  # cold GETs on their owners (the proxy redirects)
        got = cluster.call("GET", f"/v1/objects/{name}/{key}", "provider=aws")
        assert got.status == 200 and got.body == key.encode() * 10
    listed, cached, token, pages = [], [], "", 0
    while True:
        page = _page(cluster, name, "name,size,cached", token=token)
        pages += 1
        for entry in page["Entries"] or []:
            listed.append(entry["n"])
            if entry.get("f", 0) & 64:
                cached.append(entry["n"])
        token = page["ContinuationToken"]
        if not token:
            break
    assert listed == keys and pages >= 3  # each name once, in the backend's order, over its pages
    assert cached == ["k-1", "k-4", "k-6"]  # cached on whichever target owns it
    # one target pages the backend for the whole cluster: one backend listing per page, not one each
    lists_before = _backend_lists(moto, name)
    not_cached, token = [], ""
    while True:
        page = _page(cluster, name, "name,size", token=token, flags=512)  # NotCached
        not_cached += [entry["n"] for entry in page["Entries"] or []]
        token = page["ContinuationToken"]
        if not token:
            break
    assert not_cached == [key for key in keys if key not in ("k-1", "k-4", "k-6")]
    assert _backend_lists(moto, name) - lists_before == pages
    body = json.dumps({"action": "list", "value": {}}).encode()
    missing = cluster.call("GET", f"/v1/buckets/nope-{uuid.uuid4().hex[:6]}", "provider=aws", body)
    assert missing.status == 404
    s3.close()


def _backend_lists(moto: MotoServer, bucket: str) -> int:
    """ListObjects(V2) requests for ``bucket`` in the emulator's request log."""
    return sum(
        1
        for line in moto.log_path.read_text(errors="replace").splitlines()
        if f"GET /{bucket}?" in line and "list-type=2" in line
    )
