"""Native multipart upload through the SDK (``obj.multipart_upload()``): create, parts, complete, abort."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError

from .helpers import assert_head_404, fast_client, pattern, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(90)


def part_bytes(n: int, size: int = 64 * 1024 + 7) -> bytes:
    return pattern(f"part-{n}", size)


def test_multipart_in_order(bucket: Bucket) -> None:
    mpu = bucket.object("mp/ordered").multipart_upload().create()
    assert mpu.upload_id, "mpt-upload answers an upload id as text"
    for n in (1, 2, 3):
        mpu.add_part(n).put_content(part_bytes(n))
    assert_head_404(bucket.object("mp/ordered"))  # nothing visible before complete
    mpu.complete()
    expected = part_bytes(1) + part_bytes(2) + part_bytes(3)
    assert bucket.object("mp/ordered").get_reader().read_all() == expected
    attrs = bucket.object("mp/ordered").head("checksum,version")
    assert attrs.size == len(expected)
    assert attrs.obj_version == "1"
    assert attrs.checksum_value
    assert [e.name for e in bucket.list_all_objects()] == ["mp/ordered"]


def test_multipart_parts_uploaded_out_of_order(bucket: Bucket) -> None:
    mpu = bucket.object("mp/shuffled").multipart_upload().create()
    for n in (3, 1, 4, 2):
        mpu.add_part(n).put_content(part_bytes(n, 10_000 + n))
    mpu.parts.sort()  # complete lists the parts in ascending order, as S3 requires
    mpu.complete()
    expected = b"".join(part_bytes(n, 10_000 + n) for n in (1, 2, 3, 4))
    assert bucket.object("mp/shuffled").get_reader().read_all() == expected


def test_multipart_range_across_part_boundary(bucket: Bucket) -> None:
    mpu = bucket.object("mp/ranged").multipart_upload().create()
    for n in (1, 2):
        mpu.add_part(n).put_content(part_bytes(n, 1000))
    mpu.complete()
    whole = part_bytes(1, 1000) + part_bytes(2, 1000)
    assert bucket.object("mp/ranged").get_reader(byte_range="bytes=990-1009").read_all() == whole[990:1010]


def test_multipart_duplicate_part_replaced(bucket: Bucket) -> None:
    mpu = bucket.object("mp/dup").multipart_upload().create()
    mpu.add_part(1).put_content(b"A" * 5000)
    mpu.add_part(2).put_content(b"middle")
    mpu.add_part(1).put_content(b"B" * 3000)  # the same part number again: the last upload wins
    mpu.parts = sorted(set(mpu.parts))
    mpu.complete()
    assert bucket.object("mp/dup").get_reader().read_all() == b"B" * 3000 + b"middle"


def test_multipart_complete_with_missing_part_is_4xx(bucket: Bucket) -> None:
    mpu = bucket.object("mp/holes").multipart_upload().create()
    mpu.add_part(1).put_content(b"one")
    mpu.add_part(3).put_content(b"three")
    mpu.parts = [1, 2, 3]
    with pytest.raises(AISError) as info:
        mpu.complete()
    assert 400 <= info.value.status_code < 500, info.value
    assert_head_404(bucket.object("mp/holes"))


def test_multipart_overwrites_existing_object(bucket: Bucket) -> None:
    bucket.object("mp/over").get_writer().put_content(b"previous")
    mpu = bucket.object("mp/over").multipart_upload().create()
    mpu.add_part(1).put_content(b"new ")
    mpu.add_part(2).put_content(b"content")
    assert bucket.object("mp/over").get_reader().read_all() == b"previous", "old content until complete"
    mpu.complete()
    assert bucket.object("mp/over").get_reader().read_all() == b"new content"
    assert bucket.object("mp/over").head("version").obj_version == "2"


def test_multipart_unknown_upload_id_is_4xx(endpoint: str, bucket: Bucket) -> None:
    resp = raw(
        "PUT",
        f"{endpoint}/v1/objects/{bucket.name}/mp/x",
        params={"provider": "ais", "uploadId": "no-such-upload", "partNumber": "1"},
        data=b"data",
    )
    assert 400 <= resp.status_code < 500, resp.status_code
    assert_head_404(bucket.object("mp/x"))


def test_multipart_abort_cleans_up(server_factory: Callable[..., StrataServer]) -> None:
    """After abort nothing of the parts remains: no object, no listing entry, no big files on disk."""
    srv = server_factory()
    client = fast_client(srv.endpoint)
    bck = client.bucket("mpt-abort").create()
    part_size = 3 * 1024 * 1024
    mpu = bck.object("aborted").multipart_upload().create()
    mpu.add_part(1).put_content(pattern("abort-1", part_size))
    mpu.add_part(2).put_content(pattern("abort-2", part_size))
    on_disk = sum(p.stat().st_size for p in srv.data_dir.rglob("*") if p.is_file())
    assert on_disk >= 2 * part_size, "the parts are stored somewhere under the data dir"
    mpu.abort()
    assert_head_404(bck.object("aborted"))
    assert bck.list_all_objects() == []
    leftovers = [
        (str(p), p.stat().st_size)
        for p in srv.data_dir.rglob("*")
        if p.is_file() and p.stat().st_size >= 1024 * 1024 and p.name != ".ledger"  # the node's, not a part
    ]
    assert leftovers == [], f"abort left part data on disk: {leftovers}"
    with pytest.raises(AISError) as info:
        mpu.complete()
    assert 400 <= info.value.status_code < 500
