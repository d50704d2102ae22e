"""Append (handles, flush, the SDK file writer), copy (``PUT ?object_to=``), rename (``rename-obj``)."""

from __future__ import annotations

import hashlib

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError, ErrObjNotFound

from .helpers import act, assert_head_404, pattern, raw

pytestmark = pytest.mark.timeout(60)


# --- append ---------------------------------------------------------------------------------------


def test_append_with_handles_then_flush(bucket: Bucket) -> None:
    writer = bucket.object("log").get_writer()
    handle = writer.append_content(b"first,")
    assert handle, "the first append answers a handle in Ais-Append-Handle"
    handle = writer.append_content(b"second,", handle=handle)
    assert handle
    handle = writer.append_content(b"third", handle=handle)
    assert_head_404(bucket.object("log"))  # not visible before flush
    writer.append_content(b"", handle=handle, flush=True)
    assert bucket.object("log").get_reader().read_all() == b"first,second,third"
    assert bucket.object("log").head().size == len(b"first,second,third")
    assert [e.name for e in bucket.list_all_objects()] == ["log"], "no work files listed"


def test_append_flush_with_final_bytes(bucket: Bucket) -> None:
    writer = bucket.object("f").get_writer()
    handle = writer.append_content(b"abc")
    writer.append_content(b"def", handle=handle, flush=True)
    assert bucket.object("f").get_reader().read_all() == b"abcdef"


def test_file_writer_append_mode_keeps_existing(bucket: Bucket) -> None:
    obj = bucket.object("journal")
    obj.get_writer().put_content(b"base|")
    with obj.get_writer().as_file(mode="a") as f:
        f.write(b"one|")
        f.write(b"two|")
        f.flush()
        assert obj.get_reader().read_all() == b"base|one|two|"
        f.write(b"three")
    assert obj.get_reader().read_all() == b"base|one|two|three"


def test_file_writer_write_mode_truncates(bucket: Bucket) -> None:
    obj = bucket.object("fresh")
    obj.get_writer().put_content(b"old content that must go")
    with obj.get_writer().as_file(mode="w") as f:
        for i in range(20):
            f.write(pattern(f"chunk{i}", 1000))
    expected = b"".join(pattern(f"chunk{i}", 1000) for i in range(20))
    assert obj.get_reader().read_all() == expected


def test_append_large_pieces(bucket: Bucket) -> None:
    pieces = [pattern(f"piece{i}", 1_000_003) for i in range(4)]
    writer = bucket.object("big-append").get_writer()
    handle = ""
    for piece in pieces:
        handle = writer.append_content(piece, handle=handle)
    writer.append_content(b"", handle=handle, flush=True)
    assert bucket.object("big-append").get_reader().read_all() == b"".join(pieces)


def test_append_bogus_handle_is_4xx(bucket: Bucket) -> None:
    with pytest.raises(AISError) as info:
        bucket.object("h").get_writer().append_content(b"x", handle="not-a-real-handle", flush=True)
    assert 400 <= info.value.status_code < 500


# --- copy -----------------------------------------------------------------------------------------


def test_copy_within_bucket(bucket: Bucket) -> None:
    data = pattern("src", 123_456)
    src = bucket.object("dir/src")
    src.get_writer().put_content(data)
    src.copy(bucket.object("dir/dst"))
    assert bucket.object("dir/dst").get_reader().read_all() == data
    assert src.get_reader().read_all() == data, "the source stays"
    src_attrs, dst_attrs = src.head("checksum"), bucket.object("dir/dst").head("checksum")
    assert dst_attrs.size == src_attrs.size == len(data)
    assert dst_attrs.checksum_value == src_attrs.checksum_value
    assert sorted(e.name for e in bucket.list_all_objects()) == ["dir/dst", "dir/src"]


def test_copy_across_buckets_and_overwrite(client: Client, bucket: Bucket, bucket_name: str) -> None:
    other = client.bucket(f"{bucket_name}-dst").create()
    try:
        other.object("target").get_writer().put_content(b"to be replaced")
        bucket.object("a").get_writer().put_content(b"copied bytes")
        bucket.object("a").copy(other.object("target"))
        assert other.object("target").get_reader().read_all() == b"copied bytes"
        assert [e.name for e in bucket.list_all_objects()] == ["a"]
    finally:
        other.delete(missing_ok=True)


def test_copy_into_a_bucket_with_another_checksum(client: Client, bucket: Bucket, bucket_name: str) -> None:
    """The destination's checksum is computed over the copied bytes (the work file is read back)."""
    other = client.bucket(f"{bucket_name}-md5").create()
    try:
        other.make_request("PATCH", "set-bprops", value={"checksum": {"type": "md5"}})
        data = pattern("md5", 300_000)
        bucket.object("a").get_writer().put_content(data)
        bucket.object("a").copy(other.object("b"))
        attrs = other.object("b").head()
        assert attrs.checksum_type == "md5"
        assert attrs.checksum_value == hashlib.md5(data).hexdigest()
        assert other.object("b").get_reader().read_all() == data
    finally:
        other.delete(missing_ok=True)


def test_copy_missing_source(bucket: Bucket) -> None:
    with pytest.raises(ErrObjNotFound):
        bucket.object("ghost").copy(bucket.object("ghost2"))
    assert_head_404(bucket.object("ghost2"))


# --- rename ---------------------------------------------------------------------------------------


def rename(endpoint: str, bucket: str, old: str, new: str) -> int:
    resp = raw(
        "POST",
        f"{endpoint}/v1/objects/{bucket}/{old}",
        params={"provider": "ais"},
        json=act("rename-obj", name=new),
    )
    return resp.status_code


def test_rename(endpoint: str, bucket: Bucket) -> None:
    data = pattern("ren", 5000)
    bucket.object("old/name").get_writer().put_content(data)
    assert rename(endpoint, bucket.name, "old/name", "new/name") == 200
    assert_head_404(bucket.object("old/name"))
    assert bucket.object("new/name").get_reader().read_all() == data
    assert [e.name for e in bucket.list_all_objects()] == ["new/name"]


def test_rename_missing_is_404(endpoint: str, bucket: Bucket) -> None:
    assert rename(endpoint, bucket.name, "nothing", "something") == 404
    assert_head_404(bucket.object("something"))


def test_rename_to_escaping_name_is_400(endpoint: str, bucket: Bucket) -> None:
    bucket.object("keep").get_writer().put_content(b"k")
    assert rename(endpoint, bucket.name, "keep", "../../outside") == 400
    assert bucket.object("keep").get_reader().read_all() == b"k"
