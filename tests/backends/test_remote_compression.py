"""A remote bucket with compression on keeps its cached copies compressed: cold GETs, write-through
PUTs and prefetch store the stored (zstd seekable) form here while the backend holds the original
bytes, and every read gives the original back -- also when the backend is gone."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import requests
from aistore.sdk import Client

from tests.integration.compression_support import compressing
from tests.integration.server import StrataServer

from .conftest import strata_in_front_of
from .emulators import MotoServer

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _stored(server: StrataServer, name: str) -> bytes:
    """The one cached copy's bytes on disk, waiting for a commit that follows the last byte sent."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            p
            for p in server.data_dir.rglob(name)
            if p.is_file() and "%ob" in p.parts and ".trash" not in p.parts
        ]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0].read_bytes()
        time.sleep(0.05)


def _compressible(size: int) -> bytes:
    line = b"2026-12-01T19:40:52Z INFO strata cache filled bucket=ml-data object=shard-%06d.tar\n"
    out = bytearray()
    number = 0
    while len(out) < size:
        out += line.replace(b"%06d", b"%06d" % number)
        number += 1
    return bytes(out[:size])


def _compressing_bucket(cache: StrataServer, moto: MotoServer) -> tuple[str, Client]:
    s3 = moto.s3()
    name = f"zc-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    client = Client(cache.endpoint)
    compressing(client.bucket(name, provider="aws"))
    return name, client


def test_cold_get_caches_the_compressed_form_and_warm_gets_need_no_backend(tmp_path: Path) -> None:
    """A private emulator, stopped for real halfway: warm reads decode the cached frames, a cold GET
    of another object is a clear 424 at once (not retried by the SDK)."""
    moto = MotoServer(tmp_path / "moto").start()
    cache = strata_in_front_of(moto, tmp_path)
    try:
        name, client = _compressing_bucket(cache, moto)
        s3 = moto.s3()
        data = _compressible(6 * 1024 * 1024 + 5)
        s3.put_object(Bucket=name, Key="logs/a.log", Body=data)
        s3.put_object(Bucket=name, Key="logs/b.log", Body=b"never fetched")
        bucket = client.bucket(name, provider="aws")
        assert bucket.object("logs/a.log").get_reader().read_all() == data  # streamed while stored
        stored = _stored(cache, "a.log")
        assert stored[:4] == ZSTD_MAGIC and len(stored) < len(data) // 4
        moto.stop()
        assert bucket.object("logs/a.log").get_reader().read_all() == data
        span = bucket.object("logs/a.log").get_reader(byte_range="bytes=4194300-4194399").read_all()
        assert span == data[4194300:4194400]
        url = f"{cache.endpoint}/v1/objects/{name}/logs/a.log"
        head = requests.head(url, params={"provider": "aws"}, timeout=10)
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
        started = time.monotonic()
        cold = requests.get(url.replace("a.log", "b.log"), params={"provider": "aws"}, timeout=60)
        assert cold.status_code == 424 and time.monotonic() - started < 30, cold.text
    finally:
        cache.stop()
        moto.stop()


def test_write_through_sends_the_original_and_keeps_the_compressed_form(
    moto: MotoServer, cache: StrataServer
) -> None:
    name, client = _compressing_bucket(cache, moto)
    s3 = moto.s3()
    bucket = client.bucket(name, provider="aws")
    data = _compressible(3 * 1024 * 1024)
    bucket.object("w.log").get_writer().put_content(data)
    assert s3.get_object(Bucket=name, Key="w.log")["Body"].read() == data  # the backend has the original
    stored = _stored(cache, "w.log")
    assert stored[:4] == ZSTD_MAGIC and len(stored) < len(data) // 4
    assert bucket.object("w.log").get_reader().read_all() == data
    savings = requests.get(f"{cache.endpoint}/v1/daemon", params={"what": "savings"}, timeout=10).json()
    rows = [row for row in savings["buckets"] if row["bucket"] == f"s3://{name}"]
    assert rows and rows[0]["original_bytes"] == len(data) and rows[0]["stored_bytes"] == len(stored)


def test_prefetch_of_incompressible_objects_stores_them_as_they_are(
    moto: MotoServer, cache: StrataServer
) -> None:
    name, client = _compressing_bucket(cache, moto)
    s3 = moto.s3()
    data = os.urandom(2 * 1024 * 1024)
    text = _compressible(2 * 1024 * 1024)
    s3.put_object(Bucket=name, Key="r.bin", Body=data)
    s3.put_object(Bucket=name, Key="t.log", Body=text)
    bucket = client.bucket(name, provider="aws")
    job = bucket.objects(obj_names=["r.bin", "t.log"]).prefetch()
    client.job(job).wait(timeout=60)
    random_stored, text_stored = _stored(cache, "r.bin"), _stored(cache, "t.log")
    assert len(random_stored) <= len(data) + 4096  # raw, or frames that cannot grow past zstd's overhead
    assert text_stored[:4] == ZSTD_MAGIC
    assert bucket.object("r.bin").get_reader().read_all() == data
    assert bucket.object("t.log").get_reader().read_all() == text
