"""``MemoryStore``: the in-memory twin of the POSIX ``ObjectStore``, behind the same ``ObjectStorage``.

Tests of everything above the storage (the object service, both fronts, GetBatch) run over it without
a filesystem; ``tests/unit/test_storage_conformance.py`` holds the two stores to the same behaviour.

Objects live in one dict keyed by location (``memory:<bucket key>/<name>``): the bytes, the metadata
and its encoded record -- the exact msgpack bytes the POSIX store keeps in its xattr, so the hot cache
and anything keyed by the record work unchanged. A reader gets a real descriptor: a sealed memfd with a
private copy of the version's bytes, so ``pread``, ``sendfile`` (``FileBody``) and checksum validation
work as on a file, and a later overwrite never changes what an open reader sees. A writer buffers its
bytes and publishes them at ``commit`` with the same checks and metadata as ``ObjectWriter.commit``.
One lock guards the dict; bytes are hashed and buffered outside it. The savings ledger (an anonymous
``Ledger``) changes under that same lock, in the same step as the dict: nothing survives a crash here,
so no intent is needed.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from strata.core.errors import InvalidRequest, ObjectNotFound, StrataError
from strata.core.names import BucketRef
from strata.storage.checksum import Hasher, new_hasher
from strata.storage.commit import Encoded, check_written, new_metadata, stored_form
from strata.storage.fsnames import encode_object_name
from strata.storage.ledger import Footprint, Ledger, footprint
from strata.storage.metadata import ObjectMetadata, encode_metadata
from strata.storage.objects import OpenObject, os_error

_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


class _Stored:
    """One object version: its bytes, its metadata and the metadata's encoded record."""

    __slots__ = ("data", "metadata", "record")

    def __init__(self, data: bytes, metadata: ObjectMetadata, record: bytes) -> None:
        self.data = data
        self.metadata = metadata
        self.record = record


def sealed_memfd(data: bytes, name: str = "strata-object") -> int:
    """A read-only descriptor holding ``data`` from offset 0 (a memfd sealed against any change)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


class MemoryWriter:
    """A write into a ``MemoryStore``: bytes buffered and hashed as they arrive, published by ``commit``."""

    def __init__(
        self,
        store: MemoryStore,
        bck: BucketRef,
        object_name: str,
        checksum_type: str,
        extra_hasher: Hasher | None,
    ) -> None:
        self.store = store
        self.bck = bck
        self.object_name = object_name
        self.checksum_type = checksum_type
        self.hasher = new_hasher(checksum_type)
        self.extra_hasher = extra_hasher
        self.known_checksum = ""  # a copy reuses the source's value, as the POSIX copy does
        self.buffer = bytearray()
        self.size = 0
        self.finished = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.finished:
            raise StrataError(f"{self.bck.object_uri(self.object_name)}: write after the write ended")
        self.hasher.update(data)
        if self.extra_hasher is not None:
            self.extra_hasher.update(data)
        self.buffer += data
        self.size += len(data)

    def commit(
        self,
        *,
        versioning: bool,
        custom: dict[str, str] | None = None,
        expected_checksum: tuple[str, str] | None = None,
        etag: str = "",
        carried: ObjectMetadata | None = None,
        encoded: Encoded | None = None,
    ) -> ObjectMetadata:
        """Publish the buffered bytes: the checks and metadata of ``ObjectWriter.commit``, step by step."""
        if self.finished:
            raise StrataError(f"{self.bck.object_uri(self.object_name)}: commit after the write ended")
        if encoded is not None:
            size, checksum_type, value = encoded.size, encoded.checksum_type, encoded.checksum_value
        else:
            size, checksum_type = self.size, self.checksum_type
            value = self.known_checksum or self.hasher.hexdigest()
        try:
            check_written(
                self.bck.object_uri(self.object_name),
                size=size if carried is None else self.size,
                checksum_type=checksum_type,
                value=value,
                expected=expected_checksum,
                carried=carried,
            )
        except InvalidRequest:
            self.abort()
            raise
        if carried is not None:
            return self._publish(carried)

        def fresh(previous: ObjectMetadata | None) -> ObjectMetadata:
            md = new_metadata(
                previous,
                size=size,
                checksum_type=checksum_type,
                value=value,
                versioning=versioning,
                custom=custom,
                etag=etag,
            )
            return stored_form(md, encoded, self.size)

        return self._publish(fresh)

    def _publish(
        self, metadata: ObjectMetadata | Callable[[ObjectMetadata | None], ObjectMetadata]
    ) -> ObjectMetadata:
        try:
            return self.store.publish(self.bck, self.object_name, bytes(self.buffer), metadata)
        finally:
            self.abort()  # success or not, the write is over and its buffer released

    def abort(self) -> None:
        self.finished = True
        self.buffer = bytearray()


class MemoryStore:
    """All objects of a node in memory (see the module docstring); satisfies ``ObjectStorage``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, _Stored] = {}
        self.ledger: Ledger | None = Ledger(None)
        self._ledger = self.ledger

    def recount(self) -> dict[str, Footprint]:
        """Every bucket's objects counted from the dict (stored bytes: what is held for each version)."""
        counts: dict[str, Footprint] = {}
        with self._lock:
            for location, stored in self._objects.items():
                uri = BucketRef.from_key("/".join(location[len("memory:") :].split("/", 3)[:3])).uri
                version = Footprint(stored.metadata.size, len(stored.data), 1)
                counts[uri] = counts.get(uri, Footprint()) + version
        return counts

    # -- lookup -----------------------------------------------------------------------------

    @staticmethod
    def _bucket_prefix(bck: BucketRef) -> str:
        return f"memory:{bck.key}/"

    def location(self, bck: BucketRef, object_name: str) -> str:
        encode_object_name(object_name)  # the same name rules as on disk (InvalidName)
        return self._bucket_prefix(bck) + object_name

    def current_record(self, location: str, expected_size: int = 0) -> bytes:
        with self._lock:
            stored = self._objects.get(location)
        return stored.record if stored is not None else b""

    def create_bucket(self, bck: BucketRef) -> None:
        pass  # a bucket is just the prefix of its objects' locations

    def destroy_bucket(self, bck: BucketRef) -> None:
        prefix = self._bucket_prefix(bck)
        with self._lock:
            for location in [loc for loc in self._objects if loc.startswith(prefix)]:
                del self._objects[location]
            self._ledger.finish_destroy(bck.uri)

    def _get(self, bck: BucketRef, object_name: str) -> tuple[str, _Stored]:
        location = self.location(bck, object_name)
        with self._lock:
            stored = self._objects.get(location)
        if stored is None:
            raise ObjectNotFound(bck.object_uri(object_name))
        return location, stored

    def open(self, bck: BucketRef, object_name: str) -> OpenObject:
        location, stored = self._get(bck, object_name)
        try:
            fd = sealed_memfd(stored.data)
        except OSError as exc:
            raise os_error(exc, bck.object_uri(object_name)) from exc
        metadata = stored.metadata
        return OpenObject(fd, metadata.size, metadata, location, stored.record, bck.object_uri(object_name))

    def find(self, bck: BucketRef, object_name: str) -> tuple[str, ObjectMetadata]:
        location, stored = self._get(bck, object_name)
        return location, stored.metadata

    def head(self, bck: BucketRef, object_name: str) -> ObjectMetadata:
        return self._get(bck, object_name)[1].metadata

    def iter_names(self, bck: BucketRef, prefix: str = "") -> Iterator[str]:
        """The names that start with ``prefix``, sorted (a snapshot taken when the walk starts)."""
        start = self._bucket_prefix(bck) + prefix
        skip = len(self._bucket_prefix(bck))
        with self._lock:
            names = sorted(location[skip:] for location in self._objects if location.startswith(start))
        yield from names

    # -- writes -----------------------------------------------------------------------------

    def writer(
        self,
        bck: BucketRef,
        object_name: str,
        checksum_type: str,
        *,
        fsync: bool = False,
        extra_hasher: Hasher | None = None,
    ) -> MemoryWriter:
        """Begin a write; ``fsync`` asks for nothing here (memory is not durable anyway)."""
        self.location(bck, object_name)  # InvalidName before any byte is accepted
        return MemoryWriter(self, bck, object_name, checksum_type, extra_hasher)

    def publish(
        self,
        bck: BucketRef,
        object_name: str,
        data: bytes,
        metadata: ObjectMetadata | Callable[[ObjectMetadata | None], ObjectMetadata],
    ) -> ObjectMetadata:
        """Make ``data`` the object's current version; reading the previous one is part of the step."""
        location = self.location(bck, object_name)
        with self._lock:
            previous = self._objects.get(location)
            if isinstance(metadata, ObjectMetadata):
                md = metadata
            else:
                md = metadata(previous.metadata if previous is not None else None)
            self._objects[location] = _Stored(data, md, encode_metadata(md))  # InvalidRequest: too large
            self._ledger.add(bck.uri, footprint(md) - footprint(previous.metadata if previous else None))
        return md

    def delete(self, bck: BucketRef, object_name: str) -> None:
        location = self.location(bck, object_name)
        with self._lock:
            gone = self._objects.pop(location, None)
            if gone is None:
                raise ObjectNotFound(bck.object_uri(object_name))
            self._ledger.add(bck.uri, -footprint(gone.metadata))

    def update_metadata(
        self, bck: BucketRef, object_name: str, change: Callable[[ObjectMetadata], ObjectMetadata]
    ) -> ObjectMetadata:
        location = self.location(bck, object_name)
        with self._lock:
            stored = self._objects.get(location)
            if stored is None:
                raise ObjectNotFound(bck.object_uri(object_name))
            new_md = change(stored.metadata)
            self._objects[location] = _Stored(stored.data, new_md, encode_metadata(new_md))
            self._ledger.add(bck.uri, footprint(new_md) - footprint(stored.metadata))
        return new_md

    def copy(
        self,
        src_bck: BucketRef,
        src_name: str,
        dst_bck: BucketRef,
        dst_name: str,
        *,
        checksum_type: str,
        versioning: bool,
        fsync: bool = False,
    ) -> ObjectMetadata:
        """A new version at the destination with the source's bytes, custom metadata and ETag."""
        _location, source = self._get(src_bck, src_name)
        md = source.metadata
        same_type = md.checksum_type == checksum_type and md.checksum_value
        if md.codec and not same_type:
            raise InvalidRequest(f"{src_bck.object_uri(src_name)}: a compressed copy keeps its checksum type")
        writer = self.writer(dst_bck, dst_name, checksum_type, fsync=fsync)
        writer.write(source.data)
        if same_type:
            writer.known_checksum = md.checksum_value
        encoded = Encoded(md.codec, md.size, checksum_type, md.checksum_value) if md.codec else None
        return writer.commit(versioning=versioning, custom=dict(md.custom), etag=md.etag, encoded=encoded)

    def rename(self, bck: BucketRef, src_name: str, dst_name: str, *, versioning: bool) -> None:
        """Move the object to the new name with its metadata as it is (a rename on one mountpath)."""
        src = self.location(bck, src_name)
        dst = self.location(bck, dst_name)
        with self._lock:
            stored = self._objects.pop(src, None)
            if stored is None:
                raise ObjectNotFound(bck.object_uri(src_name))
            replaced = self._objects.get(dst) if dst != src else None
            self._objects[dst] = stored
            if replaced is not None:  # the object keeps its footprint; what it replaces leaves
                self._ledger.add(bck.uri, -footprint(replaced.metadata))

    # -- tests ------------------------------------------------------------------------------

    def overwrite_in_place(self, bck: BucketRef, object_name: str, offset: int, data: bytes) -> None:
        """Change stored bytes without a new version or metadata: what bit rot does to a file.

        For tests of checksum validation (the twin of writing into the object's file on disk).
        """
        location = self.location(bck, object_name)
        with self._lock:
            stored = self._objects.get(location)
            if stored is None:
                raise ObjectNotFound(bck.object_uri(object_name))
            changed = stored.data[:offset] + data + stored.data[offset + len(data) :]
            self._objects[location] = _Stored(changed, stored.metadata, stored.record)


if TYPE_CHECKING:  # both stores satisfy the interface (checked by mypy, nothing at run time)
    from strata.storage.interface import ObjectStorage
    from strata.storage.objects import ObjectStore

    def _conforms(memory: MemoryStore, posix: ObjectStore) -> tuple[ObjectStorage, ObjectStorage]:
        return memory, posix
