"""The blob downloader through a real Strata in front of a real S3 emulator (moto): a 200 MiB object
fetched as parallel ranged chunks into one local object (SDK ``blob_download`` + ``Job.wait``), an
abort that leaves nothing behind, a compressing bucket, the streaming GET (``Ais-Blob-Download``),
prefetch's ``blob-threshold``, and the requests refused with a 4xx."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import xxhash
from aistore.sdk import Client
from aistore.sdk.blob_download_config import BlobDownloadConfig
from aistore.sdk.errors import AISError

from tests.integration.server import StrataServer

from .emulators import MotoServer

MiB = 1 << 20
BIG = 200 * MiB


@pytest.fixture(scope="module")
def big_object(moto: MotoServer) -> Iterator[tuple[str, str, bytes]]:
    """One 200 MiB object in moto for the module: (bucket, key, bytes)."""
    s3 = moto.s3()
    name = f"blob-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    data = os.urandom(BIG)
    s3.put_object(Bucket=name, Key="big/model.bin", Body=data, Metadata={"team": "ml"})
    yield name, "big/model.bin", data
    s3.close()


def _cached_files(server: StrataServer, name: str) -> list[Path]:
    found = server.data_dir.rglob(name)
    return [p for p in found if p.is_file() and "%ob" in p.parts and ".trash" not in p.parts]


def _job_record(server: StrataServer, job_id: str) -> dict[str, Any]:
    """What the node's jobs directory holds for a job (its ``extra`` is not part of the SDK's snapshot)."""
    found: dict[str, Any] = json.loads((server.data_dir / "meta" / "jobs" / f"{job_id}.json").read_text())
    return found


def _peak_memory(server: StrataServer) -> int:
    """The highest resident size (VmHWM, bytes) any process of the server has reached."""
    assert server.process is not None
    pids = {server.process.pid}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == server.process.pid:  # ppid
            pids.add(int(stat.parent.name))
    peak = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) * 1024)
    return peak


def test_sdk_blob_download_of_a_200_mib_object_in_parallel_chunks(
    moto: MotoServer, cache: StrataServer, big_object: tuple[str, str, bytes]
) -> None:
    name, key, data = big_object
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    s3 = moto.s3()
    s3.put_object(Bucket=name, Key="warm-up", Body=b"x" * 1000)
    assert bucket.object("warm-up").get_reader().read_all() == b"x" * 1000  # boto3 loaded in the node
    before = _peak_memory(cache)
    assert before > 50 * MiB  # the node with boto3 loaded: the measure works
    job_id = bucket.object(key).blob_download(chunk_size=8 * MiB, num_workers=4)
    result = client.job(job_id).wait(timeout=240, verbose=False)
    assert result.success, result.error
    snap = client.job(job_id).get_details().list_snapshots()[0]
    assert snap.kind == "blob-download" and snap.stats.bytes == BIG and snap.stats.objects == 1
    # one local object, the same bytes, the checksum of those bytes, the remote facts as metadata
    assert [p.stat().st_size for p in _cached_files(cache, "model.bin")] == [BIG]
    props = bucket.object(key).head()
    assert props.size == BIG
    assert props.checksum_value == xxhash.xxh64(data).hexdigest()
    assert props.custom_metadata["source"] == "aws" and props.custom_metadata["team"] == "ml"
    assert props.custom_metadata["ETag"] == s3.head_object(Bucket=name, Key=key)["ETag"].strip('"')
    assert bucket.object(key).get_reader().read_all() == data
    # the chunks were ranged GETs that overlapped, and memory stayed far below the object's size
    extra = _job_record(cache, job_id)["extra"]
    assert extra["chunks"] == BIG // (8 * MiB) and extra["workers"] == 4
    assert extra["peak_parallel"] >= 2
    assert extra["peak_held_bytes"] <= 4 * 8 * MiB
    grown = _peak_memory(cache) - before
    print(f"peak memory grew by {grown / MiB:.1f} MiB for a {BIG // MiB} MiB blob; {extra}")
    assert grown < 120 * MiB
    # a second blob download of a cached object does nothing (unless latest-ver)
    again = bucket.object(key).blob_download()
    assert client.job(again).wait(timeout=60, verbose=False).success
    assert "skipped" in _job_record(cache, again)["extra"]
    s3.close()


def test_an_aborted_blob_download_leaves_nothing_behind(
    cache: StrataServer, big_object: tuple[str, str, bytes]
) -> None:
    name, key, _ = big_object
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    job_id = bucket.object(key).blob_download(chunk_size=64 * 1024, num_workers=1)  # ~3,200 small GETs
    job = client.job(job_id)
    deadline = time.monotonic() + 60
    while job.get_details().list_snapshots()[0].stats.bytes == 0:  # progress shows while it runs
        assert time.monotonic() < deadline
        time.sleep(0.05)
    job.abort()
    result = job.wait(timeout=60, verbose=False)
    assert not result.success
    snap = job.get_details().list_snapshots()[0]
    assert snap.aborted and 0 < snap.stats.bytes < BIG
    assert not _cached_files(cache, "model.bin")
    work = [p for p in cache.data_dir.rglob("*") if p.is_file() and "model.bin" in p.name]
    assert work == []  # no work file either
    head = requests.head(f"{cache.endpoint}/v1/objects/{name}/{key}?provider=aws", timeout=10)
    assert head.status_code == 200 and head.headers["Ais-Present"] == "false"  # not in the cache


def test_a_compressing_bucket_stores_the_blob_compressed(moto: MotoServer, cache: StrataServer) -> None:
    s3 = moto.s3()
    name = f"blobz-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    data = b"".join(b"GET /api/items/%08d 200 OK\n" % i for i in range(500_000))  # ~13 MiB of log lines
    s3.put_object(Bucket=name, Key="access.log", Body=data)
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    patch = {"action": "set-bprops", "value": {"compression": {"enabled": True}}}
    answer = requests.patch(f"{cache.endpoint}/v1/buckets/{name}?provider=aws", json=patch, timeout=10)
    assert answer.status_code == 200, answer.text
    job_id = bucket.object("access.log").blob_download(chunk_size=1 * MiB, num_workers=4)
    assert client.job(job_id).wait(timeout=120, verbose=False).success
    [stored] = _cached_files(cache, "access.log")
    assert stored.stat().st_size < len(data) // 3  # the stored form is compressed
    props = bucket.object("access.log").head()
    assert props.size == len(data) and props.checksum_value == xxhash.xxh64(data).hexdigest()
    assert bucket.object("access.log").get_reader().read_all() == data
    assert bucket.object("access.log").get_reader(byte_range="bytes=100-199").read_all() == data[100:200]
    s3.close()


def test_the_streaming_blob_get_sends_while_it_stores(moto: MotoServer, cache: StrataServer) -> None:
    s3 = moto.s3()
    name = f"blobs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    data = os.urandom(24 * MiB + 5)
    s3.put_object(Bucket=name, Key="stream.bin", Body=data)
    s3.put_object(Bucket=name, Key="sdk.bin", Body=data[: 9 * MiB])
    s3.put_object(Bucket=name, Key="small.bin", Body=data[:1000])
    headers = {"Ais-Blob-Download": "true", "Ais-Blob-Chunk": "1MiB", "Ais-Blob-Workers": "4"}
    url = f"{cache.endpoint}/v1/objects/{name}/stream.bin?provider=aws"
    with requests.get(url, headers=headers, stream=True, timeout=60) as answer:
        assert answer.status_code == 200
        assert int(answer.headers["Content-Length"]) == len(data)
        assert answer.raw.read() == data
    client = Client(cache.endpoint)
    deadline = time.monotonic() + 10  # the commit follows the last byte sent
    while not _cached_files(cache, "stream.bin"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    jobs = client.cluster().list_jobs_status(job_kind="blob-download")
    assert len(jobs) == 1 and not jobs[0].err
    record = _job_record(cache, jobs[0].uuid)
    assert record["extra"]["chunks"] == 25 and record["extra"]["workers"] == 4
    # the SDK's blob download config takes the same path
    bucket = client.bucket(name, provider="aws")
    config = BlobDownloadConfig(chunk_size="2MiB", num_workers="3")
    assert bucket.object("sdk.bin").get_reader(blob_download_config=config).read_all() == data[: 9 * MiB]
    # under 128 KiB: a plain cold GET, no blob-download job
    assert bucket.object("small.bin").get_reader(blob_download_config=config).read_all() == data[:1000]
    assert len(client.cluster().list_jobs_status(job_kind="blob-download")) == 2
    bad = requests.get(
        f"{cache.endpoint}/v1/objects/{name}/never.bin?provider=aws",
        headers={"Ais-Blob-Download": "true", "Ais-Blob-Chunk": "1KiB"},
        timeout=10,
    )
    assert bad.status_code == 400 and "chunk-size" in bad.text
    s3.close()


def test_prefetch_sends_objects_over_the_blob_threshold_through_the_blob_downloader(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    name = f"blobp-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    big, small = os.urandom(6 * MiB), os.urandom(100 * 1024)
    s3.put_object(Bucket=name, Key="p/big", Body=big)
    s3.put_object(Bucket=name, Key="p/small", Body=small)
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    with pytest.raises(AISError) as info:
        bucket.objects(obj_names=["p/big"]).prefetch(blob_threshold=4096)
    assert info.value.status_code == 400 and "blob-threshold" in info.value.message
    job_id = bucket.objects(obj_names=["p/big", "p/small"]).prefetch(blob_threshold=1 * MiB)
    assert client.job(job_id).wait(timeout=60, verbose=False).success
    extra = _job_record(cache, job_id)["extra"]
    assert extra["size"] == len(big) and extra["chunks"] == 2  # the big one: two 4 MiB chunks
    assert bucket.object("p/big").get_reader().read_all() == big
    assert bucket.object("p/small").get_reader().read_all() == small
    s3.close()


def test_blob_download_requests_refused_with_a_4xx(moto: MotoServer, cache: StrataServer) -> None:
    s3 = moto.s3()
    name = f"blobe-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="o", Body=b"x" * 100)
    client = Client(cache.endpoint)
    client.bucket("local").create()

    def post(bucket: str, provider: str, value: Any, obj: str = "o") -> requests.Response:
        message = {"action": "blob-download", "name": obj, "value": value}
        url = f"{cache.endpoint}/v1/objects/{bucket}?provider={provider}"
        return requests.post(url, json=message, timeout=10)

    assert post("local", "ais", {}).status_code == 400  # not a remote bucket
    assert post(name, "aws", {}, obj="").status_code == 400  # no object named
    assert post(name, "aws", {"chunk-size": 1024}).status_code == 400
    assert post(name, "aws", {"chunk-size": 64 * MiB}).status_code == 400
    assert post(name, "aws", {"num-workers": 500}).status_code == 400
    assert post(name, "aws", {"chunk-read-timeout": "soon"}).status_code == 400
    assert post(name, "aws", {}, obj="missing").status_code == 404
    assert post(f"nope-{uuid.uuid4().hex[:8]}", "aws", {}).status_code == 404
    with pytest.raises(AISError) as info:  # started by name it needs an object: 400, not 501
        client.job(job_kind="blob-download").start()
    assert info.value.status_code == 400
    good = post(name, "aws", {"chunk-size": "64KiB", "num-workers": -1, "chunk-read-timeout": "30s"})
    assert good.status_code == 200
    assert client.job(good.text).wait(timeout=30, verbose=False).success
    # an ais bucket fronting the cloud bucket (backend_bck) is a remote bucket too
    linked = {"action": "set-bprops", "value": {"backend_bck": {"name": name, "provider": "aws"}}}
    assert requests.patch(f"{cache.endpoint}/v1/buckets/local?provider=ais", json=linked, timeout=10).ok
    through = post("local", "ais", {"chunk-size": "32KiB", "num-workers": 2})
    assert through.status_code == 200, through.text
    assert client.job(through.text).wait(timeout=30, verbose=False).success
    assert client.bucket("local").object("o").get_reader().read_all() == b"x" * 100
    assert _job_record(cache, through.text)["extra"]["chunks"] == 1
    s3.close()
