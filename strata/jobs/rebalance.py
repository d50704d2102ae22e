"""The rebalance job on a target: send every local object whose HRW owner is now another target there.

The cluster side -- the rebalance record in etcd and the primary proxy's coordinator that writes it
-- is cluster metadata and lives in ``strata.cluster.rebalance``. Here is the work: every target
(``TargetRebalancer``, in its supervisor) watches that record; for a new one it aborts the rebalance
it may be running and starts a ``rebalance`` job that walks its local objects and sends each one
whose owner is now another target there, then deletes its own copy. move-bck in a cluster runs the
same walk over the renamed bucket.

Objects are read and dropped through the object service, as internal moves: no access bits (a
rebalance moves read-only buckets' objects too), no client counters; the receiver stores the bytes
with the metadata they carry (``ObjectService.receive``) and refuses bytes that do not match its
checksum.

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
import threading

from strata.cluster.etcd_store import EtcdMetaStore
from strata.cluster.rebalance import METADATA_HEADER, RebalanceRecord, decode_record
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.cluster.transfer import put_object
from strata.config.bucket_props import BucketProps
from strata.core.errors import ObjectNotFound, PeerUnreachable
from strata.core.metrics import Metrics
from strata.core.names import BucketRef
from strata.jobs.registry import Job, JobRunner, JobStore
from strata.objects.hotcache import HotCache
from strata.objects.service import ObjectService
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

log = logging.getLogger("strata.rebalance")

SENDERS = 4


class TargetRebalancer:
    """On a target: run the current rebalance as a job; restart it when a newer one is recorded."""

    def __init__(self, store: EtcdMetaStore, me: str, mountpaths: Mountpaths, jobs: JobStore) -> None:
        self.store = store
        self.me = me
        storage = ObjectStore(mountpaths)
        # the supervisor's own view of the objects: nothing cached, nothing counted (see Metrics)
        self.objects = ObjectService(
            storage, self._bucket_props, Metrics(None), HotCache(0, 0, storage.current_record)
        )
        self.jobs = jobs
        self.runner = JobRunner(jobs)
        self.current: RebalanceRecord | None = None
        self.job: Job | None = None
        self._lock = threading.Lock()

    def _bucket_props(self, bck: BucketRef) -> BucketProps:
        return self.store.bmd().require(bck)

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
    job: Job, objects: ObjectService, cmap: ClusterMap, me: str, buckets: list[BucketRef], transfer_id: str
) -> None:
    """Send every local object whose HRW owner is another target there, then drop the local copy.

    ``SENDERS`` transfers run at once (each waits on the network and the receiver), with at most
    twice as many queued, so memory stays bounded whatever the number of objects.
    """

    def move(bck: BucketRef, name: str, owner: NodeInfo) -> None:
        size = send_object(objects, owner, bck, name, transfer_id)
        if size < 0:
            return
        try:
            objects.remove_moved(bck, name)
        except ObjectNotFound:  # deleted meanwhile: nothing left to do
            return
        job.add(1, size, direction="out")

    pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(SENDERS, thread_name_prefix="rebalance-send") as pool:
        for bck in buckets:
            for name in objects.names(bck):
                job.check()
                owner = cmap.target_for(bck, name)
                if owner is None or owner.id == me:
                    continue
                pending.append(pool.submit(move, bck, name, owner))
                while len(pending) > 2 * SENDERS:
                    pending.popleft().result()
        while pending:
            pending.popleft().result()


def send_object(objects: ObjectService, owner: NodeInfo, bck: BucketRef, name: str, rebalance_id: str) -> int:
    """PUT one object (bytes and metadata) to its owner: the size sent once the owner holds it or a
    newer version, -1 when it is not sent (gone meanwhile, owner unreachable or refusing)."""
    try:
        obj = objects.open_unchecked(bck, name)
    except ObjectNotFound:
        return -1
    try:
        resp = put_object(
            owner,
            bck,
            name,
            obj.fd,
            obj.metadata.stored,  # a compressed version moves as it is stored, with its record
            params={"rebalance": rebalance_id},
            headers={METADATA_HEADER: base64.b64encode(obj.whole_record()).decode()},
        )
    except PeerUnreachable as exc:
        log.warning("rebalance: sending %s failed: %s", bck.object_uri(name), exc.message)
        return -1
    finally:
        obj.close()
    if resp.status != 200:
        log.warning(
            "rebalance: %s refused %s: %s %s",
            owner.id,
            bck.object_uri(name),
            resp.status,
            resp.text[:200],
        )
        return -1
    return obj.size
