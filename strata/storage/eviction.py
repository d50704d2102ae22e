"""What LRU eviction asks of the POSIX store: the cached objects of a bucket on some mountpaths, with
their access times, and a removal that spares an object read since it was looked at.

The ``lru`` job (``strata.jobs.lru``) reaches these through the object service. Access times are the
files' ``st_atime`` (``storage.atimes`` keeps them current); the bytes an eviction frees are the
file's allocated blocks, what ``statfs`` will count as free again. Removal goes through
``ObjectStore.delete``, under the object's lock and in the same step as the savings ledger.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

from strata.core.errors import ObjectNotFound
from strata.core.names import BucketRef
from strata.storage.listing import iter_names
from strata.storage.objects import ObjectStore


class CachedObject(NamedTuple):
    """One object file as the walk saw it (ordered by access time first: the eviction heap's key)."""

    atime_ns: int
    name: str
    path: str
    nbytes: int  # allocated on disk


def cached_objects(
    store: ObjectStore, bck: BucketRef, roots: tuple[str, ...]
) -> Iterator[CachedObject | None]:
    """Every object of ``bck`` stored on the mountpaths ``roots`` (one ``stat`` each); None for a name the
    walk saw that is gone when measured (a step all the same: the job checks for an abort between)."""
    for mp in store.mountpaths.all:
        if mp.root not in roots:
            continue
        for name, _is_dir in iter_names(store.mountpaths, bck, only=mp):
            path = mp.object_path(bck, name)
            try:
                st = os.stat(path)
            except OSError:
                yield None
                continue
            yield CachedObject(st.st_atime_ns, name, path, st.st_blocks * 512)


def evict_unread(store: ObjectStore, bck: BucketRef, found: CachedObject) -> int:
    """Remove the object unless it was read (or rewritten) since ``found`` was seen; the bytes freed,
    0 when it stays or is gone already."""
    try:
        st = os.stat(found.path)
    except OSError:
        return 0
    if st.st_atime_ns > found.atime_ns:
        return 0  # read since the walk: no longer a candidate
    try:
        store.delete(bck, found.name)
    except ObjectNotFound:
        return 0
    return st.st_blocks * 512
