"""Walk a bucket's objects in name order, resuming after any name, over all mountpaths.

Each mountpath's ``%ob`` tree is walked depth-first with every directory's entries sorted by their
decoded segment (``fsnames``), plus ``"/"`` for directories: that key order is exactly the
lexicographic order of the full object names, so the walk yields names sorted while holding one
sorted view per level (``dirindex``: in memory for small directories, an on-disk index for huge
ones). Mountpaths are merged with ``heapq.merge``.

Paging re-enters the walk after the last name returned (the continuation token) and skips whole
subtrees that sort before it, so a page costs what it returns, not what precedes it.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator

from strata.core.names import BucketRef
from strata.storage.dirindex import DirectoryViews
from strata.storage.fsnames import encode_dir, encode_dir_path
from strata.storage.mountpaths import OBJECTS, Mountpath, Mountpaths

_views = DirectoryViews()


def _walk(
    directory: str, rel: str, after: str, prefix: str, recursive: bool, index_root: str
) -> Iterator[tuple[str, bool]]:
    """Yield ``(name, is_dir)`` below ``directory`` (whose names start with ``rel``), sorted.

    Directories are yielded (as ``name/``) only when not recursing.
    """
    view = _views.view(directory, index_root)
    # where to start: past `after`, but back on the directory that contains it
    if after.startswith(rel):
        rest = after[len(rel) :]
        segment, slash, _ = rest.partition("/")
        keys = view.keys_from(segment + "/", True) if slash else view.keys_from(rest, False)
    elif after < rel:
        keys = view.keys_from("", True)
    else:
        return  # everything here sorts before `after`
    for key in keys:
        full = rel + key
        if prefix and not full.startswith(prefix):
            if full > prefix and not prefix.startswith(full):
                return  # sorted: nothing later can match
            if not prefix.startswith(full):
                continue
        if key.endswith("/"):
            if not recursive:
                if full > after and full.startswith(prefix):
                    yield full, True
                continue
            subdir = os.path.join(directory, encode_dir(key[:-1]))
            yield from _walk(subdir, full, after, prefix, recursive, index_root)
        elif full > after:
            yield full, False


def iter_names(
    mountpaths: Mountpaths,
    bck: BucketRef,
    *,
    prefix: str = "",
    after: str = "",
    recursive: bool = True,
    only: Mountpath | None = None,
) -> Iterator[tuple[str, bool]]:
    """All object names (and, without recursion, virtual directories) after ``after``, in order.

    ``only`` restricts the walk to one mountpath (resilver walks each on its own).
    """
    base_rel = prefix.rpartition("/")[0]
    base_rel = base_rel + "/" if base_rel else ""
    streams = []
    for mp in [only] if only is not None else mountpaths.all:
        root = mp.content_dir(bck, OBJECTS)
        start_dir = os.path.join(root, encode_dir_path(base_rel)) if base_rel else root
        streams.append(_walk(start_dir, base_rel, after, prefix, recursive, mp.root))
    if len(streams) == 1:
        yield from streams[0]
        return
    last = None
    for item in heapq.merge(*streams):
        if item != last:  # a virtual directory present on several mountpaths
            yield item
            last = item
