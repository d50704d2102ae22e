"""Capacity watermarks and LRU eviction, in-process: the logic of ``storage.capacity``, ``storage.atimes``
and the ``lru`` job (``jobs.lru``) through the node's real fronts, object service and POSIX store.

The node's disk is simulated (``SmallDisk``): its size is set by the test and its use is what the
object files really take (allocated blocks, as ``statfs`` counts them), so the watermarks are reached
by storing objects. A remote bucket's cache is filled as a cold GET fills it -- the object service's
local write for a remote bucket, ``through=False`` -- without a backend: no test here reaches the
network (``tests/backends/test_lru.py`` does the same against moto on a real small filesystem).
Time passing is the objects' access times set back in their files.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strata.config.access import ACCESS_DELETE_OBJECT, ACCESS_RW
from strata.config.bucket_props import new_bucket_props
from strata.core.clock import FakeClock
from strata.core.errors import InsufficientStorage
from strata.core.names import BucketRef
from strata.jobs.registry import JobRecord
from strata.storage.atimes import AccessTimes
from strata.storage.capacity import SHORT_INTERVAL_S, Capacity
from strata.storage.ledger import recount

from .inprocess import InProcessNode
from .inprocess_cluster import InProcessCluster

KIB = 1024
OBJECT = 16 * KIB  # a whole number of 4 KiB blocks: what a file takes is its size
HOUR_NS = 3600 * 10**9
CACHED = BucketRef.parse("cache", "aws")
PLAIN = BucketRef.parse("plain", "ais")
WATERMARKS = {"cleanupwm": 20, "lowwm": 30, "highwm": 50, "out_of_space": 80}


class SmallDisk:
    """A disk of ``total`` bytes whose use is the allocated blocks of the object and work files on it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.measures = 0

    def __call__(self, root: str) -> tuple[int, int]:
        self.measures += 1
        used = 0
        for path in Path(root).rglob("*"):
            if ("%ob" in path.parts or "%wk" in path.parts) and path.is_file():
                used += path.stat().st_blocks * 512
        return self.total, used


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def node(tmp_path: Path, clock: FakeClock) -> Iterator[InProcessNode]:
    config = {"space": WATERMARKS, "lru": {"enabled": True, "capacity_upd_time": "10s"}}
    node = InProcessNode(tmp_path, config=config, clock=clock)
    yield node
    node.close()


@pytest.fixture
def disk(node: InProcessNode) -> SmallDisk:
    """The node's disk, roomy until the test shrinks it."""
    disk = SmallDisk(1 << 40)
    assert node.node.capacity is not None
    node.node.capacity.measure = disk
    return disk


def _add_remote_bucket(
    node: InProcessNode, bck: BucketRef, overrides: dict[str, object] | None = None
) -> None:
    """A cloud bucket in the BMD, as its first reference adds it (without asking a backend)."""
    meta = node.node.meta

    props = new_bucket_props(meta.config(), provider=bck.provider, created_ns=time.time_ns(), bid=1,
                             overrides=overrides)  # fmt: skip
    meta.update_bmd(lambda bmd: bmd.with_bucket(bck, props))
    node.node.objects.create_bucket(bck)


def _cache(node: InProcessNode, bck: BucketRef, name: str, data: bytes) -> None:
    """Store a remote object's copy the way a cold GET does (the backend's bytes, written locally)."""
    out = node.node.objects.put(bck, name, size_hint=len(data), through=False)
    out.write(data)
    out.commit()


def _read_long_ago(node: InProcessNode, bck: BucketRef, name: str, hours_ago: float) -> None:
    """Time passes: the object was last read ``hours_ago`` hours ago."""
    path = node.node.store.location(bck, name)
    then = time.time_ns() - int(hours_ago * HOUR_NS)
    os.utime(path, ns=(then, os.stat(path).st_mtime_ns))


def _cached_names(node: InProcessNode, bck: BucketRef) -> list[str]:
    return list(node.node.objects.names(bck))


def _wait_for_lru(node: InProcessNode, timeout: float = 10.0, kind: str = "lru") -> JobRecord:
    """The node's last job of ``kind``, once every one of them has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = node.node.jobs.find(kind=kind)
        if records and all(record.finished for record in records):
            return records[-1]
        time.sleep(0.01)
    raise AssertionError(f"no finished {kind} job within {timeout}s: {node.node.jobs.find(kind=kind)}")


def _create_plain(node: InProcessNode) -> None:
    body = json.dumps({"action": "create-bck"}).encode()
    assert node.call("POST", f"/v1/buckets/{PLAIN.name}", "provider=ais", body).status == 200


def _start_lru(node: InProcessNode, buckets: list[BucketRef], query: str = "") -> tuple[int, bytes]:
    """``client.job(job_kind="lru").start(buckets=...)`` as the SDK sends it."""
    models = [
        {"name": b.name, "provider": b.provider, "namespace": {"uuid": "", "name": ""}} for b in buckets
    ]
    value = {"ID": "", "Kind": "lru", "DaemonID": "", "Bck": models[0] if len(models) == 1 else None,
             "Buckets": models if len(models) > 1 else None}  # fmt: skip
    body = json.dumps({"action": "start", "value": value}).encode()
    answer = node.call("PUT", "/v1/cluster", query, body)
    return answer.status, answer.body


def _fill(node: InProcessNode, disk: SmallDisk) -> None:
    """Ten cached objects (``o-0`` read longest ago, 20 h; ``o-9`` 11 h ago) and two plain ones, on a
    disk of 320 KiB: 176 KiB used, 55% (above highwm 50); getting down to lowwm (30%, 96 KiB) frees
    exactly five cached objects."""
    _add_remote_bucket(node, CACHED)
    _create_plain(node)
    for i in range(10):
        _cache(node, CACHED, f"o-{i}", bytes([i]) * OBJECT)
    for i in range(2):
        assert (
            node.call("PUT", f"/v1/objects/{PLAIN.name}/p-{i}", "provider=ais", b"p" * 8 * KIB).status == 200
        )
    for i in range(10):
        _read_long_ago(node, CACHED, f"o-{i}", 20 - i)
    disk.total = 320 * KIB


def _ledger_matches_recount(node: InProcessNode) -> None:
    ledger = node.node.store.ledger
    assert ledger is not None
    assert ledger.totals() == recount(node.node.store)


# --- the lru job ----------------------------------------------------------------------------------


def test_lru_evicts_the_least_recently_read_copies_down_to_lowwm(
    node: InProcessNode, disk: SmallDisk
) -> None:
    _fill(node, disk)
    # o-0 and o-1 are read now: no longer the oldest. o-0 by a GET from its file; o-1, whose earlier
    # read put it in the hot cache, by a GET answered from memory
    assert node.call("GET", f"/v1/objects/{CACHED.name}/o-0", "provider=aws").body == bytes([0]) * OBJECT
    assert node.call("GET", f"/v1/objects/{CACHED.name}/o-1", "provider=aws").status == 200
    assert node.node.atimes is not None
    node.node.atimes.flush()
    _read_long_ago(node, CACHED, "o-1", 19)
    hits = node.node.metrics.totals().get("hot_hit_count", 0)
    assert node.call("GET", f"/v1/objects/{CACHED.name}/o-1", "provider=aws").body == bytes([1]) * OBJECT
    assert node.node.metrics.totals().get("hot_hit_count", 0) == hits + 1
    status, job_id = _start_lru(node, [CACHED])
    assert status == 200 and job_id
    record = _wait_for_lru(node)
    assert record.id == job_id.decode() and not record.aborted, record
    assert (record.objects, record.bytes) == (5, 5 * OBJECT)
    # the five read longest ago went; those read recently and the newer ones stayed
    assert _cached_names(node, CACHED) == ["o-0", "o-1", "o-7", "o-8", "o-9"]
    assert _cached_names(node, PLAIN) == ["p-0", "p-1"]  # a plain ais bucket is never touched
    usage = node.node.objects.disk_usage(fresh=True)
    assert usage is not None and usage.pct_max <= WATERMARKS["lowwm"]
    _ledger_matches_recount(node)


def test_the_node_starts_lru_by_itself_above_highwm(
    node: InProcessNode, disk: SmallDisk, clock: FakeClock
) -> None:
    _fill(node, disk)
    assert node.call("PUT", f"/v1/objects/{PLAIN.name}/p-2", "provider=ais", b"x").status == 200
    assert not node.node.jobs.find(kind="lru")  # not measured again yet: the disk was roomy just now
    clock.advance(10.0)  # lru.capacity_upd_time: the next write measures the disk again
    assert node.call("PUT", f"/v1/objects/{PLAIN.name}/p-3", "provider=ais", b"x").status == 200
    record = _wait_for_lru(node)  # 184 KiB used (two 4 KiB objects more): six cached objects must go
    assert record.objects == 6 and not record.aborted
    assert _cached_names(node, CACHED) == ["o-6", "o-7", "o-8", "o-9"]
    assert _cached_names(node, PLAIN) == ["p-0", "p-1", "p-2", "p-3"]
    _ledger_matches_recount(node)


def test_the_node_cleans_its_store_by_itself_above_cleanupwm(
    node: InProcessNode, disk: SmallDisk, clock: FakeClock
) -> None:
    """Above ``cleanupwm`` (20%) and below ``highwm``: ``cleanup-store`` starts by itself and removes the
    work files older than ``space.dont_cleanup_time`` (a crashed write's leftovers), not a newer one;
    it is not started again before that time has passed, however often the disk is measured."""
    _create_plain(node)
    work_dir = os.path.dirname(node.node.mountpaths.all[0].work_path(PLAIN))
    os.makedirs(work_dir, exist_ok=True)
    stale, fresh = os.path.join(work_dir, "crashed-put"), os.path.join(work_dir, "put-in-progress")
    for path in (stale, fresh):
        with open(path, "wb") as f:
            f.write(b"w" * OBJECT)
    an_hour_ago = time.time_ns() - HOUR_NS  # dont_cleanup_time is 30 minutes by default
    os.utime(stale, ns=(an_hour_ago, an_hour_ago))
    assert node.call("PUT", f"/v1/objects/{PLAIN.name}/p-0", "provider=ais", b"p" * OBJECT).status == 200
    assert not node.node.jobs.find(kind="cleanup-store")  # 48 KiB of a roomy disk: nothing to do
    disk.total = 160 * KIB  # 30%: above cleanupwm, below highwm
    clock.advance(10.0)  # lru.capacity_upd_time: the next write measures the disk again
    assert node.call("PUT", f"/v1/objects/{PLAIN.name}/p-1", "provider=ais", b"p").status == 200
    record = _wait_for_lru(node, kind="cleanup-store")
    assert (record.objects, record.bytes) == (1, OBJECT) and not record.aborted
    assert not os.path.exists(stale) and os.path.exists(fresh)
    assert not node.node.jobs.find(kind="lru")  # below highwm: nothing is evicted
    store = node.node.runner.store
    looks: list[dict[str, object]] = []
    find = store.find

    def counted_find(**filters: Any) -> list[JobRecord]:
        looks.append(filters)
        return find(**filters)

    store.find = counted_find  # type: ignore[method-assign]
    for _ in range(3):  # still above cleanupwm, measured again and again: not started again, and the
        clock.advance(10.0)  # job records (one file each) are not even read for it
        assert node.call("PUT", f"/v1/objects/{PLAIN.name}/p-1", "provider=ais", b"p").status == 200
    assert looks == []
    store.find = find  # type: ignore[method-assign]
    assert len(node.node.jobs.find(kind="cleanup-store")) == 1


def test_recently_read_objects_are_never_evicted(node: InProcessNode, disk: SmallDisk) -> None:
    """Everything read within ``dont_evict_time`` (2h): nothing goes, and the node does not retry at once."""
    _fill(node, disk)
    for i in range(10):
        _read_long_ago(node, CACHED, f"o-{i}", 1)
    status, _ = _start_lru(node, [CACHED])
    assert status == 200
    assert _wait_for_lru(node).objects == 0
    assert len(_cached_names(node, CACHED)) == 10
    assert node.node.capacity is not None
    node.node.capacity.refresh()  # still above highwm, but the last run freed nothing: no new run yet
    assert len(node.node.jobs.find(kind="lru")) == 1


def test_lru_takes_only_buckets_that_allow_it_unless_forced(node: InProcessNode, disk: SmallDisk) -> None:
    _fill(node, disk)
    disabled = BucketRef.parse("off", "aws")
    _add_remote_bucket(node, disabled, {"lru": {"enabled": False}})
    locked = BucketRef.parse("nodelete", "aws")
    _add_remote_bucket(node, locked, {"access": str(ACCESS_RW & ~ACCESS_DELETE_OBJECT)})
    for bck in (disabled, locked):
        _cache(node, bck, "old", b"o" * OBJECT)
        _read_long_ago(node, bck, "old", 30)  # older than anything in CACHED
    disk.total = 320 * KIB * 2  # 208 KiB used of 640: 32%, above lowwm 30
    assert _start_lru(node, [disabled, locked])[0] == 200
    assert _wait_for_lru(node).objects == 0
    assert _start_lru(node, [disabled, locked], "frc=true")[0] == 200  # ?frc=true: every bucket named
    record = _wait_for_lru(node)
    assert record.objects == 1 and _cached_names(node, CACHED)  # one was enough; CACHED not named
    _ledger_matches_recount(node)


def test_a_plain_ais_bucket_is_refused_by_name_even_forced(node: InProcessNode, disk: SmallDisk) -> None:
    _fill(node, disk)
    for query in ("", "frc=true"):
        status, body = _start_lru(node, [PLAIN], query)
        assert status == 400 and b"no backend" in body
    assert _cached_names(node, PLAIN) == ["p-0", "p-1"]
    assert not node.node.jobs.find(kind="lru")


def test_an_lru_job_can_be_aborted(node: InProcessNode, disk: SmallDisk) -> None:
    """The job is held at its first victim's lock (a writer of that object), aborted, then let go."""
    _fill(node, disk)
    victim = node.node.store.location(CACHED, "o-0")
    with node.node.store.locks.hold(victim):
        status, job_id = _start_lru(node, [CACHED])
        assert status == 200
        body = json.dumps({"action": "stop", "value": {"ID": job_id.decode(), "Kind": "lru"}}).encode()
        assert node.call("PUT", "/v1/cluster", "", body).status == 200
    record = _wait_for_lru(node)
    assert record.aborted and record.objects <= 1
    assert len(_cached_names(node, CACHED)) >= 9
    _ledger_matches_recount(node)
    # the node's lru lock went with the job: the next one runs
    status, second = _start_lru(node, [CACHED])
    assert status == 200 and second != job_id
    record = _wait_for_lru(node)
    assert record.id == second.decode() and not record.aborted and record.objects >= 4
    _ledger_matches_recount(node)


def test_one_lru_job_at_a_time_per_node(node: InProcessNode, disk: SmallDisk) -> None:
    _fill(node, disk)
    victim = node.node.store.location(CACHED, "o-0")
    with node.node.store.locks.hold(victim):
        first = _start_lru(node, [CACHED])
        second = _start_lru(node, [CACHED])
        assert first[0] == second[0] == 200 and first[1] == second[1]  # the one running
    assert _wait_for_lru(node).objects == 5


# --- 507 past out_of_space -------------------------------------------------------------------------


def _work_files(node: InProcessNode) -> list[Path]:
    root = Path(node.node.mountpaths.all[0].root)
    return [path for path in root.rglob("*") if "%wk" in path.parts and path.is_file()]


def test_writes_and_cold_gets_answer_507_past_out_of_space(
    node: InProcessNode, disk: SmallDisk, clock: FakeClock
) -> None:
    _fill(node, disk)
    for i in range(10):  # all read just now: the lru job that starts above highwm can free nothing
        _read_long_ago(node, CACHED, f"o-{i}", 0)
    assert node.call("PUT", f"/s3/{PLAIN.name}/mp-src", body=b"m").status == 200
    disk.total = 200 * KIB  # 180 KiB of 200: 90%, above out_of_space 80
    clock.advance(10.0)  # lru.capacity_upd_time: measured again (it was roomy: not sooner)
    refused = [
        node.call("PUT", f"/v1/objects/{PLAIN.name}/new", "provider=ais", b"n" * 4096),
        node.call("PUT", f"/v1/objects/{PLAIN.name}/app", "provider=ais&append_type=append", b"a"),
        node.call("PUT", f"/v1/objects/{PLAIN.name}/p-0", "provider=ais&object_to=ais/@%23/plain/copy"),
        node.call("GET", f"/v1/objects/{CACHED.name}/not-cached", "provider=aws"),  # before the backend
    ]
    for answer in refused:
        assert answer.status == 507, answer.body
        assert b"out of space" in answer.body and b"out_of_space 80%" in answer.body
    s3_put = node.call("PUT", f"/s3/{PLAIN.name}/new", body=b"n")
    assert s3_put.status == 507 and b"<Code>InsufficientStorage</Code>" in s3_put.body
    upload = node.call("POST", f"/s3/{PLAIN.name}/big", "uploads")
    assert upload.status == 200
    upload_id = upload.body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    part = node.call("PUT", f"/s3/{PLAIN.name}/big", f"partNumber=1&uploadId={upload_id}", b"x" * KIB)
    assert part.status == 507
    # nothing stored, nothing half-written; reads go on
    assert _cached_names(node, PLAIN) == ["mp-src", "p-0", "p-1"]
    assert "not-cached" not in _cached_names(node, CACHED) and not _work_files(node)
    assert node.call("GET", f"/v1/objects/{PLAIN.name}/p-0", "provider=ais").status == 200
    # room again (the disk grew): the next measure lets writes in
    disk.total = 1 << 30
    clock.advance(SHORT_INTERVAL_S)
    assert node.call("PUT", f"/v1/objects/{PLAIN.name}/new", "provider=ais", b"n").status == 200
    _ledger_matches_recount(node)


# --- the monitor and the access times, on their own -------------------------------------------------


class FixedDisk:
    """A disk whose size and use the test sets; counts how often it is measured."""

    def __init__(self, total: int, used: int) -> None:
        self.total, self.used, self.measures = total, used, 0

    def __call__(self, root: str) -> tuple[int, int]:
        self.measures += 1
        return self.total, self.used


def test_the_disk_is_measured_by_time_after_big_writes_and_on_config_change(node: InProcessNode) -> None:
    disk = FixedDisk(100 << 20, 10 << 20)
    clock = FakeClock()
    config = node.node.meta.config
    capacity = Capacity([node.node.mountpaths.all[0].root], config, clock=clock, measure=disk)
    for _ in range(1000):
        capacity.check("w", 100)  # small writes, far from any watermark: one measure
    assert disk.measures == 1
    clock.advance(10.0)  # lru.capacity_upd_time
    capacity.check("w")
    assert disk.measures == 2
    capacity.check("w", 40 * (1 << 20))  # declares most of the headroom below highwm
    capacity.check("w")
    assert disk.measures == 3
    assert node.call("PUT", "/v1/cluster", "", json.dumps(
        {"action": "set-config", "value": {"space.out_of_space": "81"}}).encode()).status == 200  # fmt: skip
    capacity.check("w")
    assert disk.measures == 4 and capacity.usage().space_out_of_space == 81
    disk.used = 90 << 20  # filled by another process: seen at the next measure, not before
    capacity.check("w")
    clock.advance(10.0)
    with pytest.raises(InsufficientStorage):
        capacity.check("w")
    with pytest.raises(InsufficientStorage):
        capacity.check("w")  # every refusal is measured for
    assert disk.measures == 6
    disk.used = 50 << 20
    capacity.check("w")  # freed: seen by the next write, which would otherwise be refused
    assert disk.measures == 7
    capacity.check("w")  # above lowwm: measured again after the short interval
    assert disk.measures == 7
    clock.advance(SHORT_INTERVAL_S)
    capacity.check("w")
    assert disk.measures == 8


def test_reads_note_access_times_and_write_them_out_lazily(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(b"x")
    old = time.time_ns() - 10 * HOUR_NS
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(old, mtime))
    atimes = AccessTimes(flush_every=3600)
    try:
        before = time.time_ns()
        atimes.touch(str(path))
        assert path.stat().st_atime_ns == old  # noted, not written: no system call on the read
        atimes.touch(str(tmp_path / "deleted-meanwhile"))
        assert atimes.flush() == 1
        assert path.stat().st_atime_ns >= before and path.stat().st_mtime_ns == mtime
        later = time.time_ns() + HOUR_NS  # an access time never moves back
        os.utime(path, ns=(later, mtime))
        atimes.touch(str(path))
        atimes.flush()
        assert path.stat().st_atime_ns == later
    finally:
        atimes.close()
    # the writer thread ended with it
    assert atimes._thread not in threading.enumerate()


# --- cluster mode -------------------------------------------------------------------------------------


def test_lru_started_through_the_proxy_runs_on_every_target_under_one_id(tmp_path: Path) -> None:
    """Each target evicts on its own disks (default watermarks: 80% used, down to lowwm 75%)."""
    cluster = InProcessCluster(tmp_path)
    try:
        targets = [cluster.nodes["t1"], cluster.nodes["t2"]]
        _add_remote_bucket(targets[0], CACHED, {"lru": {"enabled": True}})  # one BMD for all nodes
        targets[1].node.objects.create_bucket(CACHED)
        for target in targets:
            for i in range(10):
                _cache(target, CACHED, f"o-{i}", b"c" * OBJECT)
                _read_long_ago(target, CACHED, f"o-{i}", 20 - i)
            assert target.node.capacity is not None
            target.node.capacity.measure = SmallDisk(200 * KIB)  # 160 KiB used: 80%
        status, job_id = _start_lru(cluster.proxy, [CACHED])
        assert status == 200, job_id
        for target in targets:  # each ran its part under the proxy's id (?xid=)
            record = _wait_for_lru(target)
            assert record.id == job_id.decode() and record.objects == 1
            assert _cached_names(target, CACHED) == [f"o-{i}" for i in range(1, 10)]
    finally:
        cluster.close()
