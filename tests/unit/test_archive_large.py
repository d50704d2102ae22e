"""Past the 32-bit and ustar limits: ZIP64 (>65,535 members, >4 GiB members) and PAX sizes (>8 GiB).

Large bodies are zeros written as holes of a sparse file, so these tests move little data: only the
writer's CRC pass over a >4 GiB ZIP member costs about a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.archive import ArchiveReader, FileRegion, Output, new_writer
from tests.unit.test_archive_support import MTIME, OpenShard, collect

ZEROS = bytes(1 << 20)


def write_sparse(path: Path, items: Iterator[Output], hole: bytes | None = None) -> int:
    """Write writer output to ``path``; FileRegions and ``hole`` chunks (all zeros) become holes."""
    offset = 0
    with open(path, "wb") as out:
        for item in items:
            if isinstance(item, FileRegion):
                offset += item.count
            elif hole is not None and item is hole:
                offset += len(item)
            else:
                out.seek(offset)
                out.write(item)
                offset += len(item)
        out.truncate(offset)
    return offset


def test_zip64_for_more_than_65535_members(tmp_path: Path) -> None:
    count = 70_000
    writer = new_writer(".zip")
    out = bytearray()
    for i in range(count):
        collect(writer.add(f"m/{i:06d}", 1, b"%d" % (i % 10), MTIME), out)
    collect(writer.finish(), out)
    path = tmp_path / "many.zip"
    path.write_bytes(bytes(out))
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert len(infos) == count
        assert archive.read(infos[-1]) == b"9"
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".zip")
        assert sum(1 for _ in reader.members()) == count
        assert b"".join(reader.read(reader.find("m/069997"))) == b"7"
    if shutil.which("unzip"):
        listing = subprocess.run(["unzip", "-l", str(path)], capture_output=True, text=True, check=False)
        assert listing.returncode == 0, listing.stderr
        assert f"{count} files" in listing.stdout


def test_zip64_for_a_member_past_4_gib(tmp_path: Path) -> None:
    size = (4 << 30) + (1 << 20)
    writer = new_writer(".zip")

    def items() -> Iterator[Output]:
        yield from writer.add("small-before", 5, b"hello", MTIME)
        yield from writer.add("huge.bin", size, (ZEROS for _ in range(size >> 20)), MTIME)
        yield from writer.add("small-after", 5, b"world", MTIME)  # its local header is past 4 GiB
        yield from writer.finish()

    path = tmp_path / "huge.zip"
    write_sparse(path, items(), hole=ZEROS)
    with zipfile.ZipFile(path) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
        assert sizes == {"small-before": 5, "huge.bin": size, "small-after": 5}
        assert archive.read("small-after") == b"world"
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".zip")
        huge = reader.find("huge.bin")
        assert huge.size == size
        assert b"".join(reader.read(huge, size - 10)) == bytes(10)
        region = reader.region(huge)
        assert region is not None and region.count == size
        assert b"".join(reader.read(reader.find("small-after"))) == b"world"
    if shutil.which("unzip"):
        listing = subprocess.run(["unzip", "-l", str(path)], capture_output=True, text=True, check=False)
        assert listing.returncode == 0, listing.stderr
        assert str(size) in listing.stdout


@pytest.mark.parametrize("size", [(8 << 30) + 7, 1 << 40])
def test_pax_size_for_a_member_past_8_gib(tmp_path: Path, size: int) -> None:
    body = tmp_path / "body"
    body.touch()
    fd = os.open(body, os.O_RDONLY)
    try:
        writer = new_writer(".tar")

        def items() -> Iterator[Output]:
            # the region is never read: write_sparse turns it into a hole
            yield from writer.add("huge.bin", size, FileRegion(fd, 0, size), MTIME)
            yield from writer.add("after", 5, b"after", MTIME)
            yield from writer.finish()

        path = tmp_path / "huge.tar"
        total = write_sparse(path, items())
    finally:
        os.close(fd)
    assert total % 512 == 0
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        assert [(m.name, m.size) for m in members] == [("huge.bin", size), ("after", 5)]
        extracted = archive.extractfile(members[1])
        assert extracted is not None and extracted.read() == b"after"
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".tar")
        assert reader.find("huge.bin").size == size
        assert b"".join(reader.read(reader.find("after"))) == b"after"
