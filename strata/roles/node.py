"""The node as the API front sees it: identity, metadata store, object store, start time."""

from __future__ import annotations

import os
import secrets
import time
from typing import TYPE_CHECKING, Any

from strata.auth import Gate, require
from strata.auth import current as current_principal
from strata.auth.cluster_key import NonceLedger
from strata.auth.revoked import FileRevokedTokens
from strata.backends import ais_clusters
from strata.cluster.bmd import BucketMetadata
from strata.cluster.etcd_store import EtcdMetaStore
from strata.cluster.metastore import MetaStore
from strata.cluster.smap import ClusterMap
from strata.config.backend import remote_ais_clusters
from strata.config.bucket_props import BucketProps, new_bucket_props
from strata.core.clock import SYSTEM_CLOCK, Clock
from strata.core.errors import NotImplementedYet
from strata.core.hrw import digest
from strata.core.metrics import Metrics
from strata.core.names import BucketRef
from strata.getbatch.work import GetBatchService
from strata.jobs.load import LoadMonitor
from strata.jobs.lru import LruStarter
from strata.jobs.maintenance import CleanupStarter
from strata.jobs.registry import JobRunner, JobStore
from strata.objects.hotcache import HotCache
from strata.objects.remote import backend as remote_backend
from strata.objects.remote import is_remote
from strata.objects.service import ObjectService
from strata.storage.atimes import AccessTimes
from strata.storage.capacity import Capacity
from strata.storage.interface import ObjectStorage
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore


def _make_gate(node: Node, role: Role, cluster: EtcdMetaStore | None, data_dir: str) -> Gate:
    """The node's gate: revocations and the cluster key in etcd on a cluster, a local file embedded."""
    meta_dir = os.path.join(data_dir, "meta")
    return Gate(
        node.meta.config,
        lambda: node.meta.bmd().uuid,
        cluster.revocations if cluster is not None else FileRevokedTokens(meta_dir),
        node_id=node.node_id,
        in_cluster=role.in_cluster,
        is_target=role.in_cluster and role.stores_objects,
        keyring=cluster.cluster_keys if cluster is not None else None,
        nonces=NonceLedger(os.path.join(meta_dir, "auth", "nonces.sqlite")) if cluster is not None else None,
    )


if TYPE_CHECKING:
    from strata.roles.role import Role

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
    """One node as a worker process sees it: identity, metadata, the object service, jobs, metrics.

    ``role`` is the node's role object (``strata.roles.role``: embedded, proxy or target); fronts ask it
    whatever depends on the role. ``cluster`` is the etcd store in cluster mode, for the metadata only
    a cluster has (maintenance flags, S3 bucket owners); the cluster map and the BMD come from ``meta``
    in every mode. ``store`` is the object service's storage (default: the POSIX store over
    ``mountpaths``; tests pass a ``MemoryStore``).
    """

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
        role: Role,
        cluster: EtcdMetaStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
        store: ObjectStorage | None = None,
    ) -> None:
        self.role = role
        self.clock = clock
        self.cluster = cluster
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
        storage = store if store is not None else self.store
        self.hot = HotCache(HOT_CACHE_BYTES, HOT_CACHE_MAX_OBJECT, storage.current_record)
        self.scheme = "https" if config.net.http.use_https else "http"
        slot = int(os.environ.get("STRATA_WORKER_SLOT", "0"))
        self.metrics = Metrics(os.path.join(data_dir, "meta", "metrics"), slot)
        self.getbatch = GetBatchService(self.runner, self.load, self.metrics, meta.config)
        self.gate = _make_gate(self, role, cluster, data_dir)
        # the disks' watermarks and reads' access times, for a node whose objects are files (space.*, lru)
        on_disk = store is None and role.stores_objects
        roots = [m.root for m in mountpaths.all]
        self.capacity = Capacity(roots, meta.config, clock=clock) if on_disk else None
        self.atimes = AccessTimes() if on_disk else None
        self.objects = ObjectService(
            storage,
            self._lookup_bucket,
            self.metrics,
            self.hot,
            elsewhere=lambda bck, object_name: role.neighbour(self, bck, object_name),
            capacity=self.capacity,
            atimes=self.atimes,
        )
        self.lru = LruStarter(self.runner, self.objects, meta, clock=clock)
        self.cleanup = CleanupStarter(self.runner, self.objects, meta, clock=clock)
        if self.capacity is not None:
            self.capacity.on_cleanup = self.cleanup.on_above
            self.capacity.on_high = self.lru.on_high
        # the attached remote AIS clusters (``ais://@alias/b``), with the UUIDs learned from them
        self.remote_clusters = ais_clusters.AisClusters(
            lambda: remote_ais_clusters(self.meta.config()), os.path.join(data_dir, "meta", "remote_ais.json")
        )
        ais_clusters.install(self.remote_clusters)

    def authorize(self, bits: int, bck: BucketRef | None = None) -> None:
        """403 unless the request's principal (``strata.auth.current``) holds ``bits`` (on the cluster
        when ``bck`` is None); nothing to check when no principal is in scope (auth off, internal work).
        Bucket-scoped checks that also need the bucket's props go through ``bucket_props``."""
        principal = current_principal()
        if principal is not None:
            require(principal, bits, bck)

    def close(self) -> None:
        """Release what the node holds open (in-process tests build and drop many nodes)."""
        if self.atimes is not None:
            self.atimes.close()
        ais_clusters.uninstall(self.remote_clusters)
        self.remote_clusters.close()
        self.meta.close()
        self.metrics.close()

    def cluster_map(self) -> ClusterMap:
        """The cluster map, from the metadata store (embedded: this node as the one proxy and target)."""
        return self.meta.cluster_map()

    def sync_metadata(self) -> None:
        """Before answering a metadata read, catch up with etcd (one small read): a bucket created or
        changed through another node moments ago is then seen here too. Embedded mode is always current."""
        self.meta.refresh()

    def bucket_props(self, bck: BucketRef, access: int = 0) -> BucketProps:
        """The bucket's current props (404 when it does not exist); checks the access bits asked for."""
        return self.objects.bucket(bck, access)

    def present_bucket_props(self, bck: BucketRef) -> BucketProps:
        """The props of a bucket in the BMD (``presence`` 2-4, list flag ``BckPresent``): 404 when it is
        not there, without asking a backend or adding a remote bucket."""
        props = self.meta.bmd().get(bck)
        if props is None:
            self.meta.refresh()
            props = self.meta.bmd().require(bck)
        return props

    def probe_remote_bucket(self, bck: BucketRef) -> BucketProps:
        """A remote bucket's props as they would be if it joined the BMD (``dont_add_remote_bck_md``):
        HEADed through its backend (404/403/424 as for a first reference), ``bid`` 0, nothing stored."""
        probe = new_bucket_props(self.meta.config(), provider=bck.provider, created_ns=0, bid=0)
        found = remote_backend(bck, probe).head_bucket(bck.name)
        overrides = {"versioning": {"enabled": True}} if found.versioning else None
        return new_bucket_props(
            self.meta.config(), provider=bck.provider, created_ns=0, bid=0, overrides=overrides
        )

    def _lookup_bucket(self, bck: BucketRef) -> BucketProps:
        props = self.meta.bmd().get(bck)
        if props is not None:
            return props
        self.meta.refresh()  # another node may have just created it
        props = self.meta.bmd().get(bck)
        if props is not None:
            return props
        if is_remote(bck):  # a cloud bucket joins the BMD on first reference
            return self.add_remote_bucket(bck)
        return self.meta.bmd().require(bck)

    def add_remote_bucket(self, bck: BucketRef, overrides: dict[str, Any] | None = None) -> BucketProps:
        """A cloud bucket joins the BMD (AIStore's add-remote-bck): HEAD it through its backend (404 when
        it does not exist, 403 when the credentials are refused, 424 when the backend cannot be
        reached), then add it with inherited props, ``overrides`` (a create request's) and what the
        backend reports (versioning)."""
        if not is_remote(bck):
            raise NotImplementedYet(f"{bck.uri}: {bck.provider} buckets are not implemented yet")
        config = self.meta.config()
        probe = new_bucket_props(config, provider=bck.provider, created_ns=0, bid=0, overrides=overrides)
        found = remote_backend(bck, probe).head_bucket(bck.name)
        wanted = dict(overrides or {})
        if found.versioning:
            wanted.setdefault("versioning", {"enabled": True})

        def change(bmd: BucketMetadata) -> BucketMetadata:
            if bmd.get(bck) is not None:  # another request added it meanwhile
                return bmd
            created = time.time_ns()
            props = new_bucket_props(
                config, provider=bck.provider, created_ns=created, bid=bmd.version + 1, overrides=wanted
            )
            return bmd.with_bucket(bck, props)

        self.meta.update_bmd(change)
        return self.meta.bmd().require(bck)
