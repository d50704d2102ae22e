"""Rebalance, the cluster metadata side: after the set of active targets changes, every object moves
to its new HRW owner.

Who does what:
- The primary proxy (``RebalanceCoordinator``, in its supervisor) watches the cluster map; when the
  active targets differ from those of the last rebalance, it writes a new rebalance record to etcd
  (compare-and-swap, so two proxies never start two).
- Every target watches that record and runs the move as a job (``strata.jobs.rebalance``), sending
  each object with its metadata in ``METADATA_HEADER``.
- Reads during a rebalance find objects that have not moved yet through get-from-neighbour
  (``find_on_neighbours``).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

import msgspec

from strata.cluster.etcd import EtcdUnavailable
from strata.cluster.etcd_store import EtcdMetaStore
from strata.cluster.peers import CallKind, PeerClient, peer_client
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.cluster.transfer import bucket_params, object_path
from strata.core.errors import PeerUnreachable
from strata.core.names import BucketRef

log = logging.getLogger("strata.rebalance")

DEBOUNCE_S = 1.0
METADATA_HEADER = "Ais-Rebalance-Md"


class RebalanceRecord(msgspec.Struct):
    id: str
    targets: list[str]  # the active targets it balances onto
    map_version: int
    started_ns: int


_record_decoder = msgspec.json.Decoder(RebalanceRecord)


def decode_record(data: bytes | None) -> RebalanceRecord | None:
    if not data:
        return None
    try:
        return _record_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.error("refusing malformed rebalance record in etcd: %r", data[:200])
        return None


class RebalanceCoordinator:
    """On the primary proxy: start a rebalance whenever the active targets change."""

    def __init__(self, store: EtcdMetaStore, my_id: str) -> None:
        self.store = store
        self.my_id = my_id
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.store.listeners.append(self._on_change)
        self._schedule()

    def _on_change(self, what: str) -> None:
        if what == "map":
            self._schedule()

    def _schedule(self) -> None:
        """Wait a moment so that nodes joining together make one rebalance, not several."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(DEBOUNCE_S, self._check)
            self._timer.daemon = True
            self._timer.start()

    def _check(self) -> None:
        cmap = self.store.cluster_map()
        if cmap.primary is None or cmap.primary.id != self.my_id:
            return
        active = sorted(t.id for t in cmap.active)
        try:
            kv = self.store.etcd.get(self.store.prefix + "rebalance")
            current = decode_record(kv.value if kv else None)
            if current is not None and current.targets == active:
                return
            if current is None and len(active) <= 1:
                record = RebalanceRecord("", active, cmap.version, time.time_ns())  # nothing to balance yet
            else:
                record = RebalanceRecord(_new_id(), active, cmap.version, time.time_ns())
            if self.store.etcd.compare_and_swap(
                self.store.prefix + "rebalance", msgspec.json.encode(record), kv.mod_revision if kv else 0
            ):
                log.info(
                    "rebalance %s started: targets %s (map version %d)",
                    record.id or "(baseline)",
                    ",".join(active),
                    cmap.version,
                )
        except EtcdUnavailable as exc:
            log.warning("cannot start a rebalance now: %s", exc.message)
            self._schedule()


def find_on_neighbours(
    cmap: ClusterMap, me: str, bck: BucketRef, name: str, peers: PeerClient | None = None
) -> NodeInfo | None:
    """Get-from-neighbour: which other target holds the object (asked with a local-only HEAD; a
    neighbour that does not answer is skipped)."""
    client = peers or peer_client()
    for target in cmap.targets.values():
        if target.id == me:
            continue
        try:
            resp = client.request(
                "HEAD",
                target,
                object_path(bck, name),
                query=bucket_params(bck, local="true"),
                kind=CallKind.PROBE,
            )
        except PeerUnreachable:
            continue
        if resp.status == 200:
            return target
    return None


def _new_id() -> str:
    return "reb-" + secrets.token_hex(5)
