"""``MetaStore`` on etcd: the BMD, the cluster config and the cluster map, cached and watched.

Layout under ``/strata/<cluster>/``::

    bmd              the bucket metadata (JSON, its own "version" inside)
    config           the cluster config (AIStore JSON)
    nodes/<id>       a live node's registration (NodeInfo), bound to its lease
    flags/<id>       persistent node flags (maintenance, decommission)
    rebalance        the last rebalance started (its id and the map version it targets)
    auth/cluster_key the key ring that signs redirects and node-to-node calls (``strata.auth.cluster_key``)
    auth/revoked/<d> a revoked token's SHA-256 digest, under a lease that ends when the token expires

Reads never touch etcd: they come from a cache that one watch per process keeps current. Changes
are compare-and-swap transactions on the key's mod_revision, retried on conflict; when etcd is
unreachable they fail with ``EtcdUnavailable`` (503) while reads go on from the cache. A record
that does not parse, or a BMD whose version goes backwards, is refused with a log line and the
cache keeps the last good value.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable
from typing import TypeVar

import msgspec

from strata.auth.cluster_key import KeyRing, decode_ring, encode_ring
from strata.cluster.bmd import BucketMetadata
from strata.cluster.etcd import Etcd, EtcdUnavailable, KeyValue, WatchEvent
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.config.cluster import (
    ClusterConfig,
    cluster_config_from_json,
    cluster_config_to_json,
    default_cluster_config,
)
from strata.core.errors import Conflict, StrataError

log = logging.getLogger("strata.cluster")

CAS_ATTEMPTS = 20
T = TypeVar("T")
_node_decoder = msgspec.json.Decoder(NodeInfo)


CLUSTER_KEY = "auth/cluster_key"
REVOKED = "auth/revoked/"


class EtcdRevokedTokens:
    """The revocation list of a cluster (``strata.auth.revoked.RevokedTokens``), kept in etcd."""

    def __init__(self, store: EtcdMetaStore) -> None:
        self._store = store

    def is_revoked(self, digest: str) -> bool:
        return self._store.is_revoked(digest)

    def revoke(self, entries: Iterable[tuple[str, float]]) -> None:
        self._store.revoke_tokens(entries)


class EtcdMetaStore:
    def __init__(self, etcd: Etcd, cluster: str = "strata") -> None:
        self.etcd = etcd
        self.prefix = f"/strata/{cluster}/"
        self._lock = threading.Lock()
        self._bmd: BucketMetadata | None = None
        self._bmd_rev = 0
        self._config: ClusterConfig | None = None
        self._config_rev = 0
        self._nodes: dict[str, NodeInfo] = {}
        self._flags: dict[str, int] = {}
        self._map: ClusterMap | None = None
        self._revision = 0
        self._stop = threading.Event()
        self.listeners: list[Callable[[str], None]] = []  # called with "bmd" | "map" | "config"
        self._keyring = KeyRing()
        self._revoked: set[str] = set()
        self.revocations = EtcdRevokedTokens(self)

    # -- start-up ---------------------------------------------------------------------------------

    def start(self, *, watch: bool = True) -> EtcdMetaStore:
        """Load everything once (creating the BMD and config if this is a new cluster), then watch."""
        self._ensure_defaults()
        kvs, revision = self.etcd.get_prefix(self.prefix)
        with self._lock:
            for kv in kvs:
                self._apply_put(kv.key, kv.value, kv.mod_revision, kv.create_revision)
            self._revision = revision
            self._rebuild_map()
        if watch:
            self.etcd.watch_prefix(self.prefix, revision, self._on_events, self._stop)
        return self

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()

    def _ensure_defaults(self) -> None:
        bmd = BucketMetadata(1, uuidlib.uuid4().hex[:12], {})
        self.etcd.compare_and_swap(self.prefix + "bmd", bmd.to_json(), 0)
        config = cluster_config_to_json(default_cluster_config(), mask_secrets=False)
        self.etcd.compare_and_swap(self.prefix + "config", config, 0)

    # -- the cache --------------------------------------------------------------------------------

    def _on_events(self, events: list[WatchEvent], revision: int) -> None:
        changed: set[str] = set()
        with self._lock:
            for event in events:
                if event.kind == "delete":
                    changed |= self._apply_delete(event.key)
                else:
                    changed |= self._apply_put(event.key, event.value, event.mod_revision, 0)
            self._revision = max(self._revision, revision)
            if "map" in changed:
                self._rebuild_map()
        for what in changed:
            for listener in self.listeners:
                try:
                    listener(what)
                except Exception:
                    log.exception("metadata listener failed on %s", what)

    def _apply_put(self, key: str, value: bytes, mod_revision: int, create_revision: int) -> set[str]:
        name = key[len(self.prefix) :]
        try:
            if name == "bmd":
                bmd = BucketMetadata.from_json(value)
                if self._bmd is not None and bmd.version < self._bmd.version:
                    log.error(
                        "refusing BMD version %d from etcd: older than version %d",
                        bmd.version,
                        self._bmd.version,
                    )
                    return set()
                self._bmd, self._bmd_rev = bmd, mod_revision
                return {"bmd"}
            if name == "config":
                self._config, self._config_rev = cluster_config_from_json(value), mod_revision
                return {"config"}
            if name.startswith("nodes/"):
                node = _node_decoder.decode(value)
                if node.id != name[len("nodes/") :]:
                    raise ValueError(f"registration under {name} names node {node.id}")
                if create_revision == 0 and node.id in self._nodes:
                    create_revision = self._nodes[node.id].create_revision
                self._nodes[node.id] = msgspec.structs.replace(
                    node, create_revision=create_revision or mod_revision
                )
                return {"map"}
            if name.startswith("flags/"):
                self._flags[name[len("flags/") :]] = int(value or b"0")
                return {"map"}
            if name == "rebalance":
                return {"rebalance"}
            if name == CLUSTER_KEY:
                self._keyring = decode_ring(value)
                return {"cluster_key"}
            if name.startswith(REVOKED):
                self._revoked.add(name[len(REVOKED) :])
                return set()
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, StrataError) as exc:
            log.error("refusing malformed %s in etcd: %s", name, exc)
        return set()

    def _apply_delete(self, key: str) -> set[str]:
        name = key[len(self.prefix) :]
        if name.startswith("nodes/"):
            self._nodes.pop(name[len("nodes/") :], None)
            return {"map"}
        if name.startswith("flags/"):
            self._flags.pop(name[len("flags/") :], None)
            return {"map"}
        if name.startswith(REVOKED):  # the token expired: its lease ended
            self._revoked.discard(name[len(REVOKED) :])
        return set()

    def _rebuild_map(self) -> None:
        uuid = self._bmd.uuid if self._bmd is not None else ""
        self._map = ClusterMap(self._revision, uuid, list(self._nodes.values()), dict(self._flags))

    # -- MetaStore ----------------------------------------------------------------------------------

    def bmd(self) -> BucketMetadata:
        assert self._bmd is not None, "start() first"
        return self._bmd

    def config(self) -> ClusterConfig:
        assert self._config is not None, "start() first"
        return self._config

    def cluster_map(self) -> ClusterMap:
        assert self._map is not None, "start() first"
        return self._map

    def refresh(self) -> None:
        """Read the BMD and config again now (after another worker changed them)."""
        for name in ("bmd", "config"):
            kv = self.etcd.get(self.prefix + name)
            if kv is not None:
                with self._lock:
                    self._apply_put(kv.key, kv.value, kv.mod_revision, kv.create_revision)

    def update_bmd(self, change: Callable[[BucketMetadata], BucketMetadata]) -> BucketMetadata:
        def decode(kv: KeyValue) -> BucketMetadata:
            return BucketMetadata.from_json(kv.value)

        updated = self._cas("bmd", decode, change, lambda b: b.to_json())
        with self._lock:
            if self._bmd is None or updated.version >= self._bmd.version:
                self._bmd = updated
        return updated

    def update_config(self, change: Callable[[ClusterConfig], ClusterConfig]) -> ClusterConfig:
        updated = self._cas(
            "config",
            lambda kv: cluster_config_from_json(kv.value),
            change,
            lambda c: cluster_config_to_json(c, mask_secrets=False),
        )
        with self._lock:
            self._config = updated
        return updated

    def _cas(
        self,
        name: str,
        decode: Callable[[KeyValue], T],
        change: Callable[[T], T],
        encode: Callable[[T], bytes],
    ) -> T:
        key = self.prefix + name
        for _ in range(CAS_ATTEMPTS):
            kv = self.etcd.get(key)
            if kv is None:
                raise EtcdUnavailable(f"etcd has no {name} for this cluster")
            current = decode(kv)
            updated = change(current)
            if updated is current:
                return current
            if self.etcd.compare_and_swap(key, encode(updated), kv.mod_revision):
                return updated
            time.sleep(0.005)
        raise Conflict(f"{name} changed concurrently {CAS_ATTEMPTS} times in a row; retry")

    # -- auth: the cluster key and revoked tokens ---------------------------------------------------

    def cluster_keys(self) -> KeyRing:
        """The key ring as last seen (watched; ``ensure_cluster_key`` makes the first key)."""
        return self._keyring

    def ensure_cluster_key(self) -> KeyRing:
        """Create the cluster's first key unless one exists (every node calls it at start; one wins)."""
        ring = KeyRing().rotated(time.time_ns(), 0.0)
        self.etcd.compare_and_swap(self.prefix + CLUSTER_KEY, encode_ring(ring), 0)
        kv = self.etcd.get(self.prefix + CLUSTER_KEY)
        if kv is not None:
            with self._lock:
                self._keyring = decode_ring(kv.value)
        return self._keyring

    def rotate_cluster_key(self, grace_s: float, *, older_than_s: float = 0.0) -> KeyRing:
        """A new signing key; the previous one keeps verifying for ``grace_s``. With ``older_than_s``,
        only when the current key is at least that old (a periodic check by every proxy: one rotates)."""

        self.ensure_cluster_key()

        def change(ring: KeyRing) -> KeyRing:
            current = ring.current
            now = time.time_ns()
            if older_than_s and current is not None and now - current.created_ns < older_than_s * 1e9:
                return ring
            return ring.rotated(now, grace_s)

        rotated = self._cas(CLUSTER_KEY, lambda kv: decode_ring(kv.value), change, encode_ring)
        with self._lock:
            self._keyring = rotated
        return rotated

    def revoke_tokens(self, entries: Iterable[tuple[str, float]]) -> None:
        now = time.time()
        for digest, expires in entries:
            ttl = int(expires - now) + 1
            if ttl <= 0:
                continue
            lease = self.etcd.lease_grant(ttl)
            self.etcd.put(self.prefix + REVOKED + digest, str(expires).encode(), lease=lease)
            with self._lock:
                self._revoked.add(digest)

    def is_revoked(self, digest: str) -> bool:
        return digest in self._revoked

    # -- membership ----------------------------------------------------------------------------------

    def register(self, node: NodeInfo, ttl: int) -> int:
        """Put this node's registration under a new lease; refuses a live duplicate id."""
        lease = self.etcd.lease_grant(ttl)
        key = self.prefix + f"nodes/{node.id}"
        value = msgspec.json.encode(node)
        if not self.etcd.compare_and_swap(key, value, 0, lease=lease):
            self.etcd.lease_revoke(lease)
            raise Conflict(f'a live node with id "{node.id}" is already registered in etcd')
        return lease

    def set_flags(self, node_id: str, flags: int) -> None:
        key = self.prefix + f"flags/{node_id}"
        if flags:
            self.etcd.put(key, str(flags).encode())
        else:
            self.etcd.delete(key)

    def get_rebalance(self) -> bytes | None:
        kv = self.etcd.get(self.prefix + "rebalance")
        return kv.value if kv is not None else None
