"""Rebalance: after the set of active targets changes, every object moves to its new HRW owner.

Who does what:
- The primary proxy (``RebalanceCoordinator``, in its supervisor) watches the cluster map; when the
  active targets differ from those of the last rebalance, it writes a new rebalance record to etcd
  (compare-and-swap, so two proxies never start two).
- Every target (``TargetRebalancer``, in its supervisor) watches that record; for a new one it aborts
  the rebalance it may be running and starts a ``rebalance`` job that walks its local objects and
  sends each one whose owner is now another target there, then deletes its own copy.

Why nothing is lost or duplicated: an object is deleted only after its owner answered that it
stored it (or already had the same or a newer version); an interrupted rebalance leaves objects
either where they were or on their owner, and the next rebalance continues from there. Reads
during a rebalance find objects that have not moved yet through get-from-neighbour.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import logging
import os
import secrets
import threading
import time

import msgspec

from strata.cluster.etcd import EtcdUnavailable
from strata.cluster.etcd_store import EtcdMetaStore
from strata.cluster.peers import CallKind, PeerClient, peer_client
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.cluster.transfer import bucket_params, object_path, put_object
from strata.core.errors import ObjectNotFound, PeerUnreachable
from strata.core.names import BucketRef
from strata.jobs.registry import Job, JobRunner, JobStore
from strata.storage.listing import iter_names
from strata.storage.metadata import read_metadata_raw
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

log = logging.getLogger("strata.rebalance")

DEBOUNCE_S = 1.0
SENDERS = 4
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


class TargetRebalancer:
    """On a target: run the current rebalance as a job; restart it when a newer one is recorded."""

    def __init__(self, store: EtcdMetaStore, me: str, mountpaths: Mountpaths, jobs: JobStore) -> None:
        self.store = store
        self.me = me
        self.mountpaths = mountpaths
        self.objects = ObjectStore(mountpaths)
        self.jobs = jobs
        self.runner = JobRunner(jobs)
        self.current: RebalanceRecord | None = None
        self.job: Job | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.store.listeners.append(self._on_change)
        self._on_change("rebalance")

    def _on_change(self, what: str) -> None:
        if what != "rebalance":
            return
        record = decode_record(self.store.get_rebalance())
        with self._lock:
            if record is None or not record.id or (self.current is not None and self.current.id == record.id):
                return
            if self.job is not None:
                self.jobs.request_abort(self.job.id)
            self.current = record
            if self.jobs.load(record.id) is not None:
                return  # this target already ran (or runs) this rebalance
            self.job = self.jobs.create("rebalance", job_id=record.id)
            self.runner.start(self.job, lambda job: self.run(job, record))

    def run(self, job: Job, record: RebalanceRecord) -> None:
        move_misplaced(
            job, self.objects, self.store.cluster_map(), self.me, self.store.bmd().refs(), record.id
        )
        log.info("rebalance %s: this target is done", record.id)


def move_misplaced(
    job: Job, objects: ObjectStore, cmap: ClusterMap, me: str, buckets: list[BucketRef], transfer_id: str
) -> None:
    """Send every local object whose HRW owner is another target there, then drop the local copy.

    ``SENDERS`` transfers run at once (each waits on the network and the receiver), with at most
    twice as many queued, so memory stays bounded whatever the number of objects.
    """

    def move(bck: BucketRef, name: str, path: str, owner: NodeInfo) -> None:
        if not send_object(owner, bck, name, path, transfer_id):
            return
        try:
            size = os.stat(path).st_size
            objects.delete(bck, name)
        except (OSError, ObjectNotFound):  # deleted meanwhile: nothing left to do
            return
        job.add(1, size, direction="out")

    pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(SENDERS, thread_name_prefix="rebalance-send") as pool:
        for bck in buckets:
            for mp in objects.mountpaths.all:
                for name, _is_dir in iter_names(objects.mountpaths, bck, only=mp):
                    job.check()
                    owner = cmap.target_for(bck, name)
                    if owner is None or owner.id == me:
                        continue
                    pending.append(pool.submit(move, bck, name, mp.object_path(bck, name), owner))
                    while len(pending) > 2 * SENDERS:
                        pending.popleft().result()
        while pending:
            pending.popleft().result()


def send_object(owner: NodeInfo, bck: BucketRef, name: str, path: str, rebalance_id: str) -> bool:
    """PUT one object (bytes and metadata) to its owner; True once the owner holds it or newer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        found = read_metadata_raw(fd)
        if found is None:
            return False
        md, raw = found
        resp = put_object(
            owner,
            bck,
            name,
            fd,
            md.size,
            params={"rebalance": rebalance_id},
            headers={METADATA_HEADER: base64.b64encode(raw).decode()},
        )
    except PeerUnreachable as exc:
        log.warning("rebalance: sending %s failed: %s", bck.object_uri(name), exc.message)
        return False
    finally:
        os.close(fd)
    if resp.status != 200:
        log.warning(
            "rebalance: %s refused %s: %s %s",
            owner.id,
            bck.object_uri(name),
            resp.status,
            resp.text[:200],
        )
        return False
    return True


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
