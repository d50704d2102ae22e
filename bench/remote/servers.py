"""The processes of the remote benchmarks: moto's S3 server, and a Strata whose ``aws`` backend is it.

moto runs without IAM (any key is accepted), so Strata and the anchors sign with the same throwaway
credentials, given the ordinary way: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``... in Strata's
environment, the same values passed to the anchors' boto3 clients. Each process runs in its own session
and is stopped by its process group (``bench.harness``), so nothing else on the machine is touched.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import botocore.config

from bench.harness import StrataServer, _Managed, free_port, wait_http_ok

REGION = "us-east-1"
ACCESS_KEY = "bench"
SECRET_KEY = "bench-secret"


class LatencyProxy:
    """A TCP relay in front of the S3 that holds each request back ``latency`` seconds: a region's
    first-byte latency, which moto on the same machine does not have. Strata and the anchors both go
    through it, so a ratio compares like with like; it runs on its own thread in the bench process."""

    def __init__(self, upstream_port: int, latency: float) -> None:
        self.upstream_port = upstream_port
        self.latency = latency
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)

    def start(self) -> LatencyProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the latency proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, writer, delayed=True), self._pipe(reader, client_writer, delayed=False)
        )

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, delayed: bool) -> None:
        waiting = True  # the first bytes of a request wait; the rest of its body follows as it comes
        try:
            while data := await source.read(1 << 16):
                if delayed and waiting:
                    await asyncio.sleep(self.latency)
                    waiting = False
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


class Moto(_Managed):
    """``python -m moto.server`` on 127.0.0.1, ready when it answers a list-buckets; with ``latency``,
    clients are given a ``LatencyProxy`` in front of it."""

    name = "moto"

    def __init__(self, log_dir: Path, latency: float = 0.0) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.latency = latency
        self.proxy: LatencyProxy | None = None

    @property
    def endpoint(self) -> str:
        """Where clients (Strata and the anchors) reach it: through the latency proxy, if there is one."""
        port = self.proxy.port if self.proxy is not None else self.port
        return f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 60.0) -> Moto:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "moto.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            wait_http_ok(f"http://127.0.0.1:{self.port}/", timeout, self.proc)
        except BaseException:
            self.stop()
            raise
        if self.latency > 0:
            self.proxy = LatencyProxy(self.port, self.latency).start()
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        super().stop()

    def environment(self) -> dict[str, str]:
        """What points an S3 client at this server the ordinary way (Strata reads these)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def s3(self, pool: int = 64) -> Any:
        """A boto3 client of the anchors: the same endpoint, path-style, a pool as large as the load."""
        config = botocore.config.Config(
            max_pool_connections=pool,
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=config,
        )


class CachingStrata(StrataServer):
    """A Strata whose ``aws`` backend is the given moto (its variables added to the environment)."""

    def __init__(self, data_dir: Path, workers: int, backend_env: dict[str, str]) -> None:
        super().__init__(data_dir, workers)
        self.backend_env = backend_env

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(self.backend_env)
        return env


def pids(*servers: _Managed) -> list[int]:
    """The running servers' pids (their process trees are what a case's CPU split counts as servers)."""
    return [
        server.pid for server in servers if server.proc is not None and os.path.exists(f"/proc/{server.pid}")
    ]
