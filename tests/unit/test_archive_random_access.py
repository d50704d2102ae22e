"""Archive readers over a ``RandomAccess`` shard give what they give over a file descriptor.

A compressed shard is stored as zstd seekable frames, so no descriptor holds its bytes; the objects layer
hands the readers a ``RandomAccess`` instead. Here the same shard bytes are read both ways -- an fd on a
file, and a counting wrapper over the bytes in memory -- and every answer must match, except ``region()``,
which is None without a file to point at. Then the wrapper is a real ``strata.compress.StoredReader``
adapter, to show a member read decodes only the frames it touches.
"""

from __future__ import annotations

import io
import random
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from strata.archive import ArchiveReader, FileRegion, Member, TarIndex, build_tar_index
from strata.compress import StoredReader, encode
from strata.core.errors import InvalidRequest, NotFound
from tests.unit.test_archive_support import (
    ALL_FORMATS,
    MTIME,
    SAFE_MEMBERS,
    OpenShard,
    hostile_shard,
    stdlib_shard,
    write_archive,
)

PAYLOAD = random.Random(7).randbytes(1 << 20) + bytes(range(256)) * 1200  # > one 1 MiB read chunk
SAMPLES = [
    ("a/0001.jpg", b"jpg-1"),
    ("a/0001.cls", b"3"),  # odd size: deflated in the stdlib zip, even sizes are stored
    ("a/0002.jpg", b"jpg-2!"),
    ("b.d/0001.jpg", b"other dir"),
    ("empty", b""),
    ("payload.bin", PAYLOAD),  # even size: a stored zip member spanning two read chunks
    ("tail.txt", b"after the payload"),
]
RANGES = [(0, -1), (0, 0), (1, 3), (65536, 1 << 20), (len(PAYLOAD) - 5, -1), (len(PAYLOAD) - 5, 100)]
MATCHES = [("a/", "prefix"), (".jpg", "suffix"), ("0001", "substr"), (r"^a/\d+\.jpg$", "regexp"),
           ("a/0001", "wdskey")]  # fmt: skip


class BytesShard:
    """A ``RandomAccess`` over shard bytes in memory, counting calls and bytes handed out."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0
        self.bytes_read = 0

    def pread(self, count: int, offset: int) -> bytes:
        self.calls += 1
        piece = self.data[offset : offset + count]
        self.bytes_read += len(piece)
        return piece


class StoredShard:
    """A ``RandomAccess`` over a zstd-seekable stored shard: the adapter the objects layer passes in.

    ``StoredReader.read`` wants a range inside the object, so a read past the end is clamped here (short
    only at the end, as ``RandomAccess`` promises).
    """

    def __init__(self, stored: bytes) -> None:
        self.reader = StoredReader(lambda offset, length: stored[offset : offset + length], len(stored))

    @property
    def size(self) -> int:
        return self.reader.original_size

    def pread(self, count: int, offset: int) -> bytes:
        count = min(count, self.size - offset)
        return self.reader.read(offset, count) if count > 0 else b""


class CachingStoredShard(StoredShard):
    """``StoredShard`` keeping its last decoded frame: a forward walk of small reads (the TAR header
    walk, zipfile's buffered reads) then decodes each frame once instead of once per read."""

    def __init__(self, stored: bytes) -> None:
        super().__init__(stored)
        self._frame_index = -1
        self._frame = b""

    def pread(self, count: int, offset: int) -> bytes:
        count = min(count, self.size - offset)
        table = self.reader.table
        pieces = []
        for index in table.frames_for(offset, count):
            if index != self._frame_index:
                self._frame, self._frame_index = self.reader.decode_frame(index), index
            start = table.original_offsets[index]
            pieces.append(self._frame[max(offset - start, 0) : offset + count - start])
        return b"".join(pieces)


def _shard_bytes(tmp_path: Path, fmt: str, builder: str) -> bytes:
    if builder == "stdlib":
        return stdlib_shard(tmp_path / f"shard{fmt}", fmt, SAMPLES).read_bytes()
    return write_archive(fmt, SAMPLES)


def _open(tmp_path: Path, data: bytes, fmt: str) -> OpenShard:
    path = tmp_path / f"same{fmt}"
    path.write_bytes(data)
    return OpenShard(path)


def _read(reader: ArchiveReader, member: Member, offset: int = 0, length: int = -1) -> bytes:
    return b"".join(reader.read(member, offset, length))


def _both(
    tmp_path: Path, data: bytes, fmt: str, check: Callable[[ArchiveReader, ArchiveReader], None]
) -> BytesShard:
    """Run ``check(fd_reader, random_access_reader)`` over the same shard bytes."""
    wrapper = BytesShard(data)
    with (
        _open(tmp_path, data, fmt) as shard,
        ArchiveReader(shard.fd, shard.size, fmt) as by_fd,
        ArchiveReader(wrapper, len(data), fmt) as by_source,
    ):
        check(by_fd, by_source)
    return wrapper


@pytest.mark.parametrize("builder", ["stdlib", "strata"])
@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_random_access_reads_what_the_descriptor_reads(tmp_path: Path, fmt: str, builder: str) -> None:
    data = _shard_bytes(tmp_path, fmt, builder)

    def check(by_fd: ArchiveReader, by_source: ArchiveReader) -> None:
        members = list(by_fd.members())
        assert [m.name for m in members] == [name for name, _ in SAMPLES]
        assert list(by_source.members()) == members
        for (name, body), member in zip(SAMPLES, members, strict=True):
            assert by_source.find(name) == by_fd.find(name) == member
            assert _read(by_source, member) == _read(by_fd, member) == body
            assert by_source.find("./" + name) == member
        payload = by_fd.find("payload.bin")
        for offset, length in RANGES:
            assert _read(by_source, payload, offset, length) == _read(by_fd, payload, offset, length)
        for pattern, mode in MATCHES:
            assert by_source.match(pattern, mode) == by_fd.match(pattern, mode) != []
        for reader in (by_fd, by_source):
            with pytest.raises(NotFound):
                reader.find("a/0003.jpg")
            with pytest.raises(NotFound):
                reader.find("../a/0001.jpg")

    wrapper = _both(tmp_path, data, fmt, check)
    assert wrapper.calls > 0  # every byte of the second reader came through RandomAccess.pread


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_region_is_none_over_random_access(tmp_path: Path, fmt: str) -> None:
    data = _shard_bytes(tmp_path, fmt, "stdlib")

    def check(by_fd: ArchiveReader, by_source: ArchiveReader) -> None:
        for member in by_fd.members():
            assert by_source.region(member) is None
            assert by_source.region(member, member.size, 0) is None
            region = by_fd.region(member)
            if fmt == ".tar" or (fmt == ".zip" and member.size % 2 == 0):  # stored verbatim in the file
                assert isinstance(region, FileRegion)
            else:
                assert region is None

    _both(tmp_path, data, fmt, check)


def test_tar_index_is_the_same_both_ways(tmp_path: Path) -> None:
    data = _shard_bytes(tmp_path, ".tar", "stdlib")

    def check(by_fd: ArchiveReader, by_source: ArchiveReader) -> None:
        index = by_source.tar_index()
        assert index.to_bytes() == by_fd.tar_index().to_bytes()
        assert by_source.built_index is index
        assert build_tar_index(BytesShard(data), len(data)).to_bytes() == index.to_bytes()

    _both(tmp_path, data, ".tar", check)


@pytest.mark.parametrize("fmt", [".tgz", ".zip", ".tar.lz4"])
def test_only_tar_has_an_index_either_way(tmp_path: Path, fmt: str) -> None:
    data = _shard_bytes(tmp_path, fmt, "stdlib")
    with pytest.raises(InvalidRequest):
        ArchiveReader(BytesShard(data), len(data), fmt).tar_index()


def test_a_persisted_index_reads_one_member_with_one_pread(tmp_path: Path) -> None:
    data = _shard_bytes(tmp_path, ".tar", "stdlib")
    persisted = ArchiveReader(BytesShard(data), len(data), ".tar").tar_index().to_bytes()
    wrapper = BytesShard(data)
    reader = ArchiveReader(wrapper, len(data), ".tar", index=TarIndex.from_bytes(persisted))
    assert _read(reader, reader.find("tail.txt")) == b"after the payload"
    assert (wrapper.calls, wrapper.bytes_read) == (1, len(b"after the payload"))


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_unsafe_and_non_regular_entries_are_skipped_the_same_way(tmp_path: Path, fmt: str) -> None:
    data = hostile_shard(fmt)

    def check(by_fd: ArchiveReader, by_source: ArchiveReader) -> None:
        served = [served for _, served, _ in SAFE_MEMBERS]
        assert [m.name for m in by_source.members()] == served
        assert list(by_source.members()) == list(by_fd.members())
        for _, name, body in SAFE_MEMBERS:
            assert _read(by_source, by_source.find(name)) == body

    _both(tmp_path, data, fmt, check)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_a_truncated_shard_is_invalid_either_way(tmp_path: Path, fmt: str) -> None:
    data = _shard_bytes(tmp_path, fmt, "stdlib")
    cut = data[: len(data) // 2]  # inside the payload member

    def read_everything(reader: ArchiveReader) -> None:
        for member in reader.members():
            _read(reader, member)

    def check(by_fd: ArchiveReader, by_source: ArchiveReader) -> None:
        for reader in (by_fd, by_source):
            with pytest.raises(InvalidRequest):
                read_everything(reader)

    _both(tmp_path, cut, fmt, check)


def test_a_shard_shorter_than_announced_is_invalid(tmp_path: Path) -> None:
    """The source ends before ``size``: a short pread is the end, not a retry loop."""
    data = _shard_bytes(tmp_path, ".tar", "stdlib")
    reader = ArchiveReader(BytesShard(data[: len(data) // 2]), len(data), ".tar")
    with pytest.raises(InvalidRequest, match="truncated"):
        for member in reader.members():
            _read(reader, member)


# ---------------------------------------------------------------- through a real zstd seekable shard

FRAME = 64 << 10


def _many_members(count: int, size: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(11)
    for i in range(count):
        yield f"sample/{i:05d}.bin", rng.randbytes(size // 2) + bytes(size - size // 2)


def _tar_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(body), MTIME
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def test_a_deep_tar_member_decodes_only_its_frames() -> None:
    members = list(_many_members(300, 20_000))
    shard = _tar_of(members)
    stored, stats = encode(shard, frame_size=FRAME)
    assert stats.frames >= 90  # about 6 MB in 64 KiB frames

    index = build_tar_index(CachingStoredShard(stored), len(shard))  # once, persisted by the caller
    source = StoredShard(stored)
    reader = ArchiveReader(source, len(shard), ".tar", index=index)
    name, body = members[250]  # deep in the shard: ~5 MB in
    member = reader.find(name)
    assert member.data_offset > 70 * FRAME
    assert source.reader.frames_decoded == 0  # finding is the index's job: nothing decoded
    assert _read(reader, member) == body
    assert source.reader.frames_decoded <= 2  # 20 kB inside 64 KiB frames spans one or two of them
    before = source.reader.frames_decoded
    assert _read(reader, member, 100, 10) == body[100:110]
    assert source.reader.frames_decoded - before == 1
    assert reader.region(member) is None


def test_a_caching_adapter_walks_tar_headers_decoding_each_frame_once() -> None:
    members = list(_many_members(300, 5_000))  # several headers per frame
    shard = _tar_of(members)
    stored, stats = encode(shard, frame_size=FRAME)
    caching = CachingStoredShard(stored)
    reader = ArchiveReader(caching, len(shard), ".tar")
    assert [m.name for m in reader.members()] == [name for name, _ in members]
    assert caching.reader.frames_decoded <= stats.frames
    uncached = StoredShard(stored)
    assert build_tar_index(uncached, len(shard)).to_bytes() == reader.tar_index().to_bytes()
    assert uncached.reader.frames_decoded > stats.frames  # what an adapter without a frame cache costs


def test_a_zip_listing_and_stored_member_decode_a_few_frames(tmp_path: Path) -> None:
    members = list(_many_members(300, 20_000))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, body in members:
            archive.writestr(name, body)
    shard = buffer.getvalue()
    stored, stats = encode(shard, frame_size=FRAME)
    source = CachingStoredShard(stored)
    reader = ArchiveReader(source, len(shard), ".zip")
    assert len(list(reader.members())) == len(members)  # the central directory, at the end
    listed = source.reader.frames_decoded
    assert listed <= 3
    name, body = members[100]
    assert _read(reader, reader.find(name)) == body
    assert source.reader.frames_decoded - listed <= 3  # its local header and its bytes
    assert stats.frames >= 90

