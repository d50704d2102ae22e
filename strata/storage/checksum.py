"""Checksums computed while bytes stream through (PUT, append, multipart), and on demand.

Values are lowercase hex of the digest as AIStore writes them; ``xxhash`` and ``xxhash2`` are both
XXH64 with seed 0 (AIStore's two Go implementations of the same function), so values match an
AIStore cluster's for the same content.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import crc32c
import xxhash

from strata.core.errors import InvalidRequest

CHECKSUM_TYPES = ("none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512")


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


class _NoHash:
    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


def new_hasher(checksum_type: str) -> Hasher:
    """A streaming hasher for one of AIStore's checksum types ("none" hashes nothing)."""
    if checksum_type in ("xxhash", "xxhash2"):
        return xxhash.xxh64()
    if checksum_type in ("md5", "sha256", "sha512"):
        return hashlib.new(checksum_type)
    if checksum_type == "crc32c":
        return crc32c.CRC32CHash()  # type: ignore[no-any-return]
    if checksum_type == "none":
        return _NoHash()
    raise InvalidRequest(
        f'invalid checksum type "{checksum_type}" (expected one of {", ".join(CHECKSUM_TYPES)})'
    )


def checksum_file(fd: int, checksum_type: str, chunk: int = 1 << 20) -> str:
    """Hash a whole open file from offset 0 without changing its position."""
    hasher = new_hasher(checksum_type)
    offset = 0
    while True:
        data = os.pread(fd, chunk, offset)
        if not data:
            return hasher.hexdigest()
        hasher.update(data)
        offset += len(data)
