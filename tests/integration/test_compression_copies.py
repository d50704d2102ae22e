"""Copies and moves of compressed objects (issue 10): the bytes are equal, the stored form is the
destination's.

A copy into a bucket that compresses with the same checksum type takes the stored bytes as they are
(no recompression: the destination file is byte-identical); into a plain bucket it is decoded; into a
compressing bucket with another checksum type it is recoded. move-bck keeps every file as it is.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket

from .compression_support import (
    KIB,
    MIB,
    assert_stored_compressed,
    assert_stored_plain,
    compressible,
    compressing,
    randbytes,
    set_props,
    stored_metadata,
    stored_path,
    xxh64,
)
from .helpers import bucket_props
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

SOURCES = {
    "tiny": compressible(100),  # under min_size: stored as it is in the source
    "log-1": compressible(300 * KIB, shift=1),
    "dir/log-2": compressible(2 * MIB + 5, shift=2),
    "random": randbytes(200 * KIB, seed=9),  # passed through in the source
    "empty": b"",
}


@pytest.fixture
def buckets(server: StrataServer, client: Client, bucket_name: str) -> Iterator[dict[str, Bucket]]:
    """``src`` compressing and filled with SOURCES; ``zstd``: compressing, same checksum; ``plain``;
    ``md5``: compressing with another checksum type. All destroyed after the test."""
    made: dict[str, Bucket] = {}
    for role in ("src", "zstd", "plain", "md5"):
        made[role] = client.bucket(f"{bucket_name[:48]}-{role}").create()
    for role in ("src", "zstd", "md5"):
        compressing(made[role])
    set_props(made["md5"], {"checksum": {"type": "md5"}})
    set_props(made["zstd"], {"compression": {"level": 9}})  # a level does not change the stored form
    for name, data in SOURCES.items():
        made["src"].object(name).get_writer().put_content(data)
    codecs = {name: stored_metadata(file_of(server, made["src"], name)).codec for name in SOURCES}
    assert codecs == {"tiny": "", "log-1": "zstd", "dir/log-2": "zstd", "random": "", "empty": ""}
    yield made
    for bck in made.values():
        bck.delete(missing_ok=True)


def file_of(server: StrataServer, bck: Bucket, name: str) -> Path:
    return stored_path(server.data_dir, bck.name, name)


def check_destination(
    server: StrataServer, src: Bucket, dst: Bucket, role: str, names: dict[str, str]
) -> None:
    """``names``: destination name -> source name. Bytes and checksum equal the original's; the copy
    is stored compressed exactly when the source was and the destination compresses (the sources stored
    as they are -- too small, incompressible, empty -- stay so); same checksum type: the same bytes."""
    for dst_name, src_name in names.items():
        data = SOURCES[src_name]
        assert dst.object(dst_name).get_reader().read_all() == data, dst_name
        head = dst.object(dst_name).head()
        assert head.size == len(data)
        assert head.checksum_value == (hashlib.md5(data).hexdigest() if role == "md5" else xxh64(data))
        path, source_path = file_of(server, dst, dst_name), file_of(server, src, src_name)
        if role == "plain" or not stored_metadata(source_path).codec:
            assert_stored_plain(path, data)
            continue
        md = assert_stored_compressed(path, data)
        if role == "zstd":  # the stored bytes taken as they are: the very same file content
            assert path.read_bytes() == source_path.read_bytes(), f"{dst_name} was recompressed"
        else:
            assert (md.checksum_type, md.checksum_value) == ("md5", hashlib.md5(data).hexdigest())


@pytest.mark.parametrize("role", ["zstd", "plain", "md5"])
def test_copy_object_into_each_kind_of_bucket(
    server: StrataServer, buckets: dict[str, Bucket], role: str
) -> None:
    src, dst = buckets["src"], buckets[role]
    for name in SOURCES:
        src.object(name).copy(dst.object(f"copy/{name}"))
    check_destination(server, src, dst, role, {f"copy/{name}": name for name in SOURCES})


@pytest.mark.parametrize("role", ["zstd", "plain", "md5"])
def test_copy_bck_into_each_kind_of_bucket(
    server: StrataServer, client: Client, buckets: dict[str, Bucket], role: str
) -> None:
    src, dst = buckets["src"], buckets[role]
    job_id = src.copy(dst, prepend="cb/")
    assert client.job(job_id=job_id).wait(timeout=60).success
    check_destination(server, src, dst, role, {f"cb/{name}": name for name in SOURCES})
    listed = {e.name: e.size for e in dst.list_all_objects(prefix="cb/")}
    assert listed == {f"cb/{name}": len(data) for name, data in SOURCES.items()}


def test_copy_bck_from_a_plain_bucket_compresses_into_a_compressing_one(
    server: StrataServer, client: Client, buckets: dict[str, Bucket]
) -> None:
    plain, dst = buckets["plain"], buckets["zstd"]
    data = compressible(3 * MIB, shift=4)
    plain.object("p").get_writer().put_content(data)
    assert client.job(job_id=plain.copy(dst)).wait(timeout=60).success
    assert dst.object("p").get_reader().read_all() == data
    assert_stored_compressed(file_of(server, dst, "p"), data)


def test_copy_bck_into_a_new_bucket_follows_its_props(
    server: StrataServer, client: Client, buckets: dict[str, Bucket], bucket_name: str
) -> None:
    """A destination created by the copy itself: its objects are stored as its props say."""
    src = buckets["src"]
    dst = client.bucket(f"{bucket_name[:48]}-new")
    try:
        assert client.job(job_id=src.copy(dst)).wait(timeout=60).success
        enabled = bucket_props(server.endpoint, dst.name)["compression"]["enabled"]
        for name, data in SOURCES.items():
            assert dst.object(name).get_reader().read_all() == data
        path = file_of(server, dst, "dir/log-2")
        if enabled:
            assert path.read_bytes() == file_of(server, src, "dir/log-2").read_bytes()
        else:
            assert_stored_plain(path, SOURCES["dir/log-2"])
    finally:
        dst.delete(missing_ok=True)


def test_move_bck_keeps_every_stored_file_as_it_is(
    server: StrataServer, client: Client, buckets: dict[str, Bucket]
) -> None:
    """move-bck (rename) of a compressing bucket: the new bucket has the source's props (compressing;
    a rename cannot target an existing bucket), every file keeps its bytes, reads are unchanged."""
    src = buckets["src"]
    before = {name: file_of(server, src, name).read_bytes() for name in SOURCES}
    new_name = f"t-moved-{uuid.uuid4().hex[:8]}"
    try:
        assert client.job(job_id=src.rename(new_name)).wait(timeout=60).success
        moved = client.bucket(new_name)
        assert bucket_props(server.endpoint, new_name)["compression"]["enabled"] is True
        for name, data in SOURCES.items():
            assert moved.object(name).get_reader().read_all() == data, name
            assert file_of(server, moved, name).read_bytes() == before[name], f"{name} was rewritten"
        assert stored_metadata(file_of(server, moved, "dir/log-2")).codec == "zstd"
        # the moved bucket then behaves as any: turning compression off keeps old objects readable
        set_props(moved, {"compression.enabled": False})
        moved.object("after").get_writer().put_content(SOURCES["log-1"])
        assert_stored_plain(file_of(server, moved, "after"), SOURCES["log-1"])
        assert moved.object("dir/log-2").get_reader(byte_range="bytes=0-99").read_all() == SOURCES[
            "dir/log-2"
        ][:100]
    finally:
        client.bucket(new_name).delete(missing_ok=True)
