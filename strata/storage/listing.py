"""Walk a bucket's objects in name order, resuming after any name, over all mountpaths.

Each mountpath's ``%ob`` tree is walked depth-first with every directory's entries sorted by
``name`` for files and ``name + "/"`` for directories: that key order is exactly the
lexicographic order of the full object names, so the walk yields names sorted without ever
holding more than one directory per level. Mountpaths are merged with ``heapq.merge``.

Paging re-enters the walk after the last name returned (the continuation token) and skips whole
subtrees that sort before it. Sorted directory listings are cached per process, keyed by the
directory's mtime, so paging through a large flat directory reads it once, not once per page.
"""

from __future__ import annotations

import bisect
import collections
import heapq
import os
from collections.abc import Iterator

from strata.storage.mountpaths import OBJECTS, Mountpaths
from strata.storage.names import BucketRef

_CACHE_MAX_ENTRIES = 2_000_000  # names kept across cached directories, per process


class _DirCache:
    """LRU of sorted directory keys, invalidated by the directory's mtime."""

    def __init__(self) -> None:
        self.entries: collections.OrderedDict[str, tuple[int, list[str]]] = collections.OrderedDict()
        self.size = 0

    def sorted_keys(self, path: str) -> list[str]:
        try:
            mtime = os.stat(path).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return []
        hit = self.entries.get(path)
        if hit is not None and hit[0] == mtime:
            self.entries.move_to_end(path)
            return hit[1]
        try:
            with os.scandir(path) as it:
                keys = [e.name + "/" if e.is_dir(follow_symlinks=False) else e.name for e in it]
        except (FileNotFoundError, NotADirectoryError):
            return []
        keys.sort()
        if len(keys) > 64:  # small directories are cheaper to re-read than to track
            if hit is not None:
                self.size -= len(hit[1])
            self.entries[path] = (mtime, keys)
            self.size += len(keys)
            while self.size > _CACHE_MAX_ENTRIES and len(self.entries) > 1:
                _, (_, old) = self.entries.popitem(last=False)
                self.size -= len(old)
        return keys


_cache = _DirCache()


def _walk(directory: str, rel: str, after: str, prefix: str, recursive: bool) -> Iterator[tuple[str, bool]]:
    """Yield ``(name, is_dir)`` below ``directory`` (whose names start with ``rel``), sorted.

    Directories are yielded (as ``name/``) only when not recursing.
    """
    keys = _cache.sorted_keys(directory)
    start = 0
    if after > rel:
        # skip keys whose whole subtree sorts at or before `after`
        start = (
            bisect.bisect_left(keys, after[len(rel) :])
            if after.startswith(rel)
            else (0 if after < rel else len(keys))
        )
        # a directory key equal to a prefix of `after` may still hold later names: step back onto it
        if start > 0 and keys[start - 1].endswith("/") and after.startswith(rel + keys[start - 1]):
            start -= 1
    for key in keys[start:]:
        full = rel + key
        if prefix and not (full.startswith(prefix) or prefix.startswith(full)):
            if full > prefix:
                return
            continue
        if key.endswith("/"):
            if not recursive:
                if full > after and full.startswith(prefix):
                    yield full, True
                continue
            yield from _walk(os.path.join(directory, key[:-1]), full, after, prefix, recursive)
        elif full > after and full.startswith(prefix):
            yield full, False


def iter_names(
    mountpaths: Mountpaths, bck: BucketRef, *, prefix: str = "", after: str = "", recursive: bool = True
) -> Iterator[tuple[str, bool]]:
    """All object names (and, without recursion, virtual directories) after ``after``, in order."""
    base_rel = prefix.rpartition("/")[0]
    base_rel = base_rel + "/" if base_rel else ""
    streams = []
    for mp in mountpaths.all:
        root = mp.content_dir(bck, OBJECTS)
        start_dir = os.path.join(root, base_rel[:-1]) if base_rel else root
        streams.append(_walk(start_dir, base_rel, after, prefix, recursive))
    if len(streams) == 1:
        yield from streams[0]
        return
    last = None
    for item in heapq.merge(*streams):
        if item != last:  # a virtual directory present on several mountpaths
            yield item
            last = item


def object_path(mountpaths: Mountpaths, bck: BucketRef, name: str) -> str:
    return mountpaths.for_object(bck, name).object_path(bck, name)
