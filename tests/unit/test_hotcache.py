"""The hot cache never serves a response for anything but the exact object version it came from."""

from __future__ import annotations

import os

from strata.objects.hotcache import HotCache
from strata.storage.metadata import XATTR_NAME, ObjectMetadata, read_metadata_raw, write_metadata
from strata.storage.xattrs import read_xattr


def _record(path: str, expected_size: int = 0) -> bytes:
    try:
        return read_xattr(path, XATTR_NAME, expected_size)  # the POSIX store's probe
    except OSError:
        return b""


def _write(path: str, data: bytes, mtime_ns: int, custom: dict[str, str] | None = None) -> bytes:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    write_metadata(tmp, ObjectMetadata(size=len(data), mtime_ns=mtime_ns, custom=custom or {}))
    os.replace(tmp, path)
    found = read_metadata_raw(path)
    assert found is not None
    return found[1]


def test_hit_miss_and_invalidation(tmp_path: object) -> None:
    path = f"{tmp_path}/obj"
    cache = HotCache(current_record=_record, max_bytes=1 << 20, max_object=1 << 16)
    raw = _write(path, b"v1", 1)
    assert cache.get(path) is None
    cache.put(path, raw, b"response-v1")
    assert cache.get(path) == b"response-v1"
    _write(path, b"v2", 2)  # overwrite: a new metadata record
    assert cache.get(path) is None and cache.get(path) is None
    raw = _write(path, b"v3", 3)
    cache.put(path, raw, b"response-v3")
    os.unlink(path)
    assert cache.get(path) is None
    _write(path, b"v3", 4)  # recreated with the same bytes, even onto a reused inode
    assert cache.get(path) is None


def test_metadata_change_invalidates(tmp_path: object) -> None:
    path = f"{tmp_path}/obj"
    cache = HotCache(current_record=_record, max_bytes=1 << 20, max_object=1 << 16)
    raw = _write(path, b"v1", 1)
    cache.put(path, raw, b"r")
    write_metadata(path, ObjectMetadata(size=2, mtime_ns=1, custom={"k": "v"}))
    assert cache.get(path) is None


def test_bounded_memory_lru(tmp_path: object) -> None:
    cache = HotCache(current_record=_record, max_bytes=100, max_object=60)
    for i in range(5):
        path = f"{tmp_path}/o{i}"
        cache.put(path, _write(path, b"x", i + 1), b"r" * 40)
    assert cache.size <= 100 and len(cache.entries) == 2
    assert cache.get(f"{tmp_path}/o4") is not None and cache.get(f"{tmp_path}/o0") is None
    cache.put(f"{tmp_path}/big", b"", b"r" * 61)
    assert f"{tmp_path}/big" not in cache.entries


def test_large_records_are_probed_in_one_call_and_still_exact(tmp_path: object) -> None:
    """A record with user metadata can be larger than os.getxattr's first try: the probe reads it with
    the size it expects, and a record that changed -- same size, or grown -- is still a miss."""
    cache = HotCache(current_record=_record, max_bytes=1 << 20, max_object=1 << 16)
    path = os.path.join(str(tmp_path), "tagged-obj")
    facts = {"team": "vision", "label": "e" * 32, "origin": "e" * 32, "taken": "2026-12-01T00:00:00Z"}
    record = _write(path, b"x" * 100, 1, facts)
    assert len(record) > 128
    cache.put(path, record, b"response")
    assert cache.get(path) == b"response"
    _write(path, b"x" * 100, 1, {**facts, "label": "f" * 32})  # same size, other bytes
    assert cache.get(path) is None
    record = _write(path, b"x" * 100, 1, facts)
    cache.put(path, record, b"response")
    _write(path, b"x" * 100, 1, {**facts, "grown": "y" * 500})  # larger than the probe expects
    assert cache.get(path) is None


def test_a_cached_remote_objects_record_is_as_small_as_a_local_ones(tmp_path: object) -> None:
    """The backend's facts (ETag, MD5, dates) are kept apart: the record every hit probes stays within
    one ``os.getxattr`` call, and a change of the object is still a miss."""
    cache = HotCache(current_record=_record, max_bytes=1 << 20, max_object=1 << 16)
    path = os.path.join(str(tmp_path), "remote-obj")
    facts = {
        "source": "aws", "ETag": "e" * 32, "md5": "e" * 32,
        "LastModified": "2026-12-01T00:00:00Z", "Last-Modified": "Tue, 01 Dec 2026 00:00:00 GMT",
    }  # fmt: skip
    record = _write(path, b"x" * 100, 1, facts)
    assert len(record) <= 128
    cache.put(path, record, b"response")
    assert cache.get(path) == b"response"
    _write(path, b"x" * 100, 2, facts)  # rewritten: a new stamp
    assert cache.get(path) is None
