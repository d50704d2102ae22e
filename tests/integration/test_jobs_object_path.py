"""Jobs write, delete and read objects the way clients do: through the one object path.

A copy-bck, copy-listrange or archive job's writes are PUTs into the destination bucket -- versioned
when it is, counted in ``put_count``/``put_bytes`` -- a delete-listrange job's deletes are counted
deletes, and a copy reads its source as a GET would: a corrupted source in a bucket that validates
reads is refused, not copied. Real server process, official SDK, counters read from ``/metrics``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket

from .helpers import metric
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)


def _metric(server: StrataServer, name: str) -> int:
    return metric(server.endpoint, name)


def _counters(server: StrataServer) -> dict[str, int]:
    return {name: _metric(server, name) for name in ("put_count", "put_bytes", "delete_count")}


def _wait(client: Client, job_ids: str | list[str]) -> None:
    for job_id in [job_ids] if isinstance(job_ids, str) else job_ids:
        assert client.job(job_id=job_id).wait(timeout=60).success, job_id


def _version(bucket: Bucket, name: str) -> str:
    return bucket.object(name).head().obj_version


@pytest.fixture
def buckets(server: StrataServer) -> Iterator[tuple[Client, Bucket, Bucket]]:
    """A source with five objects and an empty, versioned destination."""
    client = Client(server.endpoint)
    src = client.bucket(f"jp-src-{uuid.uuid4().hex[:8]}").create()
    dst = client.bucket(f"jp-dst-{uuid.uuid4().hex[:8]}").create()
    dst.make_request("PATCH", "set-bprops", value={"versioning": {"enabled": True}})
    for i in range(5):
        src.object(f"o{i}").get_writer().put_content(b"x" * (10 + i))
    yield client, src, dst
    src.delete(missing_ok=True)
    dst.delete(missing_ok=True)


def test_copy_bck_writes_are_counted_versioned_puts(
    server: StrataServer, buckets: tuple[Client, Bucket, Bucket]
) -> None:
    client, src, dst = buckets
    before = _counters(server)
    _wait(client, src.copy(dst))
    after = _counters(server)
    assert after["put_count"] - before["put_count"] == 5
    assert after["put_bytes"] - before["put_bytes"] == sum(10 + i for i in range(5))
    assert [_version(dst, f"o{i}") for i in range(5)] == ["1"] * 5
    _wait(client, src.copy(dst))  # a second copy is a new version of each, as a second PUT is
    assert [_version(dst, f"o{i}") for i in range(5)] == ["2"] * 5
    assert _metric(server, "put_count") - after["put_count"] == 5


def test_copy_listrange_and_archive_write_counted_puts(
    server: StrataServer, buckets: tuple[Client, Bucket, Bucket]
) -> None:
    client, src, dst = buckets
    before = _counters(server)
    _wait(client, src.objects(obj_names=["o1", "o3"]).copy(dst, prepend="c/"))
    middle = _counters(server)
    assert middle["put_count"] - before["put_count"] == 2
    assert middle["put_bytes"] - before["put_bytes"] == 11 + 13
    assert _version(dst, "c/o1") == _version(dst, "c/o3") == "1"
    _wait(client, src.objects(obj_template="o").archive("shard.tar", to_bck=dst))
    assert _metric(server, "put_count") - middle["put_count"] == 1  # the shard is one PUT
    assert _version(dst, "shard.tar") == "1"


def test_delete_listrange_deletes_are_counted(
    server: StrataServer, buckets: tuple[Client, Bucket, Bucket]
) -> None:
    client, src, _dst = buckets
    before = _counters(server)
    _wait(client, src.objects(obj_names=["o0", "o2", "o4"]).delete())
    assert _metric(server, "delete_count") - before["delete_count"] == 3
    assert [e.name for e in src.list_all_objects()] == ["o1", "o3"]


def _object_file(data_dir: Path, bucket: str, name: str) -> Path:
    found = [p for p in data_dir.rglob(name) if bucket in str(p) and p.is_file()]
    assert len(found) == 1, found
    return found[0]


def test_copy_job_refuses_a_corrupted_source(server_factory: Any) -> None:
    """A bucket that validates reads refuses a corrupted object to a copy job as to a GET."""
    server = server_factory(workers=1)
    client = Client(server.endpoint)
    src = client.bucket("rotten").create()
    dst = client.bucket("copies").create()
    src.object("bad").get_writer().put_content(b"a" * 4096)
    src.make_request("PATCH", "set-bprops", value={"checksum": {"validate_warm_get": True}})
    with _object_file(server.data_dir, "rotten", "bad").open("r+b") as f:
        f.seek(100)
        f.write(b"b")
    job_id = src.objects(obj_names=["bad"]).copy(dst)[0]
    result = client.job(job_id=job_id).wait(timeout=60)
    assert not result.success and "checksum mismatch" in result.error
    assert [e.name for e in dst.list_all_objects()] == []
    assert _metric(server, "err_cksum_count") == 1
