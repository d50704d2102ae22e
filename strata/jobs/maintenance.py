"""Node-wide jobs started by name: rebalance, resilver, cleanup-store, lru.

In embedded mode the node is the whole cluster, so rebalance has nothing to move and ends at
once; resilver (objects onto their HRW mountpath, after mountpaths change) and cleanup-store
(stale work files, trash, empty directories) do real work. The files are the storage's business:
the work goes through the object service, which walks them and yields step by step so the job can
stop between steps and count what moved.
"""

from __future__ import annotations

import time

from strata.core.names import BucketRef
from strata.jobs.registry import Job
from strata.objects.service import ObjectService

STALE_WORK_S = 3600.0


def resilver(job: Job, objects: ObjectService, buckets: list[BucketRef]) -> None:
    """Move every object that is not on its HRW mountpath there (rename when possible)."""
    for bck in buckets:
        for moved in objects.resilver(bck):
            job.check()
            if moved is not None:
                job.add(1, moved)


def cleanup_store(job: Job, objects: ObjectService, buckets: list[BucketRef]) -> None:
    """Remove work files older than an hour, emptied trash, and empty virtual directories."""
    for removed in objects.cleanup(buckets, time.time() - STALE_WORK_S):
        if removed is None:
            job.check()
        else:
            job.add(1, removed)
