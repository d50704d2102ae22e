"""ArchiveReader: ranges, matching, missing members, malformed shards, bounded memory, cursor reuse."""

from __future__ import annotations

import gzip
import io
import os
import random
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from strata.archive import ArchiveReader, FileRegion, new_writer, wds_key
from strata.core.errors import InvalidRequest, NotFound, RangeNotSatisfiable, StrataError
from tests.unit.test_archive_support import ALL_FORMATS, MTIME, OpenShard, stdlib_shard, write_archive

PAYLOAD = bytes(range(256)) * 5000  # 1.28 MB: several read chunks once compressed streams are involved
SAMPLES = [
    ("a/0001.jpg", b"jpg-1"),
    ("a/0001.cls", b"3"),
    ("a/0001.seg.png", b"png-1"),
    ("a/00010.jpg", b"jpg-10"),
    ("a/0002.jpg", b"jpg-2"),
    ("b.d/0001.jpg", b"other dir"),
    ("payload.bin", PAYLOAD),
]


@pytest.fixture(params=ALL_FORMATS)
def shard(request: pytest.FixtureRequest, tmp_path: Path) -> OpenShard:
    fmt = request.param
    path = stdlib_shard(tmp_path / f"shard{fmt}", fmt, SAMPLES)
    opened = OpenShard(path)
    request.addfinalizer(lambda: os.close(opened.fd))
    return opened


def _reader(shard: OpenShard) -> ArchiveReader:
    fmt = next(f for f in (".tar.lz4", ".tgz", ".zip", ".tar") if shard.path.name.endswith(f))
    return ArchiveReader(shard.fd, shard.size, fmt)


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, -1),
        (0, 0),
        (1, 10),
        (65536, 1 << 20),
        (len(PAYLOAD) - 5, -1),
        (len(PAYLOAD) - 5, 100),
        (len(PAYLOAD), -1),
    ],
)
def test_range_reads_inside_a_member(shard: OpenShard, offset: int, length: int) -> None:
    reader = _reader(shard)
    member = reader.find("payload.bin")
    expected = PAYLOAD[offset:] if length == -1 else PAYLOAD[offset : offset + length]
    chunks = list(reader.read(member, offset, length))
    assert b"".join(chunks) == expected
    assert all(len(chunk) <= 1 << 20 for chunk in chunks)


def test_bad_ranges(shard: OpenShard) -> None:
    reader = _reader(shard)
    member = reader.find("payload.bin")
    with pytest.raises(RangeNotSatisfiable):
        reader.read(member, len(PAYLOAD) + 1)
    for offset, length in ((-1, 5), (0, -2)):
        with pytest.raises(InvalidRequest):
            reader.read(member, offset, length)


def test_region_is_offered_only_where_bytes_are_verbatim(shard: OpenShard) -> None:
    reader = _reader(shard)
    member = reader.find("payload.bin")  # even size: stdlib_shard stores it in zip
    region = reader.region(member, 100, 1000)
    if reader.format in (".tar", ".zip"):
        assert isinstance(region, FileRegion)
        assert os.pread(region.fd, region.count, region.offset) == PAYLOAD[100:1100]
    else:
        assert region is None
    if reader.format == ".zip":
        assert reader.region(reader.find("a/0001.cls")) is None  # odd size: deflated


@pytest.mark.parametrize(
    ("pattern", "mode", "expected"),
    [
        (r"\.jpg$", "regexp", ["a/0001.jpg", "a/00010.jpg", "a/0002.jpg", "b.d/0001.jpg"]),
        ("0001", "", ["a/0001.jpg", "a/0001.cls", "a/0001.seg.png", "a/00010.jpg", "b.d/0001.jpg"]),
        ("a/0001", "prefix", ["a/0001.jpg", "a/0001.cls", "a/0001.seg.png", "a/00010.jpg"]),
        (".png", "suffix", ["a/0001.seg.png"]),
        ("seg", "substr", ["a/0001.seg.png"]),
        ("a/0001", "wdskey", ["a/0001.jpg", "a/0001.cls", "a/0001.seg.png"]),
        ("b.d/0001", "WDSKEY", ["b.d/0001.jpg"]),
        ("nothing", "prefix", []),
    ],
)
def test_match_modes(shard: OpenShard, pattern: str, mode: str, expected: list[str]) -> None:
    assert [m.name for m in _reader(shard).match(pattern, mode)] == expected


def test_match_errors(shard: OpenShard) -> None:
    reader = _reader(shard)
    with pytest.raises(InvalidRequest, match="regular expression"):
        reader.match("a[", "regexp")
    with pytest.raises(InvalidRequest, match="mode"):
        reader.match("a", "glob")
    with pytest.raises(InvalidRequest):
        reader.match("a" * 5000, "prefix")


def test_wds_key() -> None:
    assert wds_key("dir.v2/sample.seg.png") == "dir.v2/sample"
    assert wds_key("noext") == "noext"
    assert wds_key(".hidden") == ""


def test_missing_member_is_not_found(shard: OpenShard) -> None:
    reader = _reader(shard)
    with pytest.raises(NotFound, match=r"a/9999\.jpg"):
        reader.find("a/9999.jpg")
    assert b"".join(reader.read(reader.find("a/0002.jpg"))) == b"jpg-2"  # reader still usable after


def test_compressed_reader_reads_in_order_in_one_pass(tmp_path: Path) -> None:
    """GetBatch reads several members of one shard in archive order: no restart from the beginning."""
    path = stdlib_shard(tmp_path / "s.tgz", ".tgz", [(f"m{i}", os.urandom(50_000)) for i in range(40)])
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".tgz")
        source = reader._impl._source  # type: ignore[attr-defined]
        restarts = 0
        original = source.restart

        def counting_restart() -> None:
            nonlocal restarts
            restarts += 1
            original()

        source.restart = counting_restart
        for i in range(0, 40, 3):
            member = reader.find(f"m{i}")
            assert len(b"".join(reader.read(member))) == 50_000
        assert restarts == 0
        reader.find("m0")  # already passed: known without walking
        assert restarts == 0
        b"".join(reader.read(reader.find("m1")))  # behind the cursor: one restart
        assert restarts == 1


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_garbage_is_invalid_request(fmt: str, tmp_path: Path) -> None:
    for garbage in (
        os.urandom(3000),
        b"\0" * 10,
        b"",
        b"PK\x03\x04" + os.urandom(100),
        b"\x1f\x8b" + b"x" * 600,
    ):
        path = tmp_path / f"bad{fmt}"
        path.write_bytes(garbage)
        with OpenShard(path) as shard:
            reader = ArchiveReader(shard.fd, shard.size, fmt)
            try:
                members = list(reader.members())
            except InvalidRequest:
                continue
            assert members == []  # all-zero / empty input may read as an empty archive, never crash


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_truncated_shards_are_invalid_request(fmt: str, tmp_path: Path) -> None:
    data = write_archive(fmt, [("first", os.urandom(3000)), ("second", os.urandom(200_000))])
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1500, 700, 100):
        path = tmp_path / f"cut{fmt}"
        path.write_bytes(data[:cut])
        with OpenShard(path) as shard, pytest.raises(InvalidRequest):
            reader = ArchiveReader(shard.fd, shard.size, fmt)
            for member in reader.members():
                for _ in reader.read(member):
                    pass


def test_corrupted_member_data_is_invalid_request(tmp_path: Path) -> None:
    # flip bytes inside a deflated zip member: CRC or inflate error, not a crash
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("m", os.urandom(10_000))
    data = bytearray(buffer.getvalue())
    data[100:110] = b"\xff" * 10
    path = tmp_path / "bad.zip"
    path.write_bytes(bytes(data))
    with OpenShard(path) as shard, pytest.raises(InvalidRequest):
        reader = ArchiveReader(shard.fd, shard.size, ".zip")
        b"".join(reader.read(reader.find("m")))
    # a gzip stream with a broken body
    raw = bytearray(gzip.compress(write_archive(".tar", [("m", os.urandom(10_000))])))
    raw[len(raw) // 2 : len(raw) // 2 + 20] = b"\0" * 20
    path = tmp_path / "bad.tgz"
    path.write_bytes(bytes(raw))
    with OpenShard(path) as shard, pytest.raises(InvalidRequest):
        reader = ArchiveReader(shard.fd, shard.size, ".tgz")
        for member in reader.members():
            b"".join(reader.read(member))


def test_bad_tar_header_checksum_and_numbers(tmp_path: Path) -> None:
    data = bytearray(write_archive(".tar", [("m", b"abc")]))
    data[148:156] = b"0000000\0"  # checksum
    path = tmp_path / "bad.tar"
    path.write_bytes(bytes(data))
    with OpenShard(path) as shard, pytest.raises(InvalidRequest, match="checksum"):
        list(ArchiveReader(shard.fd, shard.size, ".tar").members())


def test_multi_member_gzip_is_one_stream(tmp_path: Path) -> None:
    tar = write_archive(".tar", [("a", b"1"), ("b", b"2")])
    path = tmp_path / "multi.tgz"
    path.write_bytes(gzip.compress(tar[:1024]) + gzip.compress(tar[1024:]) + b"\0" * 100)
    with OpenShard(path) as shard:
        reader = ArchiveReader(shard.fd, shard.size, ".tgz")
        assert [(m.name, b"".join(reader.read(m))) for m in reader.members()] == [("a", b"1"), ("b", b"2")]


def test_tar_names_from_gnu_long_names_pax_and_ustar_prefix(tmp_path: Path) -> None:
    long_name = "gnu/" + "n" * 300
    pieces = []
    for name, tar_format, pax in (
        (long_name, tarfile.GNU_FORMAT, {}),
        ("p/" * 70 + "x", tarfile.USTAR_FORMAT, {}),
        ("short-in-ustar", tarfile.PAX_FORMAT, {"path": "pax/wins/ü", "mtime": "1700000000.75"}),
    ):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
            info = tarfile.TarInfo(name)
            info.pax_headers = pax
            info.size = 2
            archive.addfile(info, io.BytesIO(b"ok"))
            end = archive.offset  # before the end-of-archive blocks: the pieces concatenate
        pieces.append(buffer.getvalue()[:end])
    path = tmp_path / "dialects.tar"
    path.write_bytes(b"".join(pieces) + bytes(1024))
    with OpenShard(path) as shard:
        members = list(ArchiveReader(shard.fd, shard.size, ".tar").members())
    assert [m.name for m in members] == [long_name, "p/" * 70 + "x", "pax/wins/ü"]
    assert members[2].mtime == MTIME


def _peak_while(action: object) -> int:
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_large_member_reads_and_writes_with_bounded_memory(fmt: str, tmp_path: Path) -> None:
    size = 50 << 20
    block = (bytes(range(251)) * 4200)[: 1 << 20]  # compresses a bit, varies across the block
    body = tmp_path / "body"
    with open(body, "wb") as out:
        for _ in range(size >> 20):
            out.write(block)
    path = tmp_path / f"big{fmt}"
    fd = os.open(body, os.O_RDONLY)
    try:
        with open(path, "wb") as out:

            def write() -> None:
                writer = new_writer(fmt, zip_level=1)  # deflated ZIP: the inflate path is the one at risk
                for item in writer.add("big.bin", size, FileRegion(fd, 0, size), MTIME):
                    if isinstance(item, FileRegion):  # what the HTTP layer would sendfile
                        out.flush()
                        os.sendfile(out.fileno(), item.fd, item.offset, item.count)
                        out.seek(0, os.SEEK_END)
                    else:
                        out.write(item)
                for item in writer.finish():
                    out.write(item)

            write_peak = _peak_while(write)
    finally:
        os.close(fd)
    with OpenShard(path) as shard:
        total = 0

        def read() -> None:
            nonlocal total
            reader = ArchiveReader(shard.fd, shard.size, fmt)
            for chunk in reader.read(reader.find("big.bin"), 1000):
                total += len(chunk)
            reader.close()

        read_peak = _peak_while(read)
    assert total == size - 1000
    # one 1 MiB chunk (TAR's FileRegion here is read by the test, outside the writer) plus codec state
    assert write_peak < 6 << 20, write_peak
    assert read_peak < 6 << 20, read_peak


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_mutated_shards_fail_cleanly(fmt: str, tmp_path: Path) -> None:
    """Random byte damage anywhere: the reader answers data or a StrataError, never another exception."""
    rng = random.Random(fmt)
    original = write_archive(fmt, [(f"d/m{i}.bin", rng.randbytes(rng.randint(0, 3000))) for i in range(8)])
    path = tmp_path / f"mutated{fmt}"
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data[: rng.choice((len(data), rng.randrange(len(data))))]))
        with OpenShard(path) as shard:
            reader = ArchiveReader(shard.fd, shard.size, fmt)
            try:
                for member in reader.match(".", "regexp"):
                    for _ in reader.read(member, 0, -1):
                        pass
                reader.find("d/m3.bin")
            except StrataError:
                pass
            finally:
                reader.close()
