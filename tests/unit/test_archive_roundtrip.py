"""Our writers read back by the stdlib (and unzip / lz4 CLIs); stdlib-made shards read back by us."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from strata.archive import (
    FORMATS,
    ArchiveReader,
    FileRegion,
    SourceSizeMismatch,
    content_type,
    format_of,
    new_writer,
)
from strata.core.errors import InvalidRequest
from tests.unit.test_archive_support import (
    ALL_FORMATS,
    MTIME,
    OpenShard,
    collect,
    iter_stdlib,
    stdlib_shard,
    write_archive,
)

MEMBERS = [
    ("plain.txt", b"hello world\n"),
    ("empty", b""),
    ("dir/exactly-512.bin", bytes(range(256)) * 2),
    ("deep/" * 30 + "long-name.bin", b"L" * 700),  # 180 bytes: ustar prefix split
    ("x" * 150 + ".json", b"{}"),  # no slash to split at: PAX path
    ("ünïcode/名前.jpg", b"\xff\xd8\xff" * 100),
    ("/abs/../../escape.txt", b"writers keep names as-is"),
    ("big.bin", os.urandom(3 << 20)),
]
# What our readers serve of MEMBERS: not the unsafe name (see test_archive_names.py).
SERVED = [(name, data) for name, data in MEMBERS if not name.startswith("/")]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_writer_output_reads_back_with_stdlib(fmt: str) -> None:
    data = write_archive(fmt, MEMBERS)
    assert list(iter_stdlib(fmt, data)) == MEMBERS


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_writer_output_reads_back_with_our_reader(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"shard{fmt}"
    path.write_bytes(write_archive(fmt, MEMBERS))
    with OpenShard(path) as shard, ArchiveReader(shard.fd, shard.size, fmt) as reader:
        members = list(reader.members())
        assert [(m.name, m.size, m.mtime) for m in members] == [(n, len(d), MTIME) for n, d in SERVED]
        for name, data in SERVED:
            assert b"".join(reader.read(reader.find(name))) == data


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_stdlib_shards_read_back_with_our_reader(fmt: str, tar_format: int, tmp_path: Path) -> None:
    members = MEMBERS
    if tar_format == tarfile.USTAR_FORMAT:  # ustar cannot say long unsplittable or non-ASCII names
        members = [(n, d) for n, d in MEMBERS if n.isascii() and not n.startswith("x" * 150)]
    if fmt == ".zip" and tar_format != tarfile.PAX_FORMAT:
        pytest.skip("tar dialects do not apply to zip")
    path = stdlib_shard(tmp_path / f"shard{fmt}", fmt, members, tar_format)
    with OpenShard(path) as shard, ArchiveReader(shard.fd, shard.size, fmt) as reader:
        served = [(n, d) for n, d in members if not n.startswith("/")]  # as SERVED
        assert [m.name for m in reader.members()] == [n for n, _ in served]
        for name, data in reversed(served):  # backwards: compressed readers must restart correctly
            member = reader.find(name)
            assert member.size == len(data)
            assert b"".join(reader.read(member)) == data


def test_directories_and_links_are_not_members(tmp_path: Path) -> None:
    path = tmp_path / "mixed.tar"
    with tarfile.open(path, "w") as archive:
        for name, kind in (("d", tarfile.DIRTYPE), ("d/link", tarfile.SYMTYPE), ("d/hard", tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "d/file" if kind != tarfile.DIRTYPE else ""
            archive.addfile(info)
        info = tarfile.TarInfo("d/file")
        info.size = 3
        archive.addfile(info, fileobj=io.BytesIO(b"abc"))
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".tar")
        assert [m.name for m in reader.members()] == ["d/file"]


def test_tar_writer_sends_file_regions_zero_copy(tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(b"z" * 5000)
    fd = os.open(body, os.O_RDONLY)
    try:
        writer = new_writer(".tar")
        out = bytearray()
        first = collect(writer.add("a", 5000, FileRegion(fd, 0, 5000)), out)
        second = collect(writer.add("b", 100, FileRegion(fd, 10, 100)), out)
        collect(writer.finish(), out)
        # header, region -- and the padding after a region travels with the next header
        assert [type(item) for item in first] == [bytes, FileRegion]
        assert [type(item) for item in second] == [bytes, FileRegion]
        assert first[1] == FileRegion(fd, 0, 5000)
        assert len(second[0]) == (-5000 % 512) + 512
        assert len(out) % 512 == 0
        assert list(iter_stdlib(".tar", bytes(out))) == [("a", b"z" * 5000), ("b", b"z" * 100)]
    finally:
        os.close(fd)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_file_region_and_chunk_sources_in_every_format(fmt: str, tmp_path: Path) -> None:
    body = tmp_path / "body"
    payload = os.urandom((1 << 20) + 12345)  # more than one pread chunk
    body.write_bytes(payload)
    fd = os.open(body, os.O_RDONLY)
    try:
        writer = new_writer(fmt)
        out = bytearray()
        collect(writer.add("region", len(payload), FileRegion(fd, 0, len(payload)), MTIME), out)
        collect(writer.add("chunks", 9, iter([b"abc", b"", b"defghi"]), MTIME), out)
        collect(writer.add("view", 4, memoryview(b"wxyz"), MTIME), out)
        collect(writer.finish(), out)
    finally:
        os.close(fd)
    expected = [("region", payload), ("chunks", b"abcdefghi"), ("view", b"wxyz")]
    assert list(iter_stdlib(fmt, bytes(out))) == expected


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize(
    "source", [b"short", iter([b"too", b"short"]), iter([b"way", b"too", b"long", b"!"]), b"far too long!"]
)
def test_size_mismatch_raises(fmt: str, source: object) -> None:
    writer = new_writer(fmt)
    with pytest.raises(SourceSizeMismatch):
        collect(writer.add("m", 10, source, MTIME), bytearray())  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_short_file_region_raises(fmt: str, tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(b"abc")
    fd = os.open(body, os.O_RDONLY)
    try:
        writer = new_writer(fmt)
        with pytest.raises(SourceSizeMismatch):
            collect(writer.add("m", 10, FileRegion(fd, 0, 3 if fmt == ".tar" else 10), MTIME), bytearray())
    finally:
        os.close(fd)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_flush_makes_everything_so_far_decodable(fmt: str) -> None:
    """After flush() the bytes sent decode to every member added so far (GetBatch pauses on peers)."""
    writer = new_writer(fmt)
    out = bytearray()
    collect(writer.add("one", 3, b"abc", MTIME), out)
    collect(writer.flush(), out)
    sent_before_pause = bytes(out)
    collect(writer.add("two", 3, b"def", MTIME), out)
    collect(writer.finish(), out)
    assert list(iter_stdlib(fmt, bytes(out))) == [("one", b"abc"), ("two", b"def")]
    if fmt in (".tgz", ".tar.lz4"):
        import zlib

        import lz4.frame  # type: ignore[import-untyped]

        if fmt == ".tgz":
            partial = zlib.decompressobj(31).decompress(sent_before_pause)
        else:
            partial = lz4.frame.decompress(sent_before_pause)
        assert partial[:3] == b"one" and b"abc" in partial


def test_writers_are_deterministic() -> None:
    for fmt in ALL_FORMATS:
        assert write_archive(fmt, MEMBERS[:3]) == write_archive(fmt, MEMBERS[:3])


def test_deflated_zip_round_trip() -> None:
    writer = new_writer(".zip", zip_level=1)
    out = bytearray()
    text = b"the quick brown fox " * 5000
    collect(writer.add("text.txt", len(text), text, MTIME), out)
    collect(writer.add("chunks", 6, iter([b"abc", b"def"]), MTIME), out)
    collect(writer.finish(), out)
    assert len(out) < len(text) // 10
    assert list(iter_stdlib(".zip", bytes(out))) == [("text.txt", text), ("chunks", b"abcdef")]


@pytest.mark.skipif(shutil.which("unzip") is None, reason="no unzip CLI")
def test_unzip_cli_accepts_our_zip(tmp_path: Path) -> None:
    path = tmp_path / "out.zip"
    path.write_bytes(write_archive(".zip", MEMBERS))
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


@pytest.mark.skipif(shutil.which("lz4") is None, reason="no lz4 CLI")
def test_lz4_cli_decodes_our_tar_lz4(tmp_path: Path) -> None:
    path = tmp_path / "out.tar.lz4"
    path.write_bytes(write_archive(".tar.lz4", MEMBERS))
    result = subprocess.run(["lz4", "-d", "-c", str(path)], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    assert list(iter_stdlib(".tar", result.stdout)) == MEMBERS


def test_format_of_by_mime_and_name() -> None:
    assert format_of("shard.tar") == ".tar"
    assert format_of("a/b/SHARD.TAR.GZ") == ".tgz"
    assert format_of("x.tgz") == ".tgz"
    assert format_of("x.zip") == ".zip"
    assert format_of("x.tar.lz4") == ".tar.lz4"
    assert format_of("x.bin", "application/x-tar") == ".tar"
    assert format_of("x.tar", "zip") == ".zip"  # an explicit mime wins
    for spelling in FORMATS:
        assert format_of("", spelling) in (".tar", ".tgz", ".zip", ".tar.lz4")
    assert content_type(".tar.gz") == "application/gzip"
    assert content_type(".tar.lz4") == "application/x-lz4"
    for bad_name, bad_mime in (("x.gz", ""), ("x.rar", ""), ("x.tar", ".rar"), ("", "")):
        with pytest.raises(InvalidRequest):
            format_of(bad_name, bad_mime)
    with pytest.raises(InvalidRequest):
        new_writer(".7z")


def test_tar_gz_spelling_reads_and_writes_like_tgz(tmp_path: Path) -> None:
    data = write_archive(".tar.gz", MEMBERS[:2])
    assert data == write_archive(".tgz", MEMBERS[:2])
    path = tmp_path / "x.tar.gz"
    path.write_bytes(data)
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, format_of(path.name))
        assert reader.format == ".tgz"
        assert [m.name for m in reader.members()] == [MEMBERS[0][0], MEMBERS[1][0]]


def test_public_surface_is_pinned() -> None:
    import strata.archive

    assert sorted(strata.archive.__all__) == sorted(
        [
            "FORMATS", "MODES", "TAR", "TAR_LZ4", "TGZ", "ZIP", "ArchiveReader", "ArchiveWriter",
            "CorruptIndex", "FileRegion", "Member", "Output", "RandomAccess", "Source", "SourceSizeMismatch",
            "TarIndex", "build_tar_index", "content_type", "format_of", "new_writer", "wds_key",
        ]
    )  # fmt: skip
