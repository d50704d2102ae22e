"""Node-wide jobs started by name: rebalance, resilver, cleanup-store, lru.

In embedded mode the node is the whole cluster, so rebalance has nothing to move and ends at
once; resilver (objects onto their HRW mountpath, after mountpaths change) and cleanup-store
(stale work files, trash, empty directories) do real work.
"""

from __future__ import annotations

import os
import time

from strata.core.names import BucketRef
from strata.jobs.registry import Job
from strata.storage.listing import iter_names
from strata.storage.mountpaths import OBJECTS, WORK, Mountpaths
from strata.storage.objects import place_file

STALE_WORK_S = 3600.0


def resilver(job: Job, mountpaths: Mountpaths, buckets: list[BucketRef]) -> None:
    """Move every object that is not on its HRW mountpath there (rename when possible)."""
    for bck in buckets:
        for mp in mountpaths.all:
            for name, _is_dir in iter_names(mountpaths, bck, only=mp):
                job.check()
                home = mountpaths.for_object(bck, name)
                if home is mp:
                    continue
                src = mp.object_path(bck, name)
                dst = home.object_path(bck, name)
                size = os.stat(src).st_size
                place_file(src, dst, home.content_dir(bck, OBJECTS), cross_device_ok=True)
                job.add(1, size)


def cleanup_store(job: Job, mountpaths: Mountpaths, buckets: list[BucketRef]) -> None:
    """Remove work files older than an hour, emptied trash, and empty virtual directories."""
    cutoff = time.time() - STALE_WORK_S
    mountpaths.empty_trash()
    for bck in buckets:
        for mp in mountpaths.all:
            work = mp.content_dir(bck, WORK)
            if os.path.isdir(work):
                for name in os.listdir(work):
                    path = os.path.join(work, name)
                    try:
                        st = os.stat(path)
                        if st.st_mtime < cutoff:
                            os.unlink(path)
                            job.add(1, st.st_size)
                    except FileNotFoundError:
                        pass
            objects_root = mp.content_dir(bck, OBJECTS)
            for root, dirs, files in os.walk(objects_root, topdown=False):
                job.check()
                if root != objects_root and not dirs and not files:
                    try:
                        os.rmdir(root)
                    except OSError:
                        pass
