"""The client side of the remote benchmarks: populating moto, GETs by thread pool, jobs through the SDK.

A Strata GET is raw HTTP/1.1 from ``http.client`` over one keep-alive connection per client thread,
reading into a reused buffer (what the SDK's ``requests`` does, minus its per-request overhead); an
anchor GET is boto3's ``get_object`` with its body read the same way. Both run under the same thread
pool, so a ratio compares the servers behind them, not two client designs of different cost... except
for what boto3 itself costs per request (signing, parsing), which the anchor pays and Strata does not.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
from aistore.sdk import Client

_BUFFER = 1 << 20
_TIMEOUT = 600.0


class BenchError(RuntimeError):
    """A server answered something a case cannot go on from (wrong status, wrong size)."""


def object_path(bucket: str, name: str, provider: str) -> str:
    return f"/v1/objects/{bucket}/{quote(name)}?provider={provider}"


def parallel(work: Callable[[str], int], names: list[str], threads: int) -> tuple[float, int]:
    """``work(name)`` for every name on ``threads`` threads; (seconds, bytes it returned in total)."""
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="bench-get") as pool:
        total = sum(pool.map(work, names))
    return time.perf_counter() - started, total


class StrataGets:
    """GETs of one bucket through Strata: one keep-alive connection per calling thread."""

    def __init__(self, base: str, bucket: str, provider: str) -> None:
        self.host, _, port = base.removeprefix("http://").rstrip("/").partition(":")
        self.port = int(port)
        self.bucket = bucket
        self.provider = provider
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []

    def _connection(self) -> tuple[http.client.HTTPConnection, bytearray]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=_TIMEOUT, blocksize=_BUFFER)
            self._local.conn, self._local.buffer = conn, bytearray(_BUFFER)
            self._all.append(conn)
        return conn, self._local.buffer

    def get(self, name: str) -> int:
        """GET the whole object, dropping its bytes; its size."""
        conn, buffer = self._connection()
        try:
            conn.request("GET", object_path(self.bucket, name, self.provider))
            resp = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):  # the server closed a kept-alive connection
            conn.close()
            conn.request("GET", object_path(self.bucket, name, self.provider))
            resp = conn.getresponse()
        if resp.status != 200:
            raise BenchError(f"GET {self.bucket}/{name}: HTTP {resp.status}: {resp.read()[:300]!r}")
        received = 0
        while n := resp.readinto(buffer):
            received += n
        return received

    def close(self) -> None:
        for conn in self._all:
            conn.close()


class BotoGets:
    """GETs straight from the S3 server with boto3 (the anchor); the client is shared by the threads."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self._local = threading.local()

    def get(self, name: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = bytearray(_BUFFER)
        body = self.s3.get_object(Bucket=self.bucket, Key=name)["Body"]
        received = 0
        try:
            while n := body._raw_stream.readinto(buffer):  # urllib3's response: no copy per chunk
                received += n
        finally:
            body.close()
        return received


def put_remote(
    s3: Any, bucket: str, names: list[str], body_for: Callable[[str], bytes], threads: int = 8
) -> float:
    """Write the objects into the S3 server directly (out of band: Strata learns of them when asked)."""

    def put(name: str) -> int:
        data = body_for(name)
        s3.put_object(Bucket=bucket, Key=name, Body=data)
        return len(data)

    seconds, _ = parallel(put, names, threads)
    return seconds


def create_ais_bucket(base: str, bucket: str) -> None:
    answer = requests.post(
        f"{base}/v1/buckets/{bucket}",
        params={"provider": "ais"},
        json={"action": "create-bck", "name": "", "value": None},
        timeout=60,
    )
    if answer.status_code not in (200, 409):
        raise BenchError(f"create ais://{bucket}: HTTP {answer.status_code}: {answer.text[:300]}")


def start_job(start: Callable[[], str], patience: float = 300.0) -> tuple[str, float]:
    """A job's id from ``start``, and the ``time.perf_counter()`` at which the request that started it
    was sent. A 429 (the node refuses new jobs while the machine's load is critical, and this machine
    is shared) is retried every 2 s for up to ``patience`` seconds, not counted in the job's time."""
    from aistore.sdk.errors import AISError

    deadline = time.monotonic() + patience
    while True:
        sent = time.perf_counter()
        try:
            return start(), sent
        except AISError as error:
            if error.status_code != 429 or time.monotonic() > deadline:
                raise
        time.sleep(2)


def wait_job(client: Client, job_id: str, timeout: float = 3600.0, poll: float = 0.05) -> float:
    """Poll the job's status until it ends (finer than the SDK's ``wait``, whose first poll comes after
    a second: a job of a few seconds would be measured in whole seconds); its seconds from now."""
    started = time.perf_counter()
    job = client.job(job_id=job_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.status()
        if status.end_time:
            if status.err or status.aborted:
                raise BenchError(f"job {job_id} failed: {status.err or 'aborted'}")
            return time.perf_counter() - started
        time.sleep(poll)
    raise BenchError(f"job {job_id} did not finish in {timeout:.0f}s")


def cached_count(client: Client, bucket: str, prefix: str) -> int:
    """How many of the remote bucket's objects under ``prefix`` Strata has cached."""
    from aistore.sdk.list_object_flag import ListObjectFlag

    listed = client.bucket(bucket, provider="aws").list_all_objects(
        prefix=prefix, flags=[ListObjectFlag.CACHED], page_size=10_000
    )
    return len(listed)


def evict(client: Client, bucket: str) -> None:
    """Drop everything Strata cached of the remote bucket, keeping it in the BMD (the next GET is cold)."""
    client.bucket(bucket, provider="aws").evict(keep_md=True)
