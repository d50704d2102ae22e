"""Capacity watermarks and LRU eviction on a real small filesystem, through a real Strata in front of a
real S3 emulator (moto).

Each test mounts a 64 MiB tmpfs as the node's one mountpath, so the ``space`` watermarks are reached by
storing a few dozen MiB: cold GETs fill the cache past ``highwm`` and the node evicts by itself down to
``lowwm``; PUTs past ``out_of_space`` are refused with 507 on both fronts. Mounting needs root (and the
right to mount): the tests skip, saying so, where that is not possible; ``tests/unit/test_lru.py``
covers the same logic in-process on a simulated disk. Time passing is the cached files' access times
set back (a day of not being read is not waited for).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError
from botocore.config import Config
from botocore.exceptions import ClientError

from strata.storage.locks import ObjectLocks
from tests.integration.server import REPO_ROOT, StrataServer

from .emulators import MotoServer

MIB = 1 << 20
HOUR_NS = 3600 * 10**9


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs, unmounted after the test (and after the server using it has stopped)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the watermark tests needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here ({done.stderr.strip()}); tests/unit/test_lru.py has the logic"
        )
    yield mount_point
    if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def _server(tmp_path: Path, disk: Path, moto: MotoServer, space: dict[str, int]) -> StrataServer:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"space": space, "lru": {"enabled": True, "capacity_upd_time": "10s"}}))
    env = {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": moto.access_key,
        "AWS_SECRET_ACCESS_KEY": moto.secret_key,
        "AWS_REGION": moto.region,
    }
    data = tmp_path / "data"
    log = tmp_path / "server.log"
    return StrataServer(data, log, workers=1, mountpaths=[disk / "mp"], config_path=config, env=env).start()


def _pct_used(disk: Path) -> int:
    """The disk's use as AIStore counts it (the watermarks' measure)."""
    fs = os.statvfs(disk)
    return (fs.f_blocks - fs.f_bavail) * 100 // fs.f_blocks


def _cached(disk: Path, bucket: str, provider: str = "aws") -> set[str]:
    objects = disk / "mp" / f"@{provider}" / bucket / "%ob"
    return {path.name for path in objects.iterdir()} if objects.is_dir() else set()


def _work_files(disk: Path) -> list[Path]:
    return [path for path in disk.rglob("*") if "%wk" in path.parts and path.is_file()]


def _wait_cached(disk: Path, bucket: str, names: set[str]) -> None:
    """A cold GET stores its object once the last byte is sent: wait for that."""
    deadline = time.monotonic() + 10
    while not names <= _cached(disk, bucket):
        assert time.monotonic() < deadline, f"not stored: {sorted(names - _cached(disk, bucket))}"
        time.sleep(0.02)


def _read_long_ago(disk: Path, bucket: str, name: str, hours: float) -> None:
    path = disk / "mp" / "@aws" / bucket / "%ob" / name
    os.utime(path, ns=(time.time_ns() - int(hours * HOUR_NS), path.stat().st_mtime_ns))


def _lru_jobs(server: StrataServer) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{server.endpoint}/v1/cluster", params={"what": "status_all"}, json={"kind": "lru"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json() or []


def _ledger_matches_recount(server: StrataServer) -> None:
    answer = requests.get(
        f"{server.endpoint}/v1/daemon", params={"what": "savings", "verify": "true"}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["differences"] == []


def _remote_bucket(moto: MotoServer, count: int) -> tuple[str, list[bytes]]:
    s3 = moto.s3()
    name = f"lru-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    bodies = [os.urandom(MIB) for _ in range(count)]
    for i, body in enumerate(bodies):
        s3.put_object(Bucket=name, Key=f"o-{i:02d}", Body=body)
    s3.close()
    return name, bodies


def _show_job(server: StrataServer, *options: str) -> str:
    """``strata show job lru [OPTIONS]``'s output."""
    done = subprocess.run(
        [sys.executable, "-m", "strata", "show", "job", "lru", *options, "--endpoint", server.endpoint],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cold_gets_past_highwm_start_lru_which_evicts_the_oldest_read_down_to_lowwm(
    tmp_path: Path, small_disk: Path, moto: MotoServer
) -> None:
    server = _server(
        tmp_path, small_disk, moto, {"cleanupwm": 30, "lowwm": 40, "highwm": 60, "out_of_space": 90}
    )
    try:
        client = Client(server.endpoint)
        name, bodies = _remote_bucket(moto, 40)
        remote = client.bucket(name, provider="aws")
        plain = client.bucket("plain").create()
        for i in range(2):
            plain.object(f"p-{i}").get_writer().put_content(os.urandom(MIB))
        for i in range(20):  # cold GETs: ~27 MiB of 64 in use (the ledger's map takes 4.6)
            assert remote.object(f"o-{i:02d}").get_reader().read_all() == bodies[i]
        _wait_cached(small_disk, name, {f"o-{i:02d}" for i in range(20)})
        for i in range(20):  # o-00 read 30 hours ago, ..., o-19 11 hours ago
            _read_long_ago(small_disk, name, f"o-{i:02d}", 30 - i)
        for i in range(2):  # o-00 and o-01 are read again now
            assert remote.object(f"o-{i:02d}").get_reader().read_all() == bodies[i]
        assert not _lru_jobs(server)
        fetched = 20
        while not _lru_jobs(server):  # more cold GETs, until the node sees highwm passed
            assert fetched < 40, f"no lru job at {_pct_used(small_disk)}% used"
            assert remote.object(f"o-{fetched:02d}").get_reader().read_all() == bodies[fetched]
            fetched += 1
        job = client.job(job_id=_lru_jobs(server)[0]["uuid"], job_kind="lru")
        assert job.wait(timeout=60, verbose=False).success
        assert _pct_used(small_disk) <= 40
        cached = _cached(small_disk, name)
        evicted = {f"o-{i:02d}" for i in range(40)} - cached - {f"o-{i:02d}" for i in range(fetched, 40)}
        assert evicted, "nothing was evicted"
        # oldest read first: the evicted are o-02 ... o-NN, those read recently and the new ones stay
        assert evicted == {f"o-{i:02d}" for i in range(2, 2 + len(evicted))}
        assert {"o-00", "o-01"} <= cached and {f"o-{i:02d}" for i in range(20, fetched)} <= cached
        assert _cached(small_disk, "plain", "ais") == {"p-0", "p-1"}  # never the only copy
        snaps = job.get_details().list_snapshots()
        assert sum(snap.stats.objects for snap in snaps) == len(evicted)
        shown = _show_job(server, "--all")
        assert job.job_id in shown and "finished" in shown and f" {len(evicted)} " in shown
        # an evicted object's next GET is cold again, and right
        assert remote.object("o-02").get_reader().read_all() == bodies[2]
        _wait_cached(small_disk, name, {"o-02"})
        _ledger_matches_recount(server)
    finally:
        server.stop()


def test_writes_and_cold_gets_past_out_of_space_answer_507_and_leave_nothing(
    tmp_path: Path, small_disk: Path, moto: MotoServer
) -> None:
    server = _server(
        tmp_path, small_disk, moto, {"cleanupwm": 10, "lowwm": 20, "highwm": 30, "out_of_space": 40}
    )
    try:
        client = Client(server.endpoint)
        name, _bodies = _remote_bucket(moto, 1)
        plain = client.bucket("plain").create()
        stored = 0
        with pytest.raises(AISError) as refused:
            while stored < 64:
                plain.object(f"p-{stored:02d}").get_writer().put_content(os.urandom(MIB))
                stored += 1
        assert refused.value.status_code == 507 and "out of space" in str(refused.value)
        assert _pct_used(small_disk) > 40 and not _lru_jobs(server)  # a plain ais bucket is never evicted
        s3 = boto3.client(
            "s3",
            endpoint_url=f"{server.endpoint}/s3",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )
        with pytest.raises(ClientError) as s3_refused:
            s3.put_object(Bucket="plain", Key="s3-new", Body=b"x" * MIB)
        assert s3_refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        assert s3_refused.value.response["Error"]["Code"] == "InsufficientStorage"
        upload = s3.create_multipart_upload(Bucket="plain", Key="s3-multi")
        with pytest.raises(ClientError) as part_refused:
            s3.upload_part(
                Bucket="plain", Key="s3-multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"y"
            )
        assert part_refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        with pytest.raises(AISError) as cold_refused:  # before anything is asked of the backend
            client.bucket(name, provider="aws").object("o-00").get_reader().read_all()
        assert cold_refused.value.status_code == 507
        with pytest.raises(AISError) as append_refused:
            plain.object("appended").get_writer().append_content(b"z")
        assert append_refused.value.status_code == 507
        # nothing stored, nothing half-written; reads go on
        assert _cached(small_disk, "plain", "ais") == {f"p-{i:02d}" for i in range(stored)}
        assert not _cached(small_disk, name) and not _work_files(small_disk)
        assert len(plain.object("p-00").get_reader().read_all()) == MIB
        # room again: deletes bring the disk under out_of_space, and the next PUTs are taken at once
        for i in range(8):
            plain.object(f"p-{i:02d}").delete()
        plain.object("after").get_writer().put_content(b"fits again")
        s3.put_object(Bucket="plain", Key="s3-after", Body=b"fits again")
        s3.close()
        _ledger_matches_recount(server)
    finally:
        server.stop()


def test_lru_started_by_name_shows_progress_and_can_be_aborted(
    tmp_path: Path, small_disk: Path, moto: MotoServer
) -> None:
    server = _server(
        tmp_path, small_disk, moto, {"cleanupwm": 10, "lowwm": 20, "highwm": 70, "out_of_space": 90}
    )
    try:
        client = Client(server.endpoint)
        name, bodies = _remote_bucket(moto, 20)
        remote = client.bucket(name, provider="aws")
        for i in range(20):
            remote.object(f"o-{i:02d}").get_reader().read_all()
        _wait_cached(small_disk, name, {f"o-{i:02d}" for i in range(20)})
        for i in range(20):
            _read_long_ago(small_disk, name, f"o-{i:02d}", 30 - i)
        assert _pct_used(small_disk) > 20
        # another process writing o-00 holds its lock: the job waits at its first victim
        locks = ObjectLocks(str(small_disk / "mp" / ".locks"))
        first_victim = str(small_disk / "mp" / "@aws" / name / "%ob" / "o-00")
        with locks.hold(first_victim):
            job_id = client.job(job_kind="lru").start(buckets=[remote])
            job = client.job(job_id=job_id, job_kind="lru")
            time.sleep(0.5)
            assert job.status().end_time == 0  # running
            assert job_id in _show_job(server)
            job.abort()
        result = job.wait(timeout=60, verbose=False)
        assert not result.success and "abort" in (result.error or "")
        assert len(_cached(small_disk, name)) >= 19 and _pct_used(small_disk) > 20
        locks.close()
        # started again, forced: it runs to the end
        job_id = client.job(job_kind="lru").start(buckets=[remote], force=True)
        assert client.job(job_id=job_id, job_kind="lru").wait(timeout=60, verbose=False).success
        assert _pct_used(small_disk) <= 20
        assert "o-19" in _cached(small_disk, name) and "o-00" not in _cached(small_disk, name)
        assert remote.object("o-00").get_reader().read_all() == bodies[0]
        _ledger_matches_recount(server)
    finally:
        server.stop()
