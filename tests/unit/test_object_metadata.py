"""Object metadata lives in xattrs: compact, round-trips exactly, refuses what cannot fit, and keeps a
backend's facts about a cached object apart from the record every read probes."""

from __future__ import annotations

import os

import pytest

from strata.core.errors import InvalidRequest
from strata.storage.checksum import checksum_file, new_hasher
from strata.storage.metadata import (
    FACTS_XATTR,
    MAX_ENCODED,
    XATTR_NAME,
    ObjectMetadata,
    decode_metadata,
    encode_metadata,
    read_metadata,
    read_metadata_raw,
    split_record,
    write_metadata,
)
from strata.storage.objects import OpenObject


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


FACTS = {"source": "aws", "ETag": "0" * 32, "md5": "0" * 32, "Last-Modified": "Tue, 01 Dec 2026 00:00:00 GMT"}


def _object_file(tmp_path: object, name: str = "obj") -> str:
    path = f"{tmp_path}/{name}"
    with open(path, "wb") as f:
        f.write(b"data")
    return path


def test_backend_facts_are_kept_apart_and_read_back_whole(tmp_path: object) -> None:
    path = _object_file(tmp_path)
    md = ObjectMetadata(size=4, checksum_type="xxhash2", checksum_value="x" * 16, version="1",
                        mtime_ns=1 << 60, custom={"team": "vision", **FACTS}, etag="0" * 32)  # fmt: skip
    write_metadata(path, md)
    main = os.getxattr(path, XATTR_NAME)
    assert len(main) <= 128  # os.getxattr's first buffer: one call per probe
    assert decode_metadata(main).custom == {"team": "vision"}  # user metadata stays in the main record
    assert os.getxattr(path, FACTS_XATTR)
    found = read_metadata_raw(path)
    assert found is not None and found[1] == main
    whole = found[0]
    assert whole.custom == {"team": "vision", **FACTS}
    assert (whole.size, whole.version, whole.etag, whole.mtime_ns) == (4, "1", "0" * 32, 1 << 60)
    # what another node is sent is the whole record, in one value
    opened = OpenObject(os.open(path, os.O_RDONLY), 4, whole, path, main)
    try:
        assert decode_metadata(opened.whole_record()).custom == whole.custom
    finally:
        opened.close()


def test_an_object_without_facts_has_one_record(tmp_path: object) -> None:
    path = _object_file(tmp_path)
    md = ObjectMetadata(size=4, custom={"k": "v"})
    write_metadata(path, md)
    assert os.getxattr(path, XATTR_NAME) == encode_metadata(md)
    with pytest.raises(OSError):
        os.getxattr(path, FACTS_XATTR)
    opened = OpenObject(os.open(path, os.O_RDONLY), 4, md, path, os.getxattr(path, XATTR_NAME))
    try:
        assert opened.whole_record() == opened.raw_metadata == encode_metadata(md)
    finally:
        opened.close()


def test_rewriting_metadata_without_facts_drops_the_old_ones(tmp_path: object) -> None:
    path = _object_file(tmp_path)
    write_metadata(path, ObjectMetadata(size=4, custom=dict(FACTS)))
    before = read_metadata(path)
    assert before is not None and before.facts_apart
    write_metadata(path, ObjectMetadata(size=4, custom={"k": "v"}), replaced=before)
    assert read_metadata(path) == ObjectMetadata(size=4, custom={"k": "v"})
    with pytest.raises(OSError):
        os.getxattr(path, FACTS_XATTR)
    # a record received from another node (facts inside, flag set) is split again when written
    carried = decode_metadata(encode_metadata(ObjectMetadata(size=4, custom=dict(FACTS), facts_apart=True)))
    write_metadata(path, carried, replaced=read_metadata(path))
    found = read_metadata(path)
    assert found is not None and found.custom == FACTS


def test_lost_facts_leave_the_object_readable(tmp_path: object) -> None:
    path = _object_file(tmp_path)
    write_metadata(path, ObjectMetadata(size=4, custom={"k": "v", **FACTS}))
    os.setxattr(path, FACTS_XATTR, b"\xc1not msgpack")
    found = read_metadata(path)
    assert found is not None and found.size == 4 and found.custom == {"k": "v"}
    os.removexattr(path, FACTS_XATTR)
    found = read_metadata(path)
    assert found is not None and found.custom == {"k": "v"}


def test_facts_count_toward_the_size_limit() -> None:
    md = ObjectMetadata(size=1, custom={"ETag": "e" * 2000, "md5": "m" * 2000})
    with pytest.raises(InvalidRequest):
        split_record(md)
