"""The ais backend: a remote AIS cluster addressed as ``ais://@alias/b``. Against a single ``strata serve``
(which answers data itself) and against a real cluster (etcd, 2 targets, a proxy that answers object
requests with 307): the PUT path asks the proxy where to send the bytes, then streams them to the owning
target; failover between the URLs of one alias; error text naming ``ais://@alias/...``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from strata.backends import AisSettings, BackendSettings, backend_for
from strata.backends.ais import AisBackend
from strata.cluster.devcluster import DevCluster
from strata.core.errors import BackendUnreachable, BucketNotFound, InvalidRequest, ObjectNotFound
from tests.integration.server import StrataServer, free_port

from .conftest import FAST, Remote

pytestmark = pytest.mark.timeout(180)

MiB = 1024 * 1024


def create_bucket(endpoint: str, name: str) -> None:
    message = {"action": "create-bck", "name": "", "value": None}
    requests.post(f"{endpoint}/v1/buckets/{name}?provider=ais", json=message, timeout=30).raise_for_status()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(str(tmp_path_factory.mktemp("remote-cluster") / "cluster"), workers=1)
    try:
        dev.up(targets=2, proxies=1)
        yield dev
    finally:
        dev.down()


def test_errors_name_the_alias(remote_ais: Remote) -> None:
    backend, bucket = remote_ais.backend, remote_ais.new_bucket()
    with pytest.raises(ObjectNotFound, match=f"ais://@remote/{bucket}/missing"):
        backend.head(bucket, "missing")
    with pytest.raises(BucketNotFound, match='bucket "ais://@remote/nobucket" does not exist'):
        backend.head_bucket("nobucket")


def test_an_embedded_remote_is_written_directly(remote_ais: Remote) -> None:
    backend, bucket = remote_ais.backend, remote_ais.new_bucket()
    assert isinstance(backend, AisBackend)
    backend.put(bucket, "one", b"1", 1)
    assert backend._direct is True  # the HEAD was answered, not redirected: PUTs go straight there


def test_the_next_url_is_tried_when_one_is_down(remote_strata: StrataServer, remote_ais: Remote) -> None:
    bucket = remote_ais.new_bucket()
    dead = f"http://127.0.0.1:{free_port()}"
    settings = BackendSettings(
        ais=AisSettings(alias="two-urls", urls=(dead, remote_strata.endpoint)), transport=FAST
    )
    backend = backend_for("ais", settings)
    backend.put(bucket, "obj", b"through the second url", 22)
    assert backend.get(bucket, "obj").read_all() == b"through the second url"
    assert backend.list_page(bucket).entries[0].name == "obj"

    all_dead = BackendSettings(ais=AisSettings(alias="none", urls=(dead,)), transport=FAST)
    with pytest.raises(BackendUnreachable, match="@none"):
        backend_for("ais", all_dead).head(bucket, "obj")


def test_a_remote_without_urls_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="no URL"):
        backend_for("ais", BackendSettings(ais=AisSettings(alias="empty")))


def test_refused_credentials_are_403() -> None:
    pytest.skip("Strata's AIS front has no access control yet, so a remote Strata refuses nobody")


def test_through_a_cluster_proxy(cluster: DevCluster, tmp_path: Path) -> None:
    """Every object call goes to the proxy, which redirects it (307) to the target HRW picks."""
    create_bucket(cluster.endpoint, "remote-bucket")
    settings = BackendSettings(ais=AisSettings(alias="cluster", urls=(cluster.endpoint,)), transport=FAST)
    backend = backend_for("ais", settings)
    assert isinstance(backend, AisBackend)
    names = [f"obj-{index}" for index in range(12)]
    for index, name in enumerate(names):
        body = (name.encode() * (index + 1) * 1000)[: (index + 1) * 1000]
        backend.put("remote-bucket", name, iter([body[:500], body[500:]]), len(body), {"index": str(index)})
    assert backend._direct is False  # the proxy redirected: bytes went to the targets
    for index, name in enumerate(names):
        head = backend.head("remote-bucket", name)
        assert head.size == (index + 1) * 1000 and head.custom == {"index": str(index)}
        assert backend.get("remote-bucket", name, 10, 5).read_all() == (name.encode() * 1000)[10:15]

    big = bytes(range(256)) * (6 * MiB // 256)
    stored = backend.put(
        "remote-bucket", "big", (big[i : i + MiB] for i in range(0, len(big), MiB)), len(big)
    )
    assert stored.size == len(big)
    with backend.get("remote-bucket", "big") as reader:
        assert hashlib.sha256(b"".join(reader)).digest() == hashlib.sha256(big).digest()

    upload = backend.create_multipart("remote-bucket", "assembled", {"kind": "mpt"})
    etags = [
        backend.upload_part("remote-bucket", "assembled", upload, 1, b"a" * 1000, 1000),
        backend.upload_part("remote-bucket", "assembled", upload, 2, iter([b"b" * 10]), 10),
    ]
    done = backend.complete_multipart(
        "remote-bucket", "assembled", upload, list(zip([1, 2], etags, strict=True))
    )
    assert done.size == 1010 and done.custom == {"kind": "mpt"}

    listed, token = [], ""
    while True:
        page = backend.list_page("remote-bucket", token=token, page_size=5)
        listed += [entry.name for entry in page.entries]
        token = page.next_token
        if not token:
            break
    assert listed == sorted([*names, "big", "assembled"])

    backend.delete("remote-bucket", "obj-0")
    with pytest.raises(ObjectNotFound):
        backend.head("remote-bucket", "obj-0")
    with pytest.raises(BucketNotFound):
        backend.put("no-such-bucket", "x", b"1", 1)
    assert backend.head_bucket("remote-bucket").versioning in (True, False)
    assert "remote-bucket" in backend.list_buckets()
