"""The node as the API front sees it: identity, metadata store, object store, start time."""

from __future__ import annotations

import os
import secrets
import time

from strata.cluster.hrw import digest
from strata.cluster.metastore import MetaStore
from strata.config.bucket_props import BucketProps
from strata.errors import Forbidden
from strata.jobs.load import LoadMonitor
from strata.jobs.registry import JobRunner, JobStore
from strata.storage.hotcache import HotCache
from strata.storage.mountpaths import Mountpaths
from strata.storage.names import BucketRef
from strata.storage.objects import ObjectStore

HOT_CACHE_BYTES = 64 << 20  # per worker process
HOT_CACHE_MAX_OBJECT = 64 << 10


def jobs_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "meta", "jobs")


def load_node_id(meta_dir: str) -> str:
    """A stable id per data directory, made once (AIStore ids are short random strings)."""
    path = os.path.join(meta_dir, "node_id")
    try:
        with open(path) as f:
            node_id = f.read().strip()
            if node_id:
                return node_id
    except FileNotFoundError:
        pass
    node_id = "".join(
        secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8)
    )
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(node_id)
    try:
        os.link(tmp, path)  # first writer wins if two processes race
    except FileExistsError:
        pass
    os.unlink(tmp)
    with open(path) as f:
        return f.read().strip()


class Node:
    """One embedded node: proxy and target in one process (one per worker, sharing the data dir)."""

    def __init__(
        self,
        *,
        node_id: str,
        host: str,
        port: int,
        meta: MetaStore,
        mountpaths: Mountpaths,
        data_dir: str,
        jobs: JobStore | None = None,
    ) -> None:
        self.node_id = node_id
        self.id_digest = digest(node_id)
        self.host = host
        self.port = port
        self.meta = meta
        self.mountpaths = mountpaths
        self.store = ObjectStore(mountpaths)
        self.data_dir = data_dir
        self.started_ns = time.time_ns()
        self.jobs = jobs if jobs is not None else JobStore(jobs_dir(data_dir), node_id)
        config = meta.config()
        self.load = LoadMonitor(
            [m.root for m in mountpaths.all],
            min_free=config.memsys.min_free,
            disk_high=config.disk.disk_util_high_wm,
            disk_max=config.disk.disk_util_max_wm,
        )
        self.runner = JobRunner(self.jobs, self.load)
        self.hot = HotCache(HOT_CACHE_BYTES, HOT_CACHE_MAX_OBJECT)

    def bucket_props(self, bck: BucketRef, access: int = 0) -> BucketProps:
        """The bucket's current props (404 when it does not exist); checks the access bits asked for."""
        props = self.meta.bmd().require(bck)
        if access and not (props.access & access):
            raise Forbidden(f"{bck.uri}: access denied (bucket access bits do not allow the operation)")
        return props
