"""The compressed stored form: round trips, the seekable format, range reads, bounded memory, bit rot."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import pyzstd

from strata.compress import FrameEncoder, SeekTable, StoredReader, encode, frame_size_for, stored_bound
from strata.compress.frames import MIB, read_at_fd
from strata.core.errors import ObjectCorrupted, RangeNotSatisfiable


def _reader(stored: bytes) -> StoredReader:
    return StoredReader(lambda offset, length: stored[offset : offset + length], len(stored))


def _log(size: int, seed: int = 7) -> bytes:
    """An nginx-style access log of about ``size`` bytes (the issue's benchmark shape)."""
    rng = random.Random(seed)
    paths = ["/", "/index.html", "/api/v1/objects", "/static/app.js", "/img/logo.png", "/login"]
    agents = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "python-requests/2.31", "Go-http-client/1.1"]
    lines = []
    total = 0
    while total < size:
        line = (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - "
            f"[12/Mar/2026:{rng.randrange(24):02}:{rng.randrange(60):02}:{rng.randrange(60):02} +0000] "
            f'"GET {rng.choice(paths)}?id={rng.randrange(10**6)} HTTP/1.1" '
            f"{rng.choice([200, 200, 304, 404])} "
            f'{rng.randrange(100000)} "-" "{rng.choice(agents)}"\n'
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 12345])
def test_round_trip_at_sizes_and_frame_edges(size: int) -> None:
    data = _log(size)
    stored, stats = encode(data, frame_size=MIB)
    assert stats.original_size == size and stats.stored_size == len(stored)
    assert stats.frames == -(-size // MIB)
    assert pyzstd.decompress(stored) == data  # any zstd decoder: frames, then the skippable seek table
    reader = _reader(stored)
    assert reader.original_size == size
    assert reader.read() == data
    assert reader.table.frames == stats.frames


def test_the_stored_form_is_the_zstd_seekable_format() -> None:
    """pyzstd's own seekable-format reader (an independent implementation) seeks in our stored bytes."""
    data = _log(3 * MIB)
    stored, _ = encode(data, frame_size=MIB)
    with pyzstd.SeekableZstdFile(io.BytesIO(stored)) as seekable:
        seekable.seek(2 * MIB - 10)
        assert seekable.read(20) == data[2 * MIB - 10 : 2 * MIB + 10]


def test_a_seekable_file_written_by_pyzstd_reads_here() -> None:
    data = _log(2 * MIB + 5)
    sink = io.BytesIO()
    with pyzstd.SeekableZstdFile(sink, "w", max_frame_content_size=MIB) as seekable:  # type: ignore[arg-type]
        seekable.write(data)
    stored = sink.getvalue()
    reader = _reader(stored)
    assert reader.table.frames == 3
    assert reader.read(MIB - 3, 6) == data[MIB - 3 : MIB + 3]


NO_ZSTD = "the zstd command is not installed (apt-get install zstd)"


@pytest.mark.skipif(shutil.which("zstd") is None, reason=NO_ZSTD)
def test_zstd_command_decodes_a_stored_file(tmp_path: Path) -> None:
    data = _log(5 * MIB + 1)
    stored, _ = encode(data)  # size 5 MiB: 4 MiB frames, two of them
    path = tmp_path / "object.zst"
    path.write_bytes(stored)
    result = subprocess.run(["zstd", "-d", "-c", str(path)], capture_output=True, check=True)
    assert result.stdout == data
    empty = tmp_path / "empty.zst"
    empty.write_bytes(encode(b"")[0])
    assert subprocess.run(["zstd", "-d", "-c", str(empty)], capture_output=True, check=True).stdout == b""


def test_frame_size_policy_follows_s4() -> None:
    assert frame_size_for(None) == 4 * MIB
    assert frame_size_for(0) == frame_size_for(MIB) == MIB
    assert frame_size_for(MIB + 1) == frame_size_for(100 * MIB) == 4 * MIB
    assert frame_size_for(100 * MIB + 1) == 16 * MIB
    with pytest.raises(ValueError):
        FrameEncoder(frame_size=100)
    with pytest.raises(ValueError):
        FrameEncoder(level=0)


@pytest.mark.parametrize("size", [MIB, 4 * MIB + 7])
def test_random_bytes_are_stored_raw_within_the_bound(size: int) -> None:
    data = os.urandom(size)
    stored, stats = encode(data)
    assert len(stored) <= stored_bound(size, frame_size_for(size))
    assert len(stored) <= size + size // 1000 + 64  # original + 0.1% + a small fixed header
    assert stats.incompressible_frames == stats.frames
    assert _reader(stored).read() == data


def test_empty_and_tiny_objects_cost_a_fixed_header() -> None:
    assert len(encode(b"")[0]) == stored_bound(0, MIB) == 17
    stored, _ = encode(b"x")
    assert len(stored) <= stored_bound(1, MIB)


def test_a_log_compresses_well() -> None:
    data = _log(8 * MIB)
    _, stats = encode(data)
    assert stats.ratio > 3.0, stats
    assert stats.incompressible_frames == 0


def test_range_reads_decode_only_the_frames_they_touch() -> None:
    data = _log(4 * MIB + 100)
    stored, _ = encode(data, frame_size=MIB)
    reader = _reader(stored)
    cases = [
        (0, 1, 1),
        (MIB - 1, 1, 1),  # last byte of frame 0
        (MIB, 1, 1),  # first byte of frame 1
        (MIB, MIB, 1),  # exactly frame 1
        (MIB - 1, 2, 2),  # straddles frames 0 and 1
        (MIB + 10, 4096, 1),
        (4 * MIB, 100, 1),  # the short last frame
        (0, len(data), 5),
        (123, 0, 0),
    ]
    for offset, length, frames in cases:
        before = reader.frames_decoded
        assert reader.read(offset, length) == data[offset : offset + length], (offset, length)
        assert reader.frames_decoded - before == frames, (offset, length)
    with pytest.raises(RangeNotSatisfiable):
        reader.read(len(data) - 1, 2)


def test_reader_over_a_file_descriptor(tmp_path: Path) -> None:
    data = _log(2 * MIB)
    path = tmp_path / "object"
    path.write_bytes(encode(data, frame_size=MIB)[0])
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = StoredReader(read_at_fd(fd), os.fstat(fd).st_size)
        assert reader.read(MIB - 5, 10) == data[MIB - 5 : MIB + 5]
        assert reader.frames_decoded == 2
    finally:
        os.close(fd)


def test_streaming_encoder_holds_at_most_one_frame() -> None:
    """64 MiB fed in 64 KiB pieces: stored frames come out as they fill; never more than a frame held."""
    piece = _log(64 * 1024)
    encoder = FrameEncoder(size_hint=None)  # unknown length: 4 MiB frames
    decoder = pyzstd.ZstdDecompressor()
    out_frames = 0
    for _ in range(1024):
        for frame in encoder.write(piece):
            out_frames += 1
            assert pyzstd.decompress(frame)[:64] == piece[:64]
        assert encoder.buffered < encoder.frame_size
    tail = encoder.finish()
    assert out_frames == 16 and encoder.stats.frames == 16
    assert encoder.stats.peak_buffered <= encoder.frame_size
    assert encoder.stats.original_size == 64 * MIB
    assert decoder.decompress(tail) == b""  # the seek table alone: a skippable frame


def test_pieces_of_any_shape_give_the_same_stored_bytes() -> None:
    data = _log(3 * MIB + 17)
    whole, _ = encode(data, frame_size=MIB)
    rng = random.Random(1)
    encoder = FrameEncoder(frame_size=MIB)
    parts: list[bytes] = []
    offset = 0
    while offset < len(data):
        step = rng.choice([1, 1000, 65536, MIB - 1, MIB, 2 * MIB + 3])
        parts += encoder.write(data[offset : offset + step])
        offset += step
    assert b"".join(parts) + encoder.finish() == whole
    assert encoder.stats.peak_buffered <= MIB


def test_bit_rot_is_a_not_retryable_error() -> None:
    data = _log(2 * MIB)
    stored = bytearray(encode(data, frame_size=MIB)[0])
    frame_one = SeekTable.read(lambda o, n: bytes(stored[o : o + n]), len(stored)).stored_offsets[1]
    stored[frame_one + 500] ^= 0x40
    reader = _reader(bytes(stored))
    assert reader.read(0, 10) == data[:10]  # frame 0 is intact
    with pytest.raises(ObjectCorrupted) as caught:
        reader.read(MIB, 10)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    "damage",
    [
        lambda stored: stored[:-1],  # truncated footer
        lambda stored: stored[:-4] + b"\0\0\0\0",  # no seekable magic
        lambda stored: stored[:100] + stored[101:],  # a byte lost inside a frame: sizes do not add up
        lambda stored: b"plain bytes, never compressed" * 3,
    ],
)
def test_damaged_or_foreign_files_are_refused(damage: object) -> None:
    stored = encode(_log(MIB + 1), frame_size=MIB)[0]
    damaged = damage(stored)  # type: ignore[operator]
    with pytest.raises(ObjectCorrupted):
        _reader(damaged).read()
