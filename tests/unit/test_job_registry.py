"""The job registry: one life cycle, records any process can read, aborts, orphans, pruning."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from strata.core.errors import Conflict, InvalidRequest, NotFound
from strata.core.names import BucketRef
from strata.jobs.kinds import job_kind
from strata.jobs.registry import Job, JobRunner, JobStore
from strata.jobs.snapshots import NOT_ENDED, job_snap, job_status


def _wait(store: JobStore, job_id: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        record = store.load(job_id)
        if record is not None and record.finished:
            return
        time.sleep(0.01)
    raise AssertionError("job did not finish")


def test_life_cycle_and_snapshot(tmp_path: object) -> None:
    store = JobStore(f"{tmp_path}/jobs", "node1")
    bck = BucketRef.parse("b")
    job = store.create("copy-bck", bck=bck, src=bck)
    snap = job_snap(store.load(job.id))  # type: ignore[arg-type]
    assert snap["end-time"] == NOT_ENDED and not snap["is_idle"] and snap["bck"]["name"] == "b"
    job.add(3, 300)
    job.add(1, 10, direction="out")
    job.finish()
    record = store.load(job.id)
    assert record is not None and record.finished and not record.aborted
    snap = job_snap(record)
    assert snap["stats"]["loc-objs"] == 3 and snap["stats"]["out-bytes"] == 10 and snap["is_idle"]
    assert job_status(record)["end_time"] == record.end_ns


def test_runner_records_failure_and_abort(tmp_path: object) -> None:
    store = JobStore(f"{tmp_path}/jobs", "n")
    runner = JobRunner(store)

    def boom(job: Job) -> None:
        raise RuntimeError("disk on fire")

    failing = store.create("cleanup-store")
    runner.start(failing, boom)
    _wait(store, failing.id)
    record = store.load(failing.id)
    assert record is not None and record.aborted and record.abort_err == "disk on fire"

    def forever(job: Job) -> None:
        while True:
            job.check()
            time.sleep(0.01)

    looping = store.create("resilver")
    runner.start(looping, forever)
    store.request_abort(looping.id)
    _wait(store, looping.id)
    record = store.load(looping.id)
    assert record is not None and record.aborted and record.abort_err == ""


def test_conflicting_job_on_the_same_bucket(tmp_path: object) -> None:
    store = JobStore(f"{tmp_path}/jobs", "n")
    runner = JobRunner(store)
    bck = BucketRef.parse("b")
    store.create("copy-bck", bck=bck)
    with pytest.raises(Conflict):
        runner.ensure_no_conflict("copy-bck", bck)
    runner.ensure_no_conflict("copy-bck", BucketRef.parse("other"))


def test_orphans_read_as_aborted_and_restart_settles(tmp_path: object) -> None:
    store = JobStore(f"{tmp_path}/jobs", "n")
    code = (
        "import sys; from strata.jobs.registry import JobStore; "
        f"print(JobStore({str(tmp_path) + '/jobs'!r}, 'n').create('resilver').id)"
    )
    job_id = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    record = store.load(job_id)  # its process has exited
    assert record is not None and record.aborted and "exited" in record.abort_err
    live = store.create("rebalance")
    assert store.settle_after_restart() == 1
    settled = store.load(live.id)
    assert settled is not None and settled.aborted and "restarted" in settled.abort_err


def test_abort_unknown_job(tmp_path: object) -> None:
    with pytest.raises(NotFound):
        JobStore(f"{tmp_path}/jobs", "n").request_abort("nope")


def test_kinds_table() -> None:
    assert job_kind("copy-objects") is job_kind("copy-listrange")
    for idle in ("archive", "copy-listrange", "get-batch", "list", "download", "put-copies"):
        assert job_kind(idle).idles  # type: ignore[union-attr]
    assert not job_kind("copy-bck").idles  # type: ignore[union-attr]
    assert job_kind("nope") is None


def test_job_ids_cannot_name_other_files(tmp_path: object) -> None:
    store = JobStore(f"{tmp_path}/jobs", "n")
    for bad in ("../escape", "a/b", ".hidden", "x" * 65):
        with pytest.raises(InvalidRequest):
            store.create("rebalance", job_id=bad)
        assert store.load(bad) is None
    assert store.create("rebalance", job_id="reb-0a1b2c").id == "reb-0a1b2c"
