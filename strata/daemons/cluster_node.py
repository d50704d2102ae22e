"""``strata proxy`` and ``strata target``: a node of a cluster whose control plane is etcd.

The supervisor process (1) connects to etcd and loads the cluster's metadata, (2) binds the socket,
(3) registers the node under a lease and keeps the lease alive on a thread -- the lease *is* the
node's liveness: if the process dies, etcd drops the registration after ``LEASE_TTL`` seconds and
every node's cluster map loses it --, (4) on a target, removes the data of buckets that left the
BMD, and (5) forks the workers, each with its own watched view of etcd.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from strata.auth.gate import open_fronts
from strata.auth.settings import auth_settings
from strata.cluster import peers
from strata.cluster.etcd import Etcd, EtcdUnavailable
from strata.cluster.etcd_store import EtcdMetaStore
from strata.cluster.rebalance import RebalanceCoordinator
from strata.cluster.smap import NodeInfo
from strata.config.cluster import ConfigError, load_cluster_config
from strata.core.errors import Conflict
from strata.core.names import BucketRef
from strata.daemons.supervisor import default_data_dir, listen, setup_logging, supervise
from strata.daemons.worker import worker_main
from strata.jobs.rebalance import TargetRebalancer
from strata.jobs.registry import JobStore
from strata.roles.node import Node, jobs_dir, load_node_id
from strata.roles.role import ROLES, TargetRole
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

log = logging.getLogger("strata.node")

LEASE_TTL = 6
ROTATION_CHECK_S = 60.0
KEEPALIVE_EVERY = 2.0


def serve_cluster_node(
    *,
    role: str,
    host: str,
    port: int,
    public_host: str | None,
    data_dir: str | None,
    mountpaths: list[str],
    etcd_urls: list[str],
    cluster: str,
    config_path: str | None,
    workers: int,
) -> int:
    setup_logging()
    data_dir = os.path.abspath(data_dir or default_data_dir())
    meta_dir = os.path.join(data_dir, "meta")
    os.makedirs(meta_dir, exist_ok=True)
    roots = mountpaths or [os.path.join(data_dir, "mp")]
    node_id = load_node_id(meta_dir)
    # 1. etcd and the cluster's metadata (a config file, when given, becomes the cluster's config)
    try:
        store = EtcdMetaStore(Etcd(etcd_urls), cluster).start()
        if config_path is not None:
            config = load_cluster_config(config_path)
            store.update_config(lambda _current: config)
        auth_settings(store.config())  # auth on with no key (nor AIS_AUTHN_* here) stops the node now
        store.ensure_cluster_key()  # signs redirects and node-to-node calls (strata.auth.cluster_key)
    except ConfigError as exc:
        print(f"strata: invalid config: {exc.message}", file=sys.stderr)
        return 2
    except EtcdUnavailable as exc:
        print(f"strata: {exc.message}", file=sys.stderr)
        return 2
    mounts = Mountpaths(roots)
    if role == TargetRole.name:
        mounts.clean_work_dirs(store.bmd().refs())
        mounts.empty_trash()
        mounts.reset_indexes()
        ObjectStore(mounts).close()  # opens the savings ledger once: a stale one is recounted here
        JobStore(jobs_dir(data_dir), node_id).settle_after_restart()
    # 2. the socket
    try:
        sock = listen(host, port)
    except OSError as exc:
        print(f"strata: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    advertised = public_host or (host if host not in ("0.0.0.0", "::", "") else "127.0.0.1")
    http = store.config().net.http
    me = NodeInfo(
        node_id, role, advertised, port, time.time_ns(), scheme="https" if http.use_https else "http"
    )
    # node-to-node calls: TLS and timeouts from the cluster config, signed with the cluster key
    peers.configure(store.config, peers.call_signer(node_id, store.cluster_keys))
    # 3. membership: register under a lease, keep it alive
    try:
        lease = store.register(me, LEASE_TTL)
    except (Conflict, EtcdUnavailable) as exc:
        print(f"strata: cannot join the cluster: {exc.message}", file=sys.stderr)
        return 2
    membership = _Membership(store, me, lease)
    membership.start()
    # 4. a target drops the data of destroyed buckets and moves objects in rebalances; the primary
    #    proxy starts rebalances when the active targets change
    if role == TargetRole.name:
        _watch_destroyed_buckets(store, mounts)
        TargetRebalancer(store, node_id, mounts, JobStore(jobs_dir(data_dir), node_id)).start()
    else:
        RebalanceCoordinator(store, node_id).start()
        _rotate_cluster_key_when_due(store)
    for warning in open_fronts(store.config(), in_cluster=True):
        log.warning("AUTH: OPEN FRONT: %s", warning)
    count = workers if workers > 0 else (os.cpu_count() or 1)
    log.info(
        "%s %s serving on %s with %d worker(s); etcd %s; cluster %r",
        role,
        node_id,
        me.url,
        count,
        ",".join(etcd_urls),
        cluster,
    )

    # 5. workers, each with its own watched view of etcd
    def make_node() -> Node:
        view = EtcdMetaStore(Etcd(etcd_urls), cluster).start()
        # this worker's own client, on its own view of the config and of the cluster key
        peers.configure(view.config, peers.call_signer(node_id, view.cluster_keys))
        return Node(
            node_id=node_id,
            host=advertised,
            port=port,
            meta=view,
            mountpaths=Mountpaths(roots),
            data_dir=data_dir,
            role=ROLES[role](),
            cluster=view,
        )

    return supervise(sock, count, lambda: worker_main(sock, make_node), on_stop=membership.leave)


class _Membership:
    """Keeps this node's lease alive; re-registers after the lease was lost (etcd restarted)."""

    def __init__(self, store: EtcdMetaStore, me: NodeInfo, lease: int) -> None:
        self.store = store
        self.me = me
        self.lease = lease
        self.stopped = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="lease-keepalive", daemon=True).start()

    def _run(self) -> None:
        while not self.stopped.wait(KEEPALIVE_EVERY):
            try:
                if self.store.etcd.lease_keepalive(self.lease) > 0:
                    continue
                log.warning("lease %x expired; registering again", self.lease)
                self.lease = self.store.register(self.me, LEASE_TTL)
            except EtcdUnavailable as exc:
                log.warning("cannot reach etcd to keep the lease alive: %s", exc.message)
            except Conflict:
                log.error("another live node registered with id %s; not re-registering", self.me.id)

    def leave(self) -> None:
        """Graceful stop: drop the registration now instead of waiting for the lease to expire."""
        self.stopped.set()
        try:
            self.store.etcd.lease_revoke(self.lease)
        except EtcdUnavailable:
            pass


def _rotate_cluster_key_when_due(store: EtcdMetaStore) -> None:
    """A proxy replaces the cluster key once it is ``auth.cluster_key.ttl`` old (0: never); every proxy
    checks, the compare-and-swap lets one of them do it."""

    def run() -> None:
        while True:
            time.sleep(ROTATION_CHECK_S)
            intra = store.config().auth.intra_cluster
            if intra is None or not intra.request_auth or not intra.ttl:
                continue
            try:
                store.rotate_cluster_key(intra.rotation_grace, older_than_s=intra.ttl)
            except (EtcdUnavailable, Conflict) as exc:
                log.warning("cannot rotate the cluster key now: %s", exc.message)

    threading.Thread(target=run, name="cluster-key-rotation", daemon=True).start()


def _watch_destroyed_buckets(store: EtcdMetaStore, mounts: Mountpaths) -> None:
    known = dict(store.bmd().buckets)

    def on_change(what: str) -> None:
        nonlocal known
        if what != "bmd":
            return
        current = dict(store.bmd().buckets)
        for key in known.keys() - current.keys():
            if known[key].renamed:  # renamed, not destroyed: the move job keeps its data
                continue
            log.info("bucket %s was destroyed: removing its data", key)
            objects = ObjectStore(mounts)  # through the store: the savings ledger drops the bucket too
            try:
                objects.destroy_bucket(BucketRef.from_key(key))
            except OSError as exc:
                log.error("cannot remove the data of %s: %s", key, exc)
            finally:
                objects.close()
        known = current

    store.listeners.append(on_change)
