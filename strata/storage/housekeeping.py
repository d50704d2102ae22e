"""Whole-bucket work on the POSIX store's files: rename a bucket, resilver, space used, cleanup.

The jobs that do this work (move-bck, resilver, summary, cleanup-store) reach it through the object
service, which hands these functions the POSIX ``ObjectStore``: only the storage knows where object
files live. Each walk is a generator that yields once per step, so the job between two steps checks
whether it was aborted and counts its progress; the storage never imports the jobs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

from strata.core.names import BucketRef
from strata.storage.bookkeeping import move_object_file
from strata.storage.listing import iter_names
from strata.storage.mountpaths import OBJECTS, WORK
from strata.storage.objects import ObjectStore, place_file


def rename_bucket(store: ObjectStore, src: BucketRef, dst: BucketRef) -> None:
    """Rename the bucket's directory on every mountpath (objects keep their files).

    In a cluster, peers may already be sending objects of the renamed bucket here, so the
    destination directory can exist: then the source tree is merged into it file by file
    (``bookkeeping.rename_bucket_dirs``; the savings ledger moves the bucket's row with it).
    """
    store.rename_bucket(src, dst)


def resilver(store: ObjectStore, bck: BucketRef) -> Iterator[int | None]:
    """Move every object of the bucket that is not on its HRW mountpath there (rename when possible).

    Yields once per object examined: its size when it was moved (0: deleted meanwhile), None when it
    already was home. Each move holds both objects' locks and keeps the savings ledger in step.
    With one mountpath every object is home: nothing to walk.
    """
    mountpaths = store.mountpaths
    if len(mountpaths.all) == 1:
        return
    for mp in mountpaths.all:
        for name, _is_dir in iter_names(mountpaths, bck, only=mp):
            home = mountpaths.for_object(bck, name)
            if home is mp:
                yield None
                continue
            stop_at = home.content_dir(bck, OBJECTS)
            yield move_object_file(
                store.locks,
                store.books,
                bck,
                mp.object_path(bck, name),
                home.object_path(bck, name),
                work_path=home.work_path(bck),
                place=partial(_place, stop_at=stop_at),
            )


def _place(src: str, dst: str, *, stop_at: str) -> None:
    place_file(src, dst, stop_at)


def usage(store: ObjectStore, bck: BucketRef, prefix: str = "") -> Iterator[tuple[int, int] | None]:
    """``(size, bytes allocated on disk)`` of every object under ``prefix`` (one ``stat`` each).

    None for a name the walk saw that is gone by the time it is measured (deleted meanwhile).
    """
    for mp in store.mountpaths.all:
        for name, _is_dir in iter_names(store.mountpaths, bck, prefix=prefix, only=mp):
            try:
                st = os.stat(mp.object_path(bck, name))
            except FileNotFoundError:
                yield None
                continue
            yield st.st_size, st.st_blocks * 512


def capacity(store: ObjectStore) -> int:
    """Total bytes of the filesystems the mountpaths live on, each device counted once."""
    total = 0
    seen_devices = set()
    for mp in store.mountpaths.all:
        device = os.stat(mp.root).st_dev
        if device not in seen_devices:
            seen_devices.add(device)
            fs = os.statvfs(mp.root)
            total += fs.f_blocks * fs.f_frsize
    return total


def cleanup(store: ObjectStore, buckets: list[BucketRef], stale_before: float) -> Iterator[int | None]:
    """Empty the trash, remove work files last changed before ``stale_before`` (a ``time.time()``),
    and remove empty virtual directories.

    Yields the size of every work file removed, and None after every object directory examined.
    """
    store.mountpaths.empty_trash()
    for bck in buckets:
        for mp in store.mountpaths.all:
            work = mp.content_dir(bck, WORK)
            if os.path.isdir(work):
                for name in os.listdir(work):
                    path = os.path.join(work, name)
                    try:
                        st = os.stat(path)
                        if st.st_mtime < stale_before:
                            os.unlink(path)
                            yield st.st_size
                    except FileNotFoundError:
                        pass
            objects_root = mp.content_dir(bck, OBJECTS)
            for root, dirs, files in os.walk(objects_root, topdown=False):
                yield None
                if root != objects_root and not dirs and not files:
                    try:
                        os.rmdir(root)
                    except OSError:
                        pass
