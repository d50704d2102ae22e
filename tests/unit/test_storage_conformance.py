"""Both object stores behave alike: every test here runs over the POSIX ``ObjectStore`` and ``MemoryStore``.

The object service and the fronts are tested over the in-memory twin because it is fast; that is worth
something only while the twin does what the real store does. Each test states one part of the
``ObjectStorage`` contract (``strata/storage/interface.py``) and must hold for both. A fixture checks
that no test leaves an object descriptor (a file under ``%ob``/``%wk`` or a memfd) open.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash

from strata.core.errors import InvalidName, InvalidRequest, ObjectNotFound
from strata.core.names import BucketRef
from strata.storage.interface import ObjectStorage
from strata.storage.memory import MemoryStore
from strata.storage.metadata import ObjectMetadata, encode_metadata
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

BCK = BucketRef.parse("conformance", "ais")
OTHER = BucketRef.parse("other", "ais")


def _object_descriptors() -> set[str]:
    """Open descriptors of this process that hold object bytes (object or work files, memfds)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/memfd:") or "/%ob/" in target or "/%wk/" in target:
            found.add(f"{fd} -> {target}")
    return found


@pytest.fixture(params=["posix", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStorage]:
    before = _object_descriptors()
    if request.param == "posix":
        yield ObjectStore(Mountpaths([str(tmp_path / "mp")]))
    else:
        yield MemoryStore()
    leaked = _object_descriptors() - before
    assert not leaked, f"descriptors left open: {sorted(leaked)}"


def _put(
    store: ObjectStorage,
    name: str,
    data: bytes,
    *,
    versioning: bool = False,
    checksum_type: str = "xxhash",
    bck: BucketRef = BCK,
    custom: dict[str, str] | None = None,
) -> ObjectMetadata:
    writer = store.writer(bck, name, checksum_type)
    writer.write(data[: len(data) // 2])
    writer.write(memoryview(data)[len(data) // 2 :])
    return writer.commit(versioning=versioning, custom=custom)


def _read(store: ObjectStorage, name: str, bck: BucketRef = BCK) -> bytes:
    obj = store.open(bck, name)
    try:
        data = os.pread(obj.fd, obj.size + 1, 0)  # one byte more: nothing lies past the size
        assert len(data) == obj.size
        return data
    finally:
        obj.close()


def _names(store: ObjectStorage, prefix: str = "", bck: BucketRef = BCK) -> list[str]:
    return list(store.iter_names(bck, prefix))


def test_write_commit_open_read(store: ObjectStorage) -> None:
    data = os.urandom(200_000)
    md = _put(store, "dir/obj", data, custom={"k": "v"})
    assert md.size == len(data)
    assert md.checksum_type == "xxhash" and md.checksum_value == xxhash.xxh64_hexdigest(data)
    assert md.version == "" and md.custom == {"k": "v"} and md.mtime_ns > 0
    assert store.head(BCK, "dir/obj") == md
    location = store.location(BCK, "dir/obj")
    assert store.find(BCK, "dir/obj") == (location, md)
    obj = store.open(BCK, "dir/obj")
    try:
        assert obj.size == len(data) and obj.metadata == md
        assert obj.path == location
        assert obj.raw_metadata == store.current_record(location) == encode_metadata(md)
        assert os.read(obj.fd, 10) == data[:10]  # a fresh descriptor reads from offset 0
        assert os.pread(obj.fd, len(data), 0) == data
        # a real descriptor: the server may sendfile from it
        left, right = socket.socketpair()
        with left, right:
            sent = os.sendfile(left.fileno(), obj.fd, 1000, 4096)
            assert right.recv(8192) == data[1000 : 1000 + sent]
    finally:
        obj.close()
    assert _read(store, "dir/obj") == data


def test_empty_object(store: ObjectStorage) -> None:
    md = _put(store, "empty", b"")
    assert md.size == 0 and md.checksum_value == xxhash.xxh64_hexdigest(b"")
    assert _read(store, "empty") == b""


def test_open_reader_keeps_its_version(store: ObjectStorage) -> None:
    _put(store, "o", b"first version")
    obj = store.open(BCK, "o")
    try:
        _put(store, "o", b"second, longer version")
        store.delete(BCK, "o")
        assert os.pread(obj.fd, 100, 0) == b"first version"
    finally:
        obj.close()


def test_missing_object_is_not_found_everywhere(store: ObjectStorage) -> None:
    _put(store, "a/b", b"x")  # "a" is a prefix (a virtual directory), not an object
    for name in ("missing", "a"):
        with pytest.raises(ObjectNotFound):
            store.open(BCK, name)
        with pytest.raises(ObjectNotFound):
            store.find(BCK, name)
        with pytest.raises(ObjectNotFound):
            store.head(BCK, name)
        with pytest.raises(ObjectNotFound):
            store.delete(BCK, name)
        with pytest.raises(ObjectNotFound):
            store.update_metadata(BCK, name, lambda md: md)
        with pytest.raises(ObjectNotFound):
            store.copy(BCK, name, BCK, "dst", checksum_type="xxhash", versioning=False)
        with pytest.raises(ObjectNotFound):
            store.rename(BCK, name, "dst", versioning=False)
    with pytest.raises(ObjectNotFound):
        store.open(OTHER, "a/b")  # objects belong to their bucket


def test_object_and_its_prefix_coexist(store: ObjectStorage) -> None:
    """``a`` and ``a/b`` are two objects, on disk (``a`` and ``a%/b``) as in memory: no conflict."""
    _put(store, "a", b"leaf")
    _put(store, "a/b", b"below")
    _put(store, "dir/", b"marker")
    assert _read(store, "a") == b"leaf"
    assert _read(store, "a/b") == b"below"
    assert _read(store, "dir/") == b"marker"
    store.delete(BCK, "a")
    assert _read(store, "a/b") == b"below"


def test_invalid_names_and_checksum_types_are_refused(store: ObjectStorage) -> None:
    with pytest.raises(InvalidName):
        store.writer(BCK, "x" * 300, "xxhash")  # a segment longer than a file name may be
    with pytest.raises(InvalidName):
        store.location(BCK, "dir/" + "y" * 300)
    with pytest.raises(InvalidRequest):
        store.writer(BCK, "ok", "crc64")
    assert _names(store) == []


def test_overwrite_bumps_version_with_versioning(store: ObjectStorage) -> None:
    first = _put(store, "v", b"1", versioning=True)
    second = _put(store, "v", b"2", versioning=True)
    third = _put(store, "v", b"3", versioning=True)
    assert (first.version, second.version, third.version) == ("1", "2", "3")
    assert first.mtime_ns <= second.mtime_ns <= third.mtime_ns
    assert store.head(BCK, "v").version == "3" and _read(store, "v") == b"3"
    assert _put(store, "v", b"4", versioning=False).version == ""  # versioning off: no version
    assert _put(store, "v", b"5", versioning=True).version == "1"  # numbering restarts
    assert _put(store, "unversioned", b"x").version == ""


def test_concurrent_versioned_writers_lose_no_version(store: ObjectStorage) -> None:
    """Reading the previous version and publishing the next are one step, across threads."""
    versions: list[str] = []
    lock = threading.Lock()

    def writes() -> None:
        for _ in range(5):
            md = _put(store, "contended", b"x", versioning=True)
            with lock:
                versions.append(md.version)

    threads = [threading.Thread(target=writes) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions, key=int) == [str(n) for n in range(1, 41)]
    assert store.head(BCK, "contended").version == "40"


def test_abort_leaves_nothing(store: ObjectStorage, tmp_path: Path) -> None:
    writer = store.writer(BCK, "aborted", "xxhash")
    writer.write(b"partial")
    assert writer.size == 7
    writer.abort()
    writer.abort()  # idempotent
    with pytest.raises(ObjectNotFound):
        store.open(BCK, "aborted")
    assert _names(store) == []
    assert store.current_record(store.location(BCK, "aborted")) == b""
    # an aborted overwrite leaves the previous version as it was
    md = _put(store, "kept", b"old")
    writer = store.writer(BCK, "kept", "xxhash")
    writer.write(b"new bytes")
    assert _read(store, "kept") == b"old"  # nothing visible before the commit
    writer.abort()
    assert _read(store, "kept") == b"old" and store.head(BCK, "kept") == md
    # and no work file is left behind on disk
    assert not [p for p in tmp_path.rglob("%wk/*") if p.is_file()]


def test_expected_checksum_mismatch(store: ObjectStorage) -> None:
    previous = _put(store, "checked", b"previous")
    writer = store.writer(BCK, "checked", "xxhash")
    writer.write(b"payload")
    with pytest.raises(InvalidRequest, match="checksum mismatch"):
        writer.commit(versioning=False, expected_checksum=("xxhash", "0123456789abcdef"))
    writer.abort()  # allowed after a failed commit
    assert _read(store, "checked") == b"previous" and store.head(BCK, "checked") == previous
    # the right value, or a value of another checksum type (not checked), is accepted
    writer = store.writer(BCK, "checked", "xxhash")
    writer.write(b"payload")
    right = xxhash.xxh64_hexdigest(b"payload")
    assert writer.commit(versioning=False, expected_checksum=("xxhash", right)).checksum_value == right
    writer = store.writer(BCK, "other-type", "xxhash")
    writer.write(b"payload")
    writer.commit(versioning=False, expected_checksum=("md5", "not-checked"))
    assert _read(store, "other-type") == b"payload"


def test_extra_hasher_sees_every_byte(store: ObjectStorage) -> None:
    md5 = hashlib.md5()
    writer = store.writer(BCK, "hashed", "sha256", extra_hasher=md5)
    writer.write(b"abc")
    writer.write(bytearray(b"def"))
    md = writer.commit(versioning=False, etag="e")
    assert md5.hexdigest() == hashlib.md5(b"abcdef").hexdigest()
    assert md.checksum_type == "sha256" and md.checksum_value == hashlib.sha256(b"abcdef").hexdigest()
    assert md.etag == "e"


def test_carried_metadata(store: ObjectStorage) -> None:
    data = b"moved by a rebalance"
    carried = ObjectMetadata(
        size=len(data),
        checksum_type="xxhash",
        checksum_value=xxhash.xxh64_hexdigest(data),
        version="7",
        mtime_ns=123,
        atime_ns=456,
        custom={"origin": "t1"},
        etag="etag",
    )
    writer = store.writer(BCK, "moved", "xxhash")
    writer.write(data)
    assert writer.commit(versioning=True, carried=carried) == carried  # kept as it is
    assert store.head(BCK, "moved") == carried
    assert store.current_record(store.location(BCK, "moved")) == encode_metadata(carried)
    # bytes that do not match what they came with are refused, and nothing is published
    for wrong in (b"moved by a rebalancE", b"short"):
        writer = store.writer(BCK, "refused", "xxhash")
        writer.write(wrong)
        with pytest.raises(InvalidRequest, match="do not match"):
            writer.commit(versioning=False, carried=carried)
        with pytest.raises(ObjectNotFound):
            store.head(BCK, "refused")


def test_metadata_too_large_is_refused_and_nothing_published(store: ObjectStorage) -> None:
    with pytest.raises(InvalidRequest, match="too large"):
        _put(store, "big-md", b"x", custom={"k": "v" * 5000})
    with pytest.raises(ObjectNotFound):
        store.head(BCK, "big-md")
    _put(store, "small-md", b"x")
    with pytest.raises(InvalidRequest, match="too large"):
        store.update_metadata(BCK, "small-md", lambda md: ObjectMetadata(md.size, custom={"k": "v" * 5000}))
    assert store.head(BCK, "small-md").custom == {}


def test_delete(store: ObjectStorage) -> None:
    _put(store, "gone/obj", b"x")
    _put(store, "gone/kept", b"y")
    location = store.location(BCK, "gone/obj")
    store.delete(BCK, "gone/obj")
    with pytest.raises(ObjectNotFound):
        store.open(BCK, "gone/obj")
    with pytest.raises(ObjectNotFound):
        store.delete(BCK, "gone/obj")
    assert store.current_record(location) == b""
    assert _names(store) == ["gone/kept"]
    store.delete(BCK, "gone/kept")
    assert _names(store) == []
    _put(store, "gone/obj", b"again")  # the name can be written again
    assert _read(store, "gone/obj") == b"again"


def test_update_metadata(store: ObjectStorage) -> None:
    md = _put(store, "patched", b"bytes", versioning=True)
    location = store.location(BCK, "patched")
    record = store.current_record(location)

    def add_custom(old: ObjectMetadata) -> ObjectMetadata:
        assert old == md
        return ObjectMetadata(
            old.size, old.checksum_type, old.checksum_value, old.version, old.mtime_ns, old.atime_ns,
            {**old.custom, "label": "cat"}, old.etag,
        )  # fmt: skip

    new = store.update_metadata(BCK, "patched", add_custom)
    assert new.custom == {"label": "cat"} and new.version == md.version
    assert store.head(BCK, "patched") == new
    assert store.current_record(location) == encode_metadata(new) != record
    assert _read(store, "patched") == b"bytes"


def test_copy(store: ObjectStorage) -> None:
    source = _put(store, "src", b"copied bytes", custom={"k": "v"})
    _put(store, "dst", b"old", bck=OTHER, versioning=True)
    md = store.copy(BCK, "src", OTHER, "dst", checksum_type="xxhash", versioning=True)
    assert md.version == "2" and md.custom == {"k": "v"} and md.size == source.size
    assert md.checksum_value == source.checksum_value
    assert store.head(OTHER, "dst") == md
    assert _read(store, "dst", OTHER) == b"copied bytes"
    assert _read(store, "src") == b"copied bytes" and store.head(BCK, "src") == source
    # another checksum type at the destination: computed over the bytes
    md5 = store.copy(BCK, "src", BCK, "as-md5", checksum_type="md5", versioning=False)
    assert md5.checksum_type == "md5" and md5.checksum_value == hashlib.md5(b"copied bytes").hexdigest()


def test_rename(store: ObjectStorage) -> None:
    md = _put(store, "from", b"renamed", versioning=True, custom={"k": "v"})
    _put(store, "to", b"replaced")
    store.rename(BCK, "from", "to", versioning=True)
    assert store.head(BCK, "to") == md  # metadata as it was: version, times, custom
    assert _read(store, "to") == b"renamed"
    with pytest.raises(ObjectNotFound):
        store.head(BCK, "from")
    assert store.current_record(store.location(BCK, "from")) == b""
    store.rename(BCK, "to", "deep/er/name", versioning=True)
    assert _names(store) == ["deep/er/name"]


def test_iter_names_order_and_prefix(store: ObjectStorage) -> None:
    names = ["b", "a/c", "a", "a0", "a-c", "a/b", "a/b/c", "dir/", "x%y", "ü", "A"]
    for name in names:
        _put(store, name, name.encode())
    _put(store, "a/elsewhere", b"", bck=OTHER)
    assert _names(store) == sorted(names)
    assert _names(store) == ["A", "a", "a-c", "a/b", "a/b/c", "a/c", "a0", "b", "dir/", "x%y", "ü"]
    assert _names(store, "a/") == ["a/b", "a/b/c", "a/c"]
    assert _names(store, "a/b") == ["a/b", "a/b/c"]
    assert _names(store, "a") == ["a", "a-c", "a/b", "a/b/c", "a/c", "a0"]
    assert _names(store, "dir/") == ["dir/"]
    assert _names(store, "nothing") == []
    assert _names(store, bck=OTHER) == ["a/elsewhere"]
    assert _names(store, bck=BucketRef.parse("never-written", "ais")) == []


def test_current_record_changes_on_every_write(store: ObjectStorage) -> None:
    location = store.location(BCK, "probe")
    assert store.current_record(location) == b""
    seen = set()
    for _ in range(5):  # the same bytes, versioning off: the write time still differs
        md = _put(store, "probe", b"same")
        record = store.current_record(location)
        assert record == encode_metadata(md)
        seen.add(record)
    assert len(seen) == 5
    store.delete(BCK, "probe")
    assert store.current_record(location) == b""


def test_location_is_stable(store: ObjectStorage) -> None:
    location = store.location(BCK, "here/obj")
    assert store.location(BCK, "here/obj") == location  # before the object exists
    _put(store, "here/obj", b"1")
    assert store.location(BCK, "here/obj") == location
    assert store.find(BCK, "here/obj")[0] == location
    _put(store, "here/obj", b"2")
    store.update_metadata(BCK, "here/obj", lambda md: md)
    assert store.location(BCK, "here/obj") == location
    store.delete(BCK, "here/obj")
    assert store.location(BCK, "here/obj") == location
    others = {
        store.location(BCK, "here/obj2"),
        store.location(OTHER, "here/obj"),
        store.location(BCK, "here"),
    }
    assert location not in others and len(others) == 3
