"""Compression at rest through the official SDK (issue 10): round trips, the stored form, the codec choice.

Every object written to a compressing bucket must read back as written, with the size, checksum and
listing size of the original, while the file on disk is smaller and is a zstd seekable file the stock
``zstd -d`` decodes. Already-compressed data is stored as it is; turning compression on or off later
rewrites nothing.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator

import pytest
from aistore.sdk.bucket import Bucket

from .compression_support import (
    BIG,
    EDGE_SIZES,
    KIB,
    MIB,
    MIN_SIZE,
    assert_stored_compressed,
    assert_stored_plain,
    compressible,
    compressing,
    deltas,
    expected_frame_size,
    randbytes,
    seek_table_frames,
    set_props,
    stored_metadata,
    stored_path,
    xxh64,
    zstd_decode,
)
from .helpers import fast_client
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

FRAME_64K = 64 * KIB
# with a configured 64 KiB frame: its edges, and the auto edges (which now span many frames)
SIZES_64K = [MIN_SIZE, FRAME_64K - 1, FRAME_64K, FRAME_64K + 1, MIB - 1, MIB, MIB + 1, 4 * MIB + 1]


@pytest.fixture(scope="module")
def auto_bucket(server: StrataServer) -> Iterator[Bucket]:
    """A compressing bucket with the defaults (codec auto, level 3, frame size auto, min_size 4 KiB)."""
    bck = compressing(fast_client(server.endpoint).bucket("cmp-sdk-auto").create(exist_ok=True))
    yield bck
    bck.delete(missing_ok=True)


@pytest.fixture(scope="module")
def frames_64k(server: StrataServer) -> Iterator[Bucket]:
    bck = fast_client(server.endpoint).bucket("cmp-sdk-64k").create(exist_ok=True)
    compressing(bck, frame_size="64KiB")
    yield bck
    bck.delete(missing_ok=True)


def round_trip(server: StrataServer, bck: Bucket, name: str, data: bytes, frame_size: int | None) -> None:
    """PUT through the SDK, then check what every reader sees and what lies on disk."""
    with deltas(server.endpoint) as put:
        bck.object(name).get_writer().put_content(data)
    assert bck.object(name).get_reader().read_all() == data, f"{name}: GET bytes differ"
    attrs = bck.object(name).head()
    assert attrs.size == len(data), f"{name}: HEAD size {attrs.size}"
    assert (attrs.checksum_type, attrs.checksum_value) == ("xxhash2", xxh64(data)), name
    listed = {e.name: e.size for e in bck.list_all_objects(prefix=name)}
    assert listed[name] == len(data), f"listing shows {listed}"
    path = stored_path(server.data_dir, bck.name, name)
    if len(data) >= MIN_SIZE:
        frame = expected_frame_size(len(data), frame_size)
        md = assert_stored_compressed(path, data, frame)
        assert (put["compressed_put_count"], put["passthrough_put_count"]) == (1, 0)
    else:  # below min_size: stored as it is, counted as passed through
        md = assert_stored_plain(path, data)
        assert (put["compressed_put_count"], put["passthrough_put_count"]) == (0, 1)
    assert md.checksum_value == xxh64(data), "the recorded checksum is the original's"


@pytest.mark.parametrize("size", [*EDGE_SIZES, BIG], ids=lambda s: f"{s}B")
def test_sdk_round_trip_auto_frames(server: StrataServer, auto_bucket: Bucket, size: int) -> None:
    round_trip(server, auto_bucket, f"obj-{size}", compressible(size, shift=size), None)


@pytest.mark.parametrize("size", SIZES_64K, ids=lambda s: f"{s}B")
def test_sdk_round_trip_64k_frames(server: StrataServer, frames_64k: Bucket, size: int) -> None:
    round_trip(server, frames_64k, f"obj-{size}", compressible(size, shift=size + 7), FRAME_64K)


def test_overwrite_changes_the_stored_form_with_the_content(
    server: StrataServer, auto_bucket: Bucket
) -> None:
    """An overwrite takes the new content's form: compressible -> random (as is) -> compressible."""
    obj = auto_bucket.object("overwritten")
    versions = [compressible(300 * KIB), randbytes(300 * KIB, seed=5), compressible(2 * MIB, shift=9)]
    codecs = []
    for data in versions:
        obj.get_writer().put_content(data)
        assert obj.get_reader().read_all() == data
        assert obj.head().checksum_value == xxh64(data)
        codecs.append(stored_metadata(stored_path(server.data_dir, auto_bucket.name, "overwritten")).codec)
    assert codecs == ["zstd", "", "zstd"]


# --- append and flush ---------------------------------------------------------------------------------


def test_append_handles_then_flush_store_the_whole_object_compressed(
    server: StrataServer, auto_bucket: Bucket
) -> None:
    pieces = [compressible(700 * KIB + i, shift=i * 13) for i in range(4)]
    writer = auto_bucket.object("appended").get_writer()
    handle = ""
    with deltas(server.endpoint) as put:
        for piece in pieces:
            handle = writer.append_content(piece, handle=handle)
        writer.append_content(b"", handle=handle, flush=True)
    data = b"".join(pieces)
    assert put["compressed_put_count"] == 1
    assert auto_bucket.object("appended").get_reader().read_all() == data
    assert auto_bucket.object("appended").head().checksum_value == xxh64(data)
    assert_stored_compressed(stored_path(server.data_dir, auto_bucket.name, "appended"), data, 4 * MIB)


def test_appending_to_a_compressed_object_keeps_it_compressed(
    server: StrataServer, auto_bucket: Bucket
) -> None:
    obj = auto_bucket.object("journal")
    base = compressible(MIB + 5, shift=41)
    obj.get_writer().put_content(base)
    more = [compressible(300 * KIB, shift=42), compressible(5, shift=43)]
    with obj.get_writer().as_file(mode="a") as f:
        for piece in more:
            f.write(piece)
    data = base + b"".join(more)
    assert obj.get_reader().read_all() == data
    assert obj.head().size == len(data)
    assert_stored_compressed(stored_path(server.data_dir, auto_bucket.name, "journal"), data)


# --- the codec choice: already-compressed data passes through ------------------------------------


def png(size: int) -> bytes:
    """A PNG signature and IHDR chunk, then incompressible bytes (an image body)."""
    ihdr = struct.pack(">IIBBBBB", 640, 480, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    head = b"\x89PNG\r\n\x1a\n" + chunk
    return head + randbytes(size - len(head), seed=size)


def jpeg(size: int) -> bytes:
    """A JPEG SOI + JFIF APP0 header, then incompressible bytes (entropy-coded scan data)."""
    head = b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + randbytes(size - len(head), seed=size + 1)


ALREADY_COMPRESSED = {
    "random.bin": lambda: randbytes(700 * KIB, seed=1),
    "random-multi-frame.bin": lambda: randbytes(5 * MIB + 3, seed=2),
    "log.gz": lambda: gzip.compress(compressible(3 * MIB), compresslevel=6),
    "photo.png": lambda: png(400 * KIB),
    "photo.jpg": lambda: jpeg(400 * KIB),
}


@pytest.mark.parametrize("name", list(ALREADY_COMPRESSED))
def test_already_compressed_data_is_passed_through(
    server: StrataServer, auto_bucket: Bucket, name: str
) -> None:
    data = ALREADY_COMPRESSED[name]()
    with deltas(server.endpoint) as put:
        auto_bucket.object(name).get_writer().put_content(data)
    assert (put["passthrough_put_count"], put["compressed_put_count"]) == (1, 0)
    path = stored_path(server.data_dir, auto_bucket.name, name)
    assert_stored_plain(path, data)  # not even the small header: stored as it is
    assert auto_bucket.object(name).get_reader().read_all() == data
    assert auto_bucket.object(name).head().checksum_value == xxh64(data)


def test_random_data_behind_a_compressible_start_costs_at_most_a_small_header(
    server: StrataServer, auto_bucket: Bucket
) -> None:
    """s4's weak spot: 4 KiB of zeros fool the sample into compressing; the frames must not grow."""
    data = bytes(4 * KIB) + randbytes(6 * MIB, seed=3)
    auto_bucket.object("zeros-then-random").get_writer().put_content(data)
    path = stored_path(server.data_dir, auto_bucket.name, "zeros-then-random")
    assert path.stat().st_size <= len(data) * 1.001
    if stored_metadata(path).codec:
        assert zstd_decode(path) == data
    assert auto_bucket.object("zeros-then-random").get_reader().read_all() == data


def test_codec_zstd_forces_frames_yet_random_data_does_not_grow(server: StrataServer, bucket: Bucket) -> None:
    compressing(bucket, codec="zstd", frame_size="1MiB")
    data = randbytes(3 * MIB + 5, seed=4)
    with deltas(server.endpoint) as put:
        bucket.object("forced").get_writer().put_content(data)
    assert put["compressed_put_count"] == 1
    path = stored_path(server.data_dir, bucket.name, "forced")
    stored = path.read_bytes()
    md = stored_metadata(path)
    assert md.codec == "zstd" and seek_table_frames(stored) == 4
    assert len(stored) <= len(data) * 1.001, f"{len(stored)} B stored for {len(data)} B of random data"
    assert zstd_decode(path) == data
    assert bucket.object("forced").get_reader().read_all() == data
    assert bucket.object("forced").get_reader(byte_range=f"bytes={MIB - 2}-{MIB + 1}").read_all() == data[
        MIB - 2 : MIB + 2
    ]
    # one frame that does not shrink: stored as it is, never bigger than the original
    single = randbytes(200 * KIB, seed=6)
    bucket.object("forced-single").get_writer().put_content(single)
    single_path = stored_path(server.data_dir, bucket.name, "forced-single")
    assert single_path.stat().st_size <= len(single) * 1.001
    assert bucket.object("forced-single").get_reader().read_all() == single


def test_codec_none_and_min_size_store_as_is(server: StrataServer, bucket: Bucket) -> None:
    compressing(bucket, codec="none")
    text = compressible(256 * KIB)
    bucket.object("none").get_writer().put_content(text)
    assert_stored_plain(stored_path(server.data_dir, bucket.name, "none"), text)
    set_props(bucket, {"compression": {"codec": "auto", "min_size": "1MiB"}})
    bucket.object("under-min").get_writer().put_content(text)
    assert_stored_plain(stored_path(server.data_dir, bucket.name, "under-min"), text)
    bucket.object("at-min").get_writer().put_content(compressible(MIB))
    assert_stored_compressed(stored_path(server.data_dir, bucket.name, "at-min"), compressible(MIB))


# --- turning compression on and off --------------------------------------------------------------


def test_turning_compression_off_and_on_rewrites_nothing(server: StrataServer, bucket: Bucket) -> None:
    compressing(bucket)
    first = compressible(2 * MIB, shift=1)
    bucket.object("first").get_writer().put_content(first)
    first_path = stored_path(server.data_dir, bucket.name, "first")
    assert_stored_compressed(first_path, first)
    first_stored, first_stat = first_path.read_bytes(), first_path.stat()

    set_props(bucket, {"compression.enabled": False})
    second = compressible(2 * MIB, shift=2)
    with deltas(server.endpoint) as put:
        bucket.object("second").get_writer().put_content(second)
    assert (put["compressed_put_count"], put["passthrough_put_count"]) == (0, 0), "a plain bucket's PUT"
    second_path = stored_path(server.data_dir, bucket.name, "second")
    assert_stored_plain(second_path, second)
    # the compressed object is still read, whole and by range, from its untouched file
    assert bucket.object("first").get_reader().read_all() == first
    assert bucket.object("first").get_reader(byte_range="bytes=1000-1999").read_all() == first[1000:2000]
    assert bucket.object("first").head().checksum_value == xxh64(first)

    set_props(bucket, {"compression.enabled": True})
    third = compressible(2 * MIB, shift=3)
    bucket.object("third").get_writer().put_content(third)
    assert_stored_compressed(stored_path(server.data_dir, bucket.name, "third"), third)
    # turning it on again rewrote nothing: the plain one is still plain, the old one byte-identical
    assert_stored_plain(second_path, second)
    assert first_path.read_bytes() == first_stored
    after = first_path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (first_stat.st_ino, first_stat.st_mtime_ns)
    for name, data in (("first", first), ("second", second), ("third", third)):
        assert bucket.object(name).get_reader().read_all() == data, name
    sizes = {e.name: e.size for e in bucket.list_all_objects()}
    assert sizes == {"first": len(first), "second": len(second), "third": len(third)}

