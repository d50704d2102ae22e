"""Opening shards (archive objects) for reads, with TAR member indexes that outlive requests.

Reading one member of a large uncompressed TAR should cost a few reads, not a walk over the whole
shard. The first read of a shard version walks its headers once (``build_tar_index``); the index
is then kept in memory (LRU, per process) and persisted under ``<mountpath>/.shardidx/``, keyed by
the shard's path and its exact metadata record -- so a new version of the shard never meets an old
index, and a restart does not walk again. Over a store without files (``MemoryStore``) indexes are
kept in memory only.
"""

from __future__ import annotations

import collections
import hashlib
import os

import xxhash

from strata.archive import TAR, ArchiveReader, CorruptIndex, RandomAccess, TarIndex
from strata.storage.interface import ObjectStorage
from strata.storage.mountpaths import Mountpath
from strata.storage.objects import ObjectStore, OpenObject

SHARD_INDEXES = ".shardidx"
_MEMORY_MEMBERS = 1_000_000  # members kept across cached indexes, per process


class ShardIndexes:
    def __init__(self) -> None:
        self.memory: collections.OrderedDict[tuple[str, bytes], TarIndex] = collections.OrderedDict()
        self.members = 0

    def reader(
        self, store: ObjectStorage, obj: OpenObject, source: int | RandomAccess, fmt: str
    ) -> ArchiveReader:
        """A reader of an open shard that uses a known index when there is one.

        ``source`` is the shard's descriptor, or a random-access view of its original bytes when it is
        stored compressed (indexes are of the original bytes either way).
        """
        index = self._known(store, obj) if fmt == TAR else None
        return ArchiveReader(source, obj.size, fmt, index=index)

    def remember(self, store: ObjectStorage, obj: OpenObject, reader: ArchiveReader) -> None:
        """Keep the index the reader had to build (call after a successful read)."""
        built = reader.built_index
        if built is None:
            return
        self._cache((obj.path, obj.raw_metadata), built)
        path = self._file(store, obj)
        if path is None:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(built.to_bytes())
        os.replace(tmp, path)
        stem = os.path.basename(path).split(".")[0]
        for old in os.listdir(os.path.dirname(path)):  # indexes of older versions of this shard
            if old.startswith(stem + ".") and old != os.path.basename(path) and not old.endswith(".tmp"):
                try:
                    os.unlink(os.path.join(os.path.dirname(path), old))
                except FileNotFoundError:
                    pass

    def _known(self, store: ObjectStorage, obj: OpenObject) -> TarIndex | None:
        key = (obj.path, obj.raw_metadata)
        index = self.memory.get(key)
        if index is not None:
            self.memory.move_to_end(key)
            return index
        path = self._file(store, obj)
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                index = TarIndex.from_bytes(f.read())
        except (FileNotFoundError, CorruptIndex):
            return None
        if index.shard_size != obj.size:
            return None
        self._cache(key, index)
        return index

    def _cache(self, key: tuple[str, bytes], index: TarIndex) -> None:
        if key in self.memory:
            return
        self.memory[key] = index
        self.members += len(index)
        while self.members > _MEMORY_MEMBERS and len(self.memory) > 1:
            _, old = self.memory.popitem(last=False)
            self.members -= len(old)

    @staticmethod
    def _file(store: ObjectStorage, obj: OpenObject) -> str | None:
        """Where the index of this shard version is persisted; None for a store without mountpaths."""
        if not isinstance(store, ObjectStore):
            return None
        mountpath: Mountpath = next(
            (m for m in store.mountpaths.all if obj.path.startswith(m.root + os.sep)), store.mountpaths.all[0]
        )
        stem = hashlib.sha1(obj.path.encode()).hexdigest()[:24]
        version = xxhash.xxh64_hexdigest(obj.raw_metadata)
        return os.path.join(mountpath.root, SHARD_INDEXES, stem[:2], f"{stem}.{version}")
