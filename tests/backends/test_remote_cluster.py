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


def _page(cluster: InProcessCluster, bucket: str, props: str, token: str = "") -> dict[str, Any]:
    value = {"props": props, "pagesize": 3, "continuation_token": token}
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
    s3.close()
