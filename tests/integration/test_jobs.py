"""Jobs through the official SDK: start, wait, details, abort; bucket-wide and list/range operations."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError, ErrBckAlreadyExists, ErrBckNotFound
from aistore.sdk.multiobj import ObjectRange

from .helpers import raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(90)


def _fill(bucket: Bucket, names: list[str]) -> None:
    for name in names:
        bucket.object(name).get_writer().put_content(name.encode())


def _names(bucket: Bucket) -> list[str]:
    return [e.name for e in bucket.list_all_objects()]


def _other(client: Client) -> Bucket:
    return client.bucket(f"t-dst-{uuid.uuid4().hex[:10]}")


def test_start_wait_and_details(client: Client) -> None:
    job_id = client.job(job_kind="cleanup-store").start()
    assert job_id
    result = client.job(job_id=job_id).wait(timeout=20)
    assert result.success and result.job_id == job_id
    status = client.job(job_id=job_id).status()
    assert status.uuid == job_id and status.end_time > 0 and not status.aborted
    details = client.job(job_id=job_id).get_details()
    snaps = details.list_snapshots()
    assert [s.kind for s in snaps] == ["cleanup-store"]
    assert snaps[0].is_idle and snaps[0].end_time != "0001-01-01T00:00:00Z"


def test_unknown_job_is_404_fast(client: Client) -> None:
    started = time.monotonic()
    with pytest.raises(AISError) as info:
        client.job(job_id="no-such-job").status()
    assert info.value.status_code == 404
    assert time.monotonic() - started < 2


def test_start_unknown_or_unstartable_kind_is_400(client: Client) -> None:
    for kind in ("no-such-kind", "copy-bck"):
        with pytest.raises(AISError) as info:
            client.job(job_kind=kind).start()
        assert info.value.status_code == 400, kind


def test_copy_bucket_with_prefix_and_prepend(client: Client, bucket: Bucket) -> None:
    _fill(bucket, [f"dir/o{i:02d}" for i in range(25)] + ["other"])
    dst = _other(client)
    try:
        job_id = bucket.copy(dst, prefix_filter="dir/", prepend="c/")
        assert client.job(job_id=job_id).wait(timeout=30).success
        assert _names(dst) == [f"c/dir/o{i:02d}" for i in range(25)]
        assert dst.object("c/dir/o07").get_reader().read_all() == b"dir/o07"
        snap = client.job(job_id=job_id).get_details().list_snapshots()[0]
        assert snap.stats is not None and snap.stats.objects == 25
        assert snap.source_bck is not None and snap.source_bck.name == bucket.name
    finally:
        dst.delete(missing_ok=True)


def test_copy_bucket_dry_run_creates_nothing(client: Client, bucket: Bucket) -> None:
    _fill(bucket, ["a", "b"])
    dst = _other(client)
    job_id = bucket.copy(dst, dry_run=True)
    assert client.job(job_id=job_id).wait(timeout=30).success
    assert client.job(job_id=job_id).get_details().list_snapshots()[0].stats.objects == 2  # type: ignore[union-attr]
    with pytest.raises(AISError):
        dst.head()


def test_copy_missing_bucket_is_404(client: Client) -> None:
    with pytest.raises(ErrBckNotFound):
        client.bucket(f"t-missing-{uuid.uuid4().hex[:8]}").copy(_other(client))


def test_rename_bucket(client: Client, bucket_name: str) -> None:
    src = client.bucket(bucket_name).create()
    _fill(src, ["x/1", "x/2", "y"])
    dst_name = f"t-renamed-{uuid.uuid4().hex[:8]}"
    try:
        job_id = src.rename(dst_name)
        assert client.job(job_id=job_id).wait(timeout=30).success
        names = [b.name for b in client.cluster().list_buckets()]
        assert dst_name in names and bucket_name not in names
        assert _names(client.bucket(dst_name)) == ["x/1", "x/2", "y"]
        assert client.bucket(dst_name).object("x/2").get_reader().read_all() == b"x/2"
    finally:
        client.bucket(dst_name).delete(missing_ok=True)


def test_rename_onto_existing_bucket_is_409(client: Client, bucket: Bucket) -> None:
    other = _other(client).create()
    try:
        with pytest.raises(ErrBckAlreadyExists):
            bucket.rename(other.name)
    finally:
        other.delete(missing_ok=True)


def test_copy_and_delete_listrange(client: Client, bucket: Bucket) -> None:
    _fill(bucket, [f"img-{i:03d}.jpg" for i in range(20)])
    dst = _other(client)
    try:
        ids = bucket.objects(obj_names=["img-001.jpg", "img-002.jpg"]).copy(dst, prepend="p/")
        assert all(client.job(job_id=j).wait(timeout=30).success for j in ids)
        assert _names(dst) == ["p/img-001.jpg", "p/img-002.jpg"]
        rng = ObjectRange(prefix="img-", min_index=5, max_index=14, pad_width=3, suffix=".jpg")
        job_id = bucket.objects(obj_range=rng).delete()
        assert client.job(job_id=job_id).wait(timeout=30).success
        assert _names(bucket) == [f"img-{i:03d}.jpg" for i in range(20) if not 5 <= i <= 14]
        job_id = bucket.objects(obj_template="img-01").delete()  # a template without ranges is a prefix
        assert client.job(job_id=job_id).wait(timeout=30).success
        assert _names(bucket) == [f"img-{i:03d}.jpg" for i in range(5)]
    finally:
        dst.delete(missing_ok=True)


def test_delete_listed_missing_object_fails_the_job(client: Client, bucket: Bucket) -> None:
    _fill(bucket, ["present"])
    job_id = bucket.objects(obj_names=["present", "absent"]).delete()
    result = client.job(job_id=job_id).wait(timeout=30)
    assert not result.success and "absent" in result.error
    assert _names(bucket) == []


def test_bad_template_is_400(endpoint: str, bucket: Bucket) -> None:
    body = {"action": "delete-listrange", "name": "", "value": {"template": "x{9..1}"}}
    resp = raw("DELETE", f"{endpoint}/v1/buckets/{bucket.name}?provider=ais", json=body)
    assert resp.status_code == 400, resp.text


def test_summary_and_info(bucket: Bucket) -> None:
    _fill(bucket, ["a", "bb", "dir/ccc"])
    summary = bucket.summary()
    assert summary["ObjCount"]["obj_count_present"] == "3"
    assert summary["TotalSize"]["size_all_present_objs"] == str(1 + 2 + 7)
    props, info = bucket.info(prefix="dir/")
    assert '"checksum"' in props
    assert info["ObjCount"]["obj_count_present"] == "1"


def test_abort_stops_a_running_copy(client: Client, bucket: Bucket) -> None:
    _fill(bucket, [f"f{i:04d}" for i in range(600)])
    dst = _other(client)
    try:
        job_id = bucket.copy(dst)
        client.job(job_id=job_id).abort()
        result = client.job(job_id=job_id).wait(timeout=30)
        status = client.job(job_id=job_id).status()
        assert status.end_time > 0
        copied = _names(dst)
        # every object that made it is complete; a prompt abort leaves the copy unfinished
        for name in copied[:50]:
            assert dst.object(name).get_reader().read_all() == name.encode()
        assert status.aborted or len(copied) == 600
        assert result.job_id == job_id
    finally:
        dst.delete(missing_ok=True)


def test_overloaded_node_answers_429_with_retry_after(
    server_factory: Callable[..., StrataServer], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        '{"memsys": {"min_free": "1TiB"}}'
    )  # more than any test machine has: memory is critical
    srv = server_factory(config=config)
    bck = f"t-load-{uuid.uuid4().hex[:8]}"
    assert raw("POST", f"{srv.endpoint}/v1/buckets/{bck}?provider=ais", json={"action": "create-bck"}).ok
    put = raw("PUT", f"{srv.endpoint}/v1/objects/{bck}/o?provider=ais", data=b"data")
    assert put.status_code == 200, "plain data requests are not refused"
    body = {"action": "start", "name": "", "value": {"Kind": "cleanup-store"}}
    resp = raw("PUT", f"{srv.endpoint}/v1/cluster", json=body)
    assert resp.status_code == 429, resp.text
    assert resp.headers.get("Retry-After") == "2"
    assert "memory critical" in resp.json()["message"]


def test_jobs_are_visible_from_every_worker(endpoint: str, client: Client, bucket: Bucket) -> None:
    """A new connection per request lands on either worker process: all of them know the job."""
    _fill(bucket, ["a", "b"])
    job_id = bucket.objects(obj_names=["a", "b"]).delete()
    assert client.job(job_id=job_id).wait(timeout=30).success
    body = {"ID": job_id, "Kind": "", "DaemonID": "", "Bck": None, "Buckets": None}
    for _ in range(20):
        status = raw("GET", f"{endpoint}/v1/cluster?what=status", json=body)
        assert status.status_code == 200 and status.json()["uuid"] == job_id
        stats = raw("GET", f"{endpoint}/v1/cluster?what=qryxstats", json=body)
        assert stats.status_code == 200
        snaps = next(iter(stats.json().values()))
        assert snaps[0]["id"] == job_id and snaps[0]["stats"]["loc-objs"] == 2
