"""Sorted views of directories, so that listing pages through any directory in name order.

A small directory is read and sorted in memory. A large one (millions of objects in one flat
"folder" are common in ML datasets) is sorted once into an on-disk index file with an external
merge sort, so no process ever holds more than ``RUN_SIZE`` names; pages then seek into the index
through a sparse in-memory list of fence keys (one per ``FENCE_EVERY`` names) and read forward.

Both views are cached per process and keyed by the directory's mtime: any create or delete in the
directory changes it, and the next page rebuilds the view. Index files are shared by the worker
processes (they live on the mountpath) and rebuilt only when stale.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import heapq
import os
import uuid
from collections.abc import Iterator
from typing import Protocol

from strata.storage.fsnames import decode_dir, decode_leaf
from strata.storage.mountpaths import INDEXES

IN_MEMORY_MAX = 50_000  # entries: above this a directory gets an on-disk index
RUN_SIZE = 100_000  # names sorted in memory at a time while building an index
FENCE_EVERY = 1024
_CACHE_ENTRIES = 500_000  # names kept in memory across cached small directories, per process
_READ_BLOCK = 1 << 16
INDEX_DIR = INDEXES


class SortedKeys(Protocol):
    def keys_from(self, start: str, inclusive: bool) -> Iterator[str]:
        """Keys ``>= start`` (``> start`` unless ``inclusive``), in order."""
        ...


def _entry_keys(path: str) -> Iterator[str]:
    """A directory's entries as sort keys: decoded leaf names, decoded directory names plus ``/``."""
    with os.scandir(path) as it:
        for e in it:
            if e.is_dir(follow_symlinks=False):
                segment = decode_dir(e.name)
                if segment is not None:
                    yield segment + "/"
            else:
                yield decode_leaf(e.name)


class MemoryKeys:
    __slots__ = ("keys",)

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def keys_from(self, start: str, inclusive: bool) -> Iterator[str]:
        keys = self.keys
        i = bisect.bisect_left(keys, start) if inclusive else bisect.bisect_right(keys, start)
        return (keys[j] for j in range(i, len(keys)))


def _read_records(path: str, offset: int = 0) -> Iterator[str]:
    """NUL-terminated UTF-8 records of an index or run file, from a byte offset."""
    with open(path, "rb") as f:
        f.seek(offset)
        tail = b""
        while True:
            block = f.read(_READ_BLOCK)
            if not block:
                return
            parts = (tail + block).split(b"\0")
            tail = parts.pop()
            for part in parts:
                yield part.decode()


class DiskKeys:
    """A sorted index file plus fences: ``(key, byte offset)`` of every ``FENCE_EVERY``-th record."""

    __slots__ = ("fence_keys", "fence_offsets", "path")

    def __init__(self, path: str, fence_keys: list[str], fence_offsets: list[int]) -> None:
        self.path = path
        self.fence_keys = fence_keys
        self.fence_offsets = fence_offsets

    def keys_from(self, start: str, inclusive: bool) -> Iterator[str]:
        # the last fence strictly below `start` is a safe place to begin reading
        i = bisect.bisect_left(self.fence_keys, start) - 1
        offset = self.fence_offsets[i] if i >= 0 else 0
        for key in _read_records(self.path, offset):
            if key > start or (inclusive and key == start):
                yield key

    @classmethod
    def load(cls, path: str) -> DiskKeys:
        fence_keys, fence_offsets = [], []
        offset = 0
        for n, key in enumerate(_read_records(path)):
            if n % FENCE_EVERY == 0:
                fence_keys.append(key)
                fence_offsets.append(offset)
            offset += len(key.encode()) + 1
        return cls(path, fence_keys, fence_offsets)


def _write_run(path: str, keys: list[str]) -> None:
    keys.sort()
    with open(path, "wb") as f:
        for key in keys:
            f.write(key.encode())
            f.write(b"\0")


def build_index(directory: str, index_path: str, tmp_dir: str) -> DiskKeys:
    """External merge sort of a directory's keys into ``index_path`` (bounded memory)."""
    os.makedirs(tmp_dir, exist_ok=True)
    tag = uuid.uuid4().hex
    runs: list[str] = []
    chunk: list[str] = []
    try:
        for key in _entry_keys(directory):
            chunk.append(key)
            if len(chunk) >= RUN_SIZE:
                runs.append(os.path.join(tmp_dir, f"{tag}.run{len(runs)}"))
                _write_run(runs[-1], chunk)
                chunk = []
        runs.append(os.path.join(tmp_dir, f"{tag}.run{len(runs)}"))
        _write_run(runs[-1], chunk)
        chunk = []
        fence_keys, fence_offsets = [], []
        tmp_index = os.path.join(tmp_dir, f"{tag}.index")
        with open(tmp_index, "wb") as out:
            offset = 0
            for n, key in enumerate(heapq.merge(*(_read_records(r) for r in runs))):
                if n % FENCE_EVERY == 0:
                    fence_keys.append(key)
                    fence_offsets.append(offset)
                data = key.encode() + b"\0"
                out.write(data)
                offset += len(data)
        os.replace(tmp_index, index_path)
    finally:
        for run in runs:
            try:
                os.unlink(run)
            except FileNotFoundError:
                pass
    return DiskKeys(index_path, fence_keys, fence_offsets)


class DirectoryViews:
    """Per-process cache of sorted directory views, invalidated by directory mtime."""

    def __init__(self) -> None:
        self.memory: collections.OrderedDict[str, tuple[int, MemoryKeys]] = collections.OrderedDict()
        self.memory_size = 0
        self.disk: dict[str, tuple[int, DiskKeys]] = {}

    def view(self, path: str, index_root: str) -> SortedKeys:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return MemoryKeys([])
        mtime = st.st_mtime_ns
        hit = self.memory.get(path)
        if hit is not None and hit[0] == mtime:
            self.memory.move_to_end(path)
            return hit[1]
        disk_hit = self.disk.get(path)
        if disk_hit is not None and disk_hit[0] == mtime:
            return disk_hit[1]
        # read up to IN_MEMORY_MAX entries; more means this directory deserves an index
        keys: list[str] = []
        try:
            for key in _entry_keys(path):
                keys.append(key)
                if len(keys) > IN_MEMORY_MAX:
                    break
        except (FileNotFoundError, NotADirectoryError):
            return MemoryKeys([])
        if len(keys) <= IN_MEMORY_MAX:
            keys.sort()
            view = MemoryKeys(keys)
            self._remember(path, mtime, view)
            return view
        del keys
        return self._disk_view(path, mtime, st.st_ino, index_root)

    def _remember(self, path: str, mtime: int, view: MemoryKeys) -> None:
        if len(view.keys) <= 64:  # cheaper to re-read than to track
            return
        old = self.memory.pop(path, None)
        if old is not None:
            self.memory_size -= len(old[1].keys)
        self.memory[path] = (mtime, view)
        self.memory_size += len(view.keys)
        while self.memory_size > _CACHE_ENTRIES and len(self.memory) > 1:
            _, (_, evicted) = self.memory.popitem(last=False)
            self.memory_size -= len(evicted.keys)

    def _disk_view(self, path: str, mtime: int, inode: int, index_root: str) -> DiskKeys:
        name = hashlib.sha1(path.encode()).hexdigest()[:20]
        index_dir = os.path.join(index_root, INDEX_DIR)
        index_path = os.path.join(index_dir, f"{name}.{inode:x}.{mtime:x}")
        if os.path.exists(index_path):
            view = DiskKeys.load(index_path)
        else:
            view = build_index(path, index_path, os.path.join(index_dir, "tmp"))
            for old in os.listdir(index_dir):  # older generations of the same directory
                if old.startswith(name + ".") and os.path.join(index_dir, old) != index_path:
                    try:
                        os.unlink(os.path.join(index_dir, old))
                    except FileNotFoundError:
                        pass
        self.disk[path] = (mtime, view)
        return view
