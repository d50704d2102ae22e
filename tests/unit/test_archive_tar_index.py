"""The TAR member index: built from headers only, persisted compactly, and read one member cheaply."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strata.archive import ArchiveReader, CorruptIndex, FileRegion, TarIndex, build_tar_index, new_writer
from strata.core.errors import InvalidRequest
from tests.unit.test_archive_support import MTIME, OpenShard, collect

MEMBER_SIZE = 100_000
COUNT = 500


@pytest.fixture
def large_tar(tmp_path: Path) -> Path:
    """500 members of 100 kB (50 MB) written by our writer from a sparse-ish body."""
    body = tmp_path / "body"
    body.write_bytes(os.urandom(MEMBER_SIZE))
    path = tmp_path / "large.tar"
    fd = os.open(body, os.O_RDONLY)
    try:
        writer = new_writer(".tar")
        out = bytearray()
        with open(path, "wb") as shard:
            for i in range(COUNT):
                region = FileRegion(fd, 0, MEMBER_SIZE)
                collect(writer.add(f"samples/{i:05d}.bin", MEMBER_SIZE, region, MTIME), out)
                shard.write(out)
                out.clear()
            collect(writer.finish(), out)
            shard.write(out)
    finally:
        os.close(fd)
    return path


class PreadCounter:
    """Counts os.pread calls and bytes (the archive package reads nothing any other way)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.bytes = 0
        real = os.pread

        def counting(fd: int, count: int, offset: int) -> bytes:
            data = real(fd, count, offset)
            self.calls += 1
            self.bytes += len(data)
            return data

        monkeypatch.setattr(os, "pread", counting)


def test_index_walks_headers_only(large_tar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenShard(large_tar) as shard:
        counter = PreadCounter(monkeypatch)
        index = build_tar_index(shard.fd, shard.size)
    assert len(index) == COUNT
    assert counter.bytes <= (COUNT + 1) * 512  # one header per member and the end marker
    assert shard.size > 100 * counter.bytes
    member = index.lookup("samples/00042.bin")
    assert member is not None
    assert (member.size, member.mtime) == (MEMBER_SIZE, MTIME)
    assert member.data_offset == member.position == 42 * (512 + MEMBER_SIZE + (-MEMBER_SIZE % 512)) + 512
    assert index.lookup("samples/99999.bin") is None


def test_index_persists_compactly(large_tar: Path) -> None:
    with OpenShard(large_tar) as shard:
        index = build_tar_index(shard.fd, shard.size)
    data = index.to_bytes()
    assert len(data) < COUNT * 40  # ~18-byte names, four small ints each, no repeated keys
    restored = TarIndex.from_bytes(data)
    assert restored.members == index.members
    assert restored.shard_size == index.shard_size
    assert restored.lookup("samples/00499.bin") == index.lookup("samples/00499.bin")


@pytest.mark.parametrize(
    "garbage", [b"", b"\x93\x01", b"not msgpack at all", b"\x96\x09\x00\x90\x90\x90\x90"]
)
def test_corrupt_index_is_reported(garbage: bytes) -> None:
    with pytest.raises(CorruptIndex):
        TarIndex.from_bytes(garbage)


def test_reading_one_member_with_a_persisted_index_reads_only_that_member(
    large_tar: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenShard(large_tar) as shard:
        persisted = ArchiveReader(shard.fd, shard.size, ".tar").tar_index().to_bytes()
        counter = PreadCounter(monkeypatch)
        reader = ArchiveReader(shard.fd, shard.size, ".tar", index=TarIndex.from_bytes(persisted))
        member = reader.find("samples/00321.bin")
        data = b"".join(reader.read(member, 10, 1000))
        assert reader.built_index is None  # nothing new to persist
    assert len(data) == 1000
    assert counter.calls == 1 and counter.bytes == 1000


def test_first_lookup_builds_once_then_reuses(large_tar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenShard(large_tar) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".tar")
        counter = PreadCounter(monkeypatch)
        reader.find("samples/00001.bin")
        walked = counter.calls
        assert walked > COUNT  # the build
        for i in range(0, COUNT, 50):
            reader.find(f"samples/{i:05d}.bin")
        assert counter.calls == walked  # no rescans
        assert reader.built_index is not None  # the caller should persist this one


def test_index_of_another_size_is_ignored(large_tar: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.tar"
    writer = new_writer(".tar")
    out = bytearray()
    collect(writer.add("samples/00001.bin", 3, b"new", MTIME), out)
    collect(writer.finish(), out)
    small.write_bytes(bytes(out))
    with OpenShard(large_tar) as big:
        stale = build_tar_index(big.fd, big.size)
    with OpenShard(small) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".tar", index=stale)
        assert b"".join(reader.read(reader.find("samples/00001.bin"))) == b"new"
        assert reader.built_index is not None


def test_tar_index_only_for_tar(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"")
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".zip")
        with pytest.raises(InvalidRequest):
            reader.tar_index()
        assert reader.built_index is None


def test_duplicate_names_resolve_to_the_first(tmp_path: Path) -> None:
    writer = new_writer(".tar")
    out = bytearray()
    collect(writer.add("dup", 5, b"first", MTIME), out)
    collect(writer.add("dup", 6, b"second", MTIME), out)
    collect(writer.finish(), out)
    path = tmp_path / "dup.tar"
    path.write_bytes(bytes(out))
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".tar")
        assert [m.name for m in reader.members()] == ["dup", "dup"]
        assert b"".join(reader.read(reader.find("dup"))) == b"first"
