"""Shared pieces of the compression tests (no tests here): data, bucket props, the stored file on disk.

The tests judge the server by what a client sees and by what lies on disk, checked independently of
the server's code where that is cheap: the zstd seekable format's footer is parsed here from its spec
(zstd ``contrib/seekable_format``), ``/usr/bin/zstd -d`` decodes a stored file, checksums come from
``hashlib``/``xxhash``. Only the metadata record (an xattr) is read with the project's own decoder.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import shutil
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import xxhash
from aistore.sdk.bucket import Bucket
from botocore.config import Config

from strata.storage.fsnames import encode_object_name
from strata.storage.metadata import ObjectMetadata, read_metadata

KIB = 1 << 10
MIB = 1 << 20
MIN_SIZE = 4 * KIB  # the default compression.min_size: smaller objects are stored as they are
SEEKABLE_MAGIC = 0x8F92EAB1
SKIPPABLE_MAGIC = 0x184D2A5E
ZSTD_BINARY = "/usr/bin/zstd"

# the sizes every client family round-trips: empty, one byte, the min_size edge, the auto frame edges
EDGE_SIZES = [0, 1, MIN_SIZE - 1, MIN_SIZE, MIB - 1, MIB, MIB + 1, 4 * MIB - 1, 4 * MIB + 1]
BIG = 100 * MIB


@functools.cache
def _log_block() -> bytes:
    """About 1 MB of nginx-like access-log lines: compresses roughly 6-8x, like real logs.

    Its length is not a power of two, so the bytes at every frame edge differ from those at the next
    edge (a range served from the wrong frame cannot match by accident).
    """
    rng = random.Random(20261)
    lines = []
    for _ in range(11_000):
        lines.append(
            f'10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - '
            f'[10/Oct/2026:{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d} +0000] '
            f'"GET /images/{rng.randrange(10**7)}.jpg HTTP/1.1" {rng.choice((200, 200, 304, 404))} '
            f'{rng.randrange(10**6)} "-" "Mozilla/5.0 ({rng.choice(("X11", "Mac", "Windows"))})"\n'
        )
    return "".join(lines).encode()


def compressible(size: int, shift: int = 0) -> bytes:
    """``size`` bytes of log text (cheap for any size: the block is tiled); ``shift`` varies content."""
    block = _log_block()
    start = shift % len(block)
    reps = (start + size) // len(block) + 1
    return (block * reps)[start : start + size]


def randbytes(size: int, seed: int) -> bytes:
    """Incompressible bytes, reproducible from the seed."""
    return random.Random(seed).randbytes(size)


def xxh64(data: bytes) -> str:
    """AIStore's ``xxhash2`` checksum (XXH64, seed 0), the default checksum of a bucket."""
    return xxhash.xxh64(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# -- bucket props ---------------------------------------------------------------------------------


def set_props(bck: Bucket, value: dict[str, Any]) -> None:
    """The SDK 2.0.0 has no set-props method: its generic bucket call with the AIS action."""
    bck.make_request("PATCH", "set-bprops", value=value)


def compressing(bck: Bucket, **settings: Any) -> Bucket:
    """Turn compression on for ``bck`` (``settings`` override codec, level, frame_size, min_size)."""
    set_props(bck, {"compression": {"enabled": True, **settings}})
    return bck


def expected_frame_size(size: int, configured: int | None = None) -> int:
    """The frame size issue 10 prescribes: configured, else 1 MiB up to 1 MiB, 4 up to 100, 16 above."""
    if configured:
        return configured
    if size <= MIB:
        return MIB
    return 4 * MIB if size <= 100 * MIB else 16 * MIB


def frames_for(size: int, frame_size: int) -> int:
    return -(-size // frame_size)


# -- the stored file ------------------------------------------------------------------------------


def stored_paths(root: Path, bucket: str, name: str) -> list[Path]:
    """Every file that stores ``bucket/name`` below ``root`` (a node's data dir, or a cluster's)."""
    leaf = encode_object_name(name)
    return [p for p in root.glob(f"**/@ais/{bucket}/%ob/{leaf}") if p.is_file()]


def stored_path(root: Path, bucket: str, name: str) -> Path:
    paths = stored_paths(root, bucket, name)
    assert len(paths) == 1, f"{bucket}/{name}: expected one stored file under {root}, found {paths}"
    return paths[0]


def stored_metadata(path: Path) -> ObjectMetadata:
    md = read_metadata(str(path))
    assert md is not None, f"{path} carries no object metadata"
    return md


def seek_table_frames(stored: bytes) -> int:
    """The number of data frames a zstd seekable file declares (its footer and skippable header).

    Format: ... | skippable frame [magic 0x184D2A5E, size] entries... [frames u32, descriptor u8,
    magic 0x8F92EAB1]. Checked here independently of the server's parser.
    """
    assert len(stored) >= 17, f"{len(stored)} B cannot hold a seek table"
    frames, descriptor, magic = struct.unpack("<IBI", stored[-9:])
    assert magic == SEEKABLE_MAGIC, f"no seekable magic at the end (found {magic:#x})"
    entry = 12 if descriptor & 0x80 else 8
    table = 8 + frames * entry + 9
    skippable, length = struct.unpack("<II", stored[-table : -table + 8])
    assert skippable == SKIPPABLE_MAGIC and length == table - 8, "seek table's skippable header is wrong"
    return frames


def seek_table_entries(stored: bytes) -> list[tuple[int, int]]:
    """``(stored bytes, original bytes)`` of every data frame, in order, from the seek table."""
    frames = seek_table_frames(stored)
    entry = 12 if stored[-5] & 0x80 else 8
    start = len(stored) - 9 - frames * entry
    return [
        (int.from_bytes(stored[at : at + 4], "little"), int.from_bytes(stored[at + 4 : at + 8], "little"))
        for at in range(start, start + frames * entry, entry)
    ]


def flip_bytes(path: Path, offset: int, count: int = 4) -> None:
    """Invert ``count`` bytes of a file in place at ``offset`` (bit rot), keeping its size and xattr."""
    with path.open("r+b") as f:
        f.seek(offset)
        old = f.read(count)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in old))


def frame_middle(path: Path, index: int) -> int:
    """The stored offset of the middle of data frame ``index`` of a zstd seekable file."""
    entries = seek_table_entries(path.read_bytes())
    start = sum(stored for stored, _ in entries[:index])
    return start + entries[index][0] // 2


def zstd_decode(path: Path) -> bytes:
    """``zstd -d`` of a stored file, by the stock command (skips the test when it is absent)."""
    if not os.access(ZSTD_BINARY, os.X_OK) and shutil.which("zstd") is None:
        pytest.skip("the zstd command is not installed")
    binary = ZSTD_BINARY if os.access(ZSTD_BINARY, os.X_OK) else str(shutil.which("zstd"))
    command = [binary, "-d", "-c", "-q", str(path)]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, f"zstd -d {path}: {done.stderr.decode(errors='replace')}"
    return done.stdout


def assert_stored_compressed(path: Path, data: bytes, frame_size: int | None = None) -> ObjectMetadata:
    """The file is the zstd seekable form of ``data``: smaller, the expected frames, ``zstd -d`` gives
    ``data`` back, and its metadata says codec zstd with the file's size and the original's."""
    stored = path.read_bytes()
    md = stored_metadata(path)
    assert md.codec == "zstd", f"{path}: codec {md.codec!r}, expected zstd"
    assert md.size == len(data) and md.stored_size == len(stored) == path.stat().st_size
    assert len(stored) < len(data), f"{path}: stored {len(stored)} B is not smaller than {len(data)} B"
    if frame_size is not None:
        assert seek_table_frames(stored) == frames_for(len(data), frame_size), path
    assert zstd_decode(path) == data, f"zstd -d {path} does not give the original bytes back"
    return md


def assert_stored_plain(path: Path, data: bytes) -> ObjectMetadata:
    """The file holds ``data`` as it is, and its metadata says so."""
    md = stored_metadata(path)
    assert md.codec == "", f"{path}: codec {md.codec!r}, expected the bytes as they are"
    assert md.size == len(data)
    assert path.stat().st_size == len(data) and path.read_bytes() == data, f"{path} is not the original"
    return md


# -- metrics --------------------------------------------------------------------------------------


def counters(endpoint: str) -> dict[str, int]:
    """Every ``ais_target_*`` counter of a node's ``/metrics`` (summed over its workers)."""
    text = requests.get(f"{endpoint}/metrics", timeout=10).text
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("ais_target_") and "{" in line:
            name = line[len("ais_target_") : line.index("{")]
            out[name] = out.get(name, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


class Delta:
    """Counter changes between entering a ``deltas`` block and reading ``[name]`` after it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.before = counters(endpoint)
        self.after: dict[str, int] | None = None

    def __getitem__(self, name: str) -> int:
        if self.after is None:
            self.after = counters(self.endpoint)
        return self.after.get(name, 0) - self.before.get(name, 0)


@contextmanager
def deltas(endpoint: str) -> Iterator[Delta]:
    """``with deltas(ep) as d: ...`` then ``d["frames_decoded_count"]`` (read once, after the block)."""
    delta = Delta(endpoint)
    yield delta
    delta.after = counters(endpoint)


# -- S3 clients -----------------------------------------------------------------------------------


def s3_client(endpoint: str) -> Any:
    """boto3 on ``/s3`` with path addressing and no retries (a server without S3 users: any keys)."""
    return boto3.client(
        "s3",
        endpoint_url=f"{endpoint}/s3",
        aws_access_key_id="compression-tests",
        aws_secret_access_key="compression-tests",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
