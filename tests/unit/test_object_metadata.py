"""Object metadata lives in one xattr: compact, round-trips exactly, refuses what cannot fit."""

from __future__ import annotations

import os

import pytest

from strata.core.errors import InvalidRequest
from strata.storage.checksum import checksum_file, new_hasher
from strata.storage.metadata import (
    MAX_ENCODED,
    ObjectMetadata,
    decode_metadata,
    encode_metadata,
    read_metadata,
    write_metadata,
)


def test_round_trip_all_fields() -> None:
    md = ObjectMetadata(
        size=12,
        checksum_type="md5",
        checksum_value="ab" * 16,
        version="7",
        mtime_ns=1,
        atime_ns=2,
        custom={"k": "v", "ü": "ß"},
        etag="e",
    )
    assert decode_metadata(encode_metadata(md)) == md


def test_defaults_are_omitted_to_stay_small() -> None:
    small = encode_metadata(ObjectMetadata(size=4096))
    assert len(small) < 24


def test_oversized_custom_metadata_is_a_client_error() -> None:
    md = ObjectMetadata(size=1, custom={f"k{i}": "v" * 100 for i in range(60)})
    with pytest.raises(InvalidRequest):
        encode_metadata(md)
    assert MAX_ENCODED < 4096


def test_xattr_on_file(tmp_path: object) -> None:
    path = f"{tmp_path}/obj"
    with open(path, "wb") as f:
        f.write(b"data")
    assert read_metadata(path) is None
    md = ObjectMetadata(size=4, checksum_type="xxhash2", checksum_value="x", version="1")
    write_metadata(path, md)
    assert read_metadata(path) == md
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_metadata(fd) == md
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("md5", "5d41402abc4b2a76b9719d911017c592"),
        ("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
        ("xxhash2", "26c7827d889f6da3"),
        ("xxhash", "26c7827d889f6da3"),
        ("crc32c", "9a71bb4c"),
        ("none", ""),
    ],
)
def test_checksums_of_hello(kind: str, expected: str, tmp_path: object) -> None:
    hasher = new_hasher(kind)
    hasher.update(b"hello")
    assert hasher.hexdigest() == expected
    path = f"{tmp_path}/f"
    with open(path, "wb") as f:
        f.write(b"hello")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert checksum_file(fd, kind) == expected
    finally:
        os.close(fd)


def test_unknown_checksum_type() -> None:
    with pytest.raises(InvalidRequest):
        new_hasher("crc64")
