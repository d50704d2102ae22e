"""A small in-memory cache of whole small-object responses, validated by one xattr read per hit.

ML training re-reads the same small samples every epoch. Serving one from the page cache still
costs an open, an xattr read, a read and a close; serving it from here costs one ``getxattr`` and
one socket write. A hit is valid only while the object's metadata record is byte-for-byte the one
the response was made from: every write stamps a nanosecond ``mtime_ns`` (from the clock, not the
filesystem's coarse one) into that record, so an overwrite, a delete-and-recreate (even onto a
reused inode) or a metadata change can never be served stale. Entries are the exact response
bytes; memory is bounded by ``max_bytes`` with least-recently-used eviction.
"""

from __future__ import annotations

import collections
from collections.abc import Callable


class HotCache:
    """``current_record(location, expected_size)`` is the storage's probe: the object's raw metadata
    record, or b"" (``expected_size``: the one held, so the probe reads it in one call)."""

    __slots__ = ("current_record", "entries", "hits", "max_bytes", "max_object", "misses", "size")

    def __init__(self, max_bytes: int, max_object: int, current_record: Callable[[str, int], bytes]) -> None:
        self.current_record = current_record
        self.max_bytes = max_bytes
        self.max_object = max_object
        self.entries: collections.OrderedDict[str, tuple[bytes, bytes]] = collections.OrderedDict()
        self.size = 0
        self.hits = self.misses = 0

    def get(self, path: str) -> bytes | None:
        """The cached response for ``path`` if the object is still the version it was made from."""
        entry = self.entries.get(path)
        if entry is None:
            return None
        if self.current_record(path, len(entry[0])) != entry[0]:
            self._drop(path)
            self.misses += 1
            return None
        self.entries.move_to_end(path)
        self.hits += 1
        return entry[1]

    def put(self, path: str, metadata: bytes, response: bytes) -> None:
        """Remember ``response``, made from the object whose raw metadata record is ``metadata``."""
        if len(response) > self.max_object or self.max_bytes <= 0:
            return
        self._drop(path)
        self.entries[path] = (metadata, response)
        self.size += len(response)
        while self.size > self.max_bytes and self.entries:
            _, (_, old) = self.entries.popitem(last=False)
            self.size -= len(old)

    def _drop(self, path: str) -> None:
        entry = self.entries.pop(path, None)
        if entry is not None:
            self.size -= len(entry[1])
