"""Objects through the official SDK: PUT/GET round trips, ranges, HEAD props, versions, custom metadata."""

from __future__ import annotations

import hashlib
import os
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError, ErrBckNotFound, ErrObjNotFound

from .helpers import assert_head_404, pattern, raw

pytestmark = pytest.mark.timeout(60)


def obj_url(endpoint: str, bucket: str, name: str) -> str:
    return f"{endpoint}/v1/objects/{bucket}/{name}"


# --- round trips ----------------------------------------------------------------------------------


def test_put_get_bytes(bucket: Bucket) -> None:
    data = b"hello strata\n" * 100
    bucket.object("greeting").get_writer().put_content(data)
    assert bucket.object("greeting").get_reader().read_all() == data
    assert b"".join(bucket.object("greeting").get_reader(chunk_size=7)) == data


def test_put_file_get_to_writer(bucket: Bucket, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    data = os.urandom(300_000)
    src.write_bytes(data)
    bucket.object("from-file").get_writer().put_file(src)
    dst = tmp_path / "dst.bin"
    with dst.open("wb") as out:
        bucket.object("from-file").get_reader(writer=out)
    assert dst.read_bytes() == data
    assert bucket.object("from-file").get_reader().as_file().read() == data


def test_empty_object(endpoint: str, bucket: Bucket) -> None:
    bucket.object("empty").get_writer().put_content(b"")
    assert bucket.object("empty").get_reader().read_all() == b""
    attrs = bucket.object("empty").head()
    assert attrs.size == 0
    assert attrs.present is True
    resp = raw("HEAD", obj_url(endpoint, bucket.name, "empty"), params={"provider": "ais"})
    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == "0"


@pytest.mark.timeout(120)
def test_large_object_20mib(bucket: Bucket) -> None:
    data = os.urandom(20 * 1024 * 1024)
    bucket.object("large").get_writer().put_content(data)
    assert bucket.object("large").head().size == len(data)
    got = bucket.object("large").get_reader().read_all()
    assert len(got) == len(data) and got == data
    streamed = hashlib.sha256()
    total = 0
    for chunk in bucket.object("large").get_reader(chunk_size=1 << 20):
        streamed.update(chunk)
        total += len(chunk)
    assert total == len(data) and streamed.digest() == hashlib.sha256(data).digest()


def test_overwrite_replaces_content_and_size(bucket: Bucket) -> None:
    obj = bucket.object("ow")
    obj.get_writer().put_content(b"x" * 5000)
    obj.get_writer().put_content(b"short")
    assert obj.get_reader().read_all() == b"short"
    assert obj.head().size == 5


# --- ranges ---------------------------------------------------------------------------------------

SIZE = 10_000


@pytest.fixture
def ranged(bucket: Bucket) -> tuple[Bucket, bytes]:
    data = pattern("ranged", SIZE)
    bucket.object("ranged").get_writer().put_content(data)
    return bucket, data


@pytest.mark.parametrize(
    ("spec", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=10-19", 10, 20),
        ("bytes=0-9999", 0, SIZE),
        ("bytes=9990-20000", 9990, SIZE),
        ("bytes=-100", SIZE - 100, SIZE),
        ("bytes=-20000", 0, SIZE),
        ("bytes=1234-", 1234, SIZE),
        ("bytes=9999-", 9999, SIZE),
    ],
)
def test_range_sdk_and_raw(
    endpoint: str, ranged: tuple[Bucket, bytes], spec: str, start: int, stop: int
) -> None:
    bucket, data = ranged
    assert bucket.object("ranged").get_reader(byte_range=spec).read_all() == data[start:stop]
    resp = raw(
        "GET", obj_url(endpoint, bucket.name, "ranged"), params={"provider": "ais"}, headers={"Range": spec}
    )
    assert resp.status_code == 206, f"{spec}: {resp.status_code}"
    assert resp.content == data[start:stop]
    assert resp.headers["Content-Length"] == str(stop - start)
    assert resp.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"


@pytest.mark.parametrize("spec", ["bytes=10000-", "bytes=20000-30000", "bytes=10000-10005"])
def test_range_unsatisfiable_416(endpoint: str, ranged: tuple[Bucket, bytes], spec: str) -> None:
    bucket, _ = ranged
    resp = raw(
        "GET", obj_url(endpoint, bucket.name, "ranged"), params={"provider": "ais"}, headers={"Range": spec}
    )
    assert resp.status_code == 416, f"{spec}: {resp.status_code} {resp.text[:200]}"
    with pytest.raises(AISError) as info:
        bucket.object("ranged").get_reader(byte_range=spec).read_all()
    assert info.value.status_code == 416


def test_range_on_empty_object_416(endpoint: str, bucket: Bucket) -> None:
    bucket.object("e").get_writer().put_content(b"")
    resp = raw(
        "GET", obj_url(endpoint, bucket.name, "e"), params={"provider": "ais"}, headers={"Range": "bytes=0-0"}
    )
    assert resp.status_code == 416


# --- HEAD props: size, checksum, version, presence ------------------------------------------------


def test_head_props_default_bucket(endpoint: str, bucket: Bucket) -> None:
    data = pattern("p", 4321)
    bucket.object("p").get_writer().put_content(data)
    attrs = bucket.object("p").head("checksum,atime,version,custom")
    assert attrs.size == 4321
    assert attrs.present is True
    assert attrs.checksum_type == "xxhash2"
    assert attrs.checksum_value and attrs.checksum_value.strip() == attrs.checksum_value
    assert attrs.obj_version == "1"
    assert attrs.access_time.isdigit() and int(attrs.access_time) > 0
    # Stable: same object, same value; same content elsewhere, same value; other content, other value.
    assert bucket.object("p").head("checksum").checksum_value == attrs.checksum_value
    bucket.object("p-copy").get_writer().put_content(data)
    assert bucket.object("p-copy").head("checksum").checksum_value == attrs.checksum_value
    bucket.object("p-other").get_writer().put_content(data + b"!")
    assert bucket.object("p-other").head("checksum").checksum_value != attrs.checksum_value
    resp = raw("HEAD", obj_url(endpoint, bucket.name, "p"), params={"provider": "ais"})
    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == "4321"
    assert resp.headers["Ais-Present"] == "true"
    assert resp.content == b""


@pytest.mark.parametrize("algo", ["md5", "sha256"])
def test_checksum_is_the_real_digest(bucket: Bucket, algo: str) -> None:
    bucket.make_request("PATCH", "set-bprops", value={"checksum": {"type": algo}})
    data = pattern(algo, 77_777)
    bucket.object("c").get_writer().put_content(data)
    attrs = bucket.object("c").head("checksum")
    assert attrs.checksum_type == algo
    assert attrs.checksum_value == hashlib.new(algo, data).hexdigest()


def test_version_increments_on_overwrite(bucket: Bucket) -> None:
    obj = bucket.object("v")
    obj.get_writer().put_content(b"one")
    assert obj.head("version").obj_version == "1"
    obj.get_writer().put_content(b"two")
    assert obj.head("version").obj_version == "2"
    obj.get_writer().put_content(b"three")
    assert obj.props.obj_version == "3"
    assert obj.get_reader().read_all() == b"three"


def test_get_response_carries_attributes(bucket: Bucket) -> None:
    data = pattern("g", 2048)
    bucket.object("g").get_writer().put_content(data)
    reader = bucket.object("g").get_reader()
    assert reader.read_all() == data
    assert reader.attributes.size == 2048


# --- custom metadata ------------------------------------------------------------------------------


def test_custom_metadata_merge_and_replace(bucket: Bucket) -> None:
    obj = bucket.object("md")
    obj.get_writer().put_content(b"payload")
    assert obj.head("custom").custom_metadata == {}
    obj.get_writer().set_custom_props({"a": "1", "b": "2"})
    assert obj.head("custom").custom_metadata == {"a": "1", "b": "2"}
    obj.get_writer().set_custom_props({"b": "20", "c": "3"})
    assert obj.head("custom").custom_metadata == {"a": "1", "b": "20", "c": "3"}
    obj.get_writer().set_custom_props({"z": "26"}, replace_existing=True)
    assert obj.head("custom").custom_metadata == {"z": "26"}
    assert obj.get_reader().read_all() == b"payload", "metadata updates leave the content alone"


def test_custom_metadata_on_missing_object(bucket: Bucket) -> None:
    with pytest.raises(ErrObjNotFound):
        bucket.object("nope").get_writer().set_custom_props({"a": "1"})


# --- delete and missing ---------------------------------------------------------------------------


def test_delete(bucket: Bucket) -> None:
    obj = bucket.object("d")
    obj.get_writer().put_content(b"bye")
    obj.delete()
    with pytest.raises(ErrObjNotFound):
        obj.get_reader().read_all()
    with pytest.raises(ErrObjNotFound) as info:
        obj.delete()
    assert info.value.status_code == 404
    assert f"ais://{bucket.name}/d" in info.value.message
    assert [e.name for e in bucket.list_all_objects()] == []


def test_missing_object(bucket: Bucket) -> None:
    obj = bucket.object("never/was")
    with pytest.raises(ErrObjNotFound) as info:
        obj.get_reader().read_all()
    assert info.value.status_code == 404
    assert f"ais://{bucket.name}/never/was" in info.value.message
    assert_head_404(obj)


def test_object_ops_in_missing_bucket_say_bucket(client: Client, bucket_name: str) -> None:
    obj = client.bucket(bucket_name).object("o")
    for call in (lambda: obj.get_reader().read_all(), lambda: obj.get_writer().put_content(b"x"), obj.delete):
        with pytest.raises(ErrBckNotFound) as info:
            call()
        assert info.value.status_code == 404


def test_head_reports_every_contract_header(endpoint: str, bucket: Bucket) -> None:
    bucket.object("hdrs").get_writer().put_content(b"h" * 321)
    resp = raw(
        "HEAD",
        obj_url(endpoint, bucket.name, "hdrs"),
        params={
            "provider": "ais",
            "props": "checksum,atime,version,copies,custom,location,etag,last-modified",
        },
    )
    assert resp.status_code == 200
    h = resp.headers
    assert h["Content-Length"] == "321"
    assert h["Ais-Present"] == "true"
    assert h["Ais-Version"] == "1"
    assert h["Ais-Checksum-Type"] == "xxhash2" and h["Ais-Checksum-Value"]
    assert h["Ais-Atime"].isdigit() and abs(int(h["Ais-Atime"]) / 1e9 - time.time()) < 120
    assert h["Ais-Location"], "Ais-Location names the target (and mountpath)"
    assert h["Ais-Mirror-Copies"] == "1"
    assert h["ETag"].strip('"')
    modified = parsedate_to_datetime(h["Last-Modified"]).timestamp()
    assert abs(modified - time.time()) < 120
    attrs = bucket.object("hdrs").props
    assert attrs.mirror_copies == 1 and attrs.location == h["Ais-Location"]


def test_small_object_overwrites_are_never_served_stale(endpoint: str, bucket: Bucket) -> None:
    """One connection (one worker, one hot cache): every GET sees the PUT just before it."""
    import requests

    url = f"{endpoint}/v1/objects/{bucket.name}/hot?provider=ais"
    with requests.Session() as session:
        for i in range(60):
            body = f"version {i}".encode() * (i % 7 + 1)
            assert session.put(url, data=body, timeout=10).status_code == 200
            assert session.get(url, timeout=10).content == body
            assert session.get(url, timeout=10).content == body
            if i % 10 == 9:
                assert session.delete(url, timeout=10).status_code == 200
                assert session.get(url, timeout=10).status_code == 404
