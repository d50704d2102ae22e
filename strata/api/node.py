"""The node as the API front sees it: identity, metadata store, object store, start time."""

from __future__ import annotations

import os
import secrets
import time

from strata.cluster.hrw import digest
from strata.cluster.metastore import MetaStore
from strata.config.bucket_props import BucketProps
from strata.errors import Forbidden
from strata.storage.mountpaths import Mountpaths
from strata.storage.names import BucketRef
from strata.storage.objects import ObjectStore


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
        self, *, node_id: str, host: str, port: int, meta: MetaStore, mountpaths: Mountpaths, data_dir: str
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

    def bucket_props(self, bck: BucketRef, access: int = 0) -> BucketProps:
        """The bucket's current props (404 when it does not exist); checks the access bits asked for."""
        props = self.meta.bmd().require(bck)
        if access and not (props.access & access):
            raise Forbidden(f"{bck.uri}: access denied (bucket access bits do not allow the operation)")
        return props
