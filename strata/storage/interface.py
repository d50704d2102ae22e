"""The storage interface under the object service: what ``ObjectService`` and GetBatch ask of a store.

Two implementations satisfy it and ``tests/unit/test_storage_conformance.py`` holds them to the same
behaviour: ``ObjectStore`` (``objects.py``, files on mountpaths, metadata in an xattr) and
``MemoryStore`` (``memory.py``, an in-memory twin for fast tests of everything above the storage).

The contract, beyond the signatures:

- Names are validated the same way (``fsnames``: a segment too long is ``InvalidName``, 400); ``a``
  and ``a/b`` are two objects that coexist (no conflict), as they do on disk.
- A missing object is ``ObjectNotFound`` for every operation that needs one.
- Writes are atomic: a ``PendingWrite`` holds its bytes apart until ``commit`` publishes them (with
  their metadata) in one step; until then readers see the previous version, and after ``abort`` nothing
  of the write is visible. ``commit`` refuses bytes that do not match ``expected_checksum`` (same
  checksum type) or ``carried`` metadata with ``InvalidRequest`` and leaves nothing behind.
- With versioning, every commit numbers the version after the previous one ("1", "2", ...); without
  it, the version is "". Reading the previous version and publishing are one step (no lost versions).
- ``current_record(location)`` is the raw main metadata record (``metadata.split_record``; a backend's
  facts about a cached object are kept apart from it): it changes on every write and on every metadata
  update a GET answer depends on, and is empty when nothing is there. The hot cache and
  the shard-index cache key entries by ``(location, record)``.
- ``rename`` keeps the object's metadata as it was (version, times, custom); ``copy`` writes a new
  version at the destination with the source's bytes, custom metadata and ETag.

Not in this interface yet: append handles and multipart uploads (``append.py``, ``multipart.py``),
listing pages with virtual directories (``ObjectStore.walk``), whole-bucket work (rename, resilver,
space used, cleanup: ``housekeeping.py``) and shard-index persistence work on the POSIX store's files
directly, so the object service hands them the POSIX ``ObjectStore`` and refuses those operations over
any other store. Per-object job work (copy, delete, names, reads) is in the interface.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from strata.core.names import BucketRef
from strata.storage.checksum import Hasher
from strata.storage.commit import Encoded
from strata.storage.ledger import Footprint, Ledger
from strata.storage.metadata import ObjectMetadata
from strata.storage.objects import OpenObject


class ObjectReader(Protocol):
    """One version of an object opened for reading (``OpenObject`` is the record both stores return).

    ``fd`` is a real file descriptor holding exactly this version's bytes from offset 0 (a file on a
    mountpath, a sealed memfd in memory): the server may ``sendfile`` from it and readers ``pread`` it,
    and it stays valid and unchanged if the object is overwritten or deleted meanwhile. ``size`` and
    ``metadata`` are the version's; ``path`` is its ``location``; ``raw_metadata`` its exact (main) record,
    ``whole_record()`` the record another node is sent.

    Whoever receives the reader owns it and must ``close()`` it exactly once (closing ``fd``); a caller
    that hands ``fd`` on (a ``FileBody``, a ``FileRegion``) hands the duty to close with it.
    """

    @property
    def fd(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def metadata(self) -> ObjectMetadata: ...
    @property
    def path(self) -> str: ...
    @property
    def raw_metadata(self) -> bytes: ...
    def whole_record(self) -> bytes: ...
    def close(self) -> None: ...


class PendingWrite(Protocol):
    """A write in progress: bytes are hashed and held apart as they arrive, published by ``commit``.

    The caller ends every write with exactly one ``commit`` or ``abort``; a failed ``write`` or ``commit``
    has already aborted (the caller may still call ``abort``: it is idempotent). ``size`` is the bytes
    written so far.
    """

    @property
    def size(self) -> int: ...

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

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
        """Publish the bytes as the object's new version, with fresh metadata or ``carried`` as it is.

        ``carried`` is metadata that travels with the bytes (rebalance): kept as it is -- version, times,
        custom -- once size and checksum match it. ``encoded``: the bytes written are a stored form
        (compressed) of an original the caller hashed itself (``storage.commit``).
        """
        ...

    def abort(self) -> None: ...


class ObjectStorage(Protocol):
    """A node's objects: bytes plus one metadata record each, per bucket (see the module docstring)."""

    # the savings ledger, changed in the same step as every object (None when ``STRATA_LEDGER=0``)
    ledger: Ledger | None

    def recount(self) -> dict[str, Footprint]:
        """What the ledger should say, counted from the stored objects themselves (slow: every object)."""
        ...

    def location(self, bck: BucketRef, object_name: str) -> str:
        """A stable string naming where the object lives (the hot cache's key), whether it exists or not."""
        ...

    def current_record(self, location: str, expected_size: int = 0) -> bytes:
        """The raw metadata record at ``location``, b"" when nothing is there: a cheap validity probe."""
        ...

    def create_bucket(self, bck: BucketRef) -> None:
        """Make room for a new bucket's objects (directories on every mountpath; nothing in memory)."""
        ...

    def destroy_bucket(self, bck: BucketRef) -> None:
        """Remove every object of a bucket at once (the POSIX store trashes its directories)."""
        ...

    def open(self, bck: BucketRef, object_name: str) -> OpenObject:
        """Open the current version for reading (an ``ObjectReader``; the caller closes it).

        Typed with the concrete record because the fronts (``strata.api``, ``strata.getbatch``) still name
        ``OpenObject``; it can become ``ObjectReader`` once they do.
        """
        ...

    def find(self, bck: BucketRef, object_name: str) -> tuple[str, ObjectMetadata]:
        """The object's location and metadata."""
        ...

    def head(self, bck: BucketRef, object_name: str) -> ObjectMetadata: ...

    def writer(
        self,
        bck: BucketRef,
        object_name: str,
        checksum_type: str,
        *,
        fsync: bool = False,
        extra_hasher: Hasher | None = None,
    ) -> PendingWrite:
        """Begin a write; ``extra_hasher`` sees every byte too (S3 Content-MD5). ``InvalidRequest`` for
        an unknown checksum type; ``fsync`` makes the commit durable where that means anything."""
        ...

    def delete(self, bck: BucketRef, object_name: str) -> None: ...

    def update_metadata(
        self, bck: BucketRef, object_name: str, change: Callable[[ObjectMetadata], ObjectMetadata]
    ) -> ObjectMetadata:
        """Read, ``change`` and write back the metadata as one step; returns what was written."""
        ...

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
    ) -> ObjectMetadata: ...

    def rename(self, bck: BucketRef, src_name: str, dst_name: str, *, versioning: bool) -> None: ...

    def iter_names(self, bck: BucketRef, prefix: str = "") -> Iterator[str]:
        """The names of the bucket's objects that start with ``prefix``, in lexicographic order."""
        ...
