"""boto3 PUT/GET of 4 KiB and 1 MiB objects: Strata ``/s3`` vs Strata ``/v1`` (aistore SDK) vs moto server.

Same machine, same run, one client thread, sequential requests on a kept-alive connection: the
numbers are per-request latency turned into ops/s, which is what a single S3 client sees. Strata runs
with S3 users configured (so every request is SigV4-verified) and one worker process, like moto's
single server process; moto (``moto_server``) is the anchor, and its ratio is 1.00.

    python bench/s3_put_get.py [--small-ops 400] [--large-ops 60] [--append bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import requests
from aistore.sdk import Client
from botocore.config import Config  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[1]
ACCESS_KEY, SECRET_KEY = "AKIABENCH0000000", "bench-secret-key"
SIZES = {"4 KiB": 4096, "1 MiB": 1 << 20}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_strata(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = workdir / "config.json"
    users = {"bench": {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}}
    config.write_text(json.dumps({"s3": {"users": users}}))
    command = [sys.executable, "-m", "strata", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data", str(workdir / "data"), "--config", str(config), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    wait_ready(f"{endpoint}/v1/health")
    return proc, endpoint


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    moto = shutil.which("moto_server")
    if moto is None:
        raise SystemExit("moto_server not found: pip install 'moto[server]'")
    proc = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_ready(f"{endpoint}/moto-api/")
    return proc, endpoint


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def measure(ops: int, call: Callable[[int], object]) -> float:
    """Ops per second of ``call(i)`` over ``ops`` calls, after a short warm-up."""
    for i in range(min(10, ops)):
        call(i)
    start = time.perf_counter()
    for i in range(ops):
        call(i)
    return ops / (time.perf_counter() - start)


def bench_s3(endpoint: str, bucket: str, data: bytes, ops: int) -> tuple[float, float]:
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=bucket)
    put = measure(ops, lambda i: s3.put_object(Bucket=bucket, Key=f"obj-{i % 50}", Body=data))
    get = measure(ops, lambda i: s3.get_object(Bucket=bucket, Key=f"obj-{i % 50}")["Body"].read())
    return put, get


def bench_v1(endpoint: str, bucket: str, data: bytes, ops: int) -> tuple[float, float]:
    bck = Client(endpoint).bucket(bucket).create(exist_ok=True)
    put = measure(ops, lambda i: bck.object(f"obj-{i % 50}").get_writer().put_content(data))
    get = measure(ops, lambda i: bck.object(f"obj-{i % 50}").get_reader().read_all())
    return put, get


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small-ops", type=int, default=400)
    parser.add_argument("--large-ops", type=int, default=60)
    parser.add_argument("--append", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="strata-s3-bench-"))
    strata, strata_url = start_strata(workdir)
    moto, moto_url = start_moto()
    rows = []
    try:
        for label, size in SIZES.items():
            data = os.urandom(size)
            ops = args.small_ops if size < (1 << 20) else args.large_ops
            tag = label.replace(" ", "").lower()
            results = {
                "moto server (boto3)": bench_s3(moto_url, f"moto-{tag}", data, ops),
                "Strata /s3 (boto3)": bench_s3(f"{strata_url}/s3", f"s3-{tag}", data, ops),
                "Strata /v1 (aistore SDK)": bench_v1(strata_url, f"v1-{tag}", data, ops),
            }
            anchor = results["moto server (boto3)"]
            for name, (put, get) in results.items():
                rows.append((label, name, put, get, put / anchor[0], get / anchor[1]))
    finally:
        for proc in (strata, moto):
            proc.terminate()
            proc.wait(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [
        "| size | server (client) | PUT ops/s | GET ops/s | PUT vs moto | GET vs moto |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {s} | {n} | {p:,.0f} | {g:,.0f} | {rp:.2f} | {rg:.2f} |" for s, n, p, g, rp, rg in rows]
    table = "\n".join(lines)
    print(table)
    if args.append is not None:
        command = "python bench/s3_put_get.py " + " ".join(sys.argv[1:])
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n## S3 front: boto3 PUT/GET, Strata /s3 vs /v1 vs moto server ({when})\n\n"
            f"`{command}` -- one client thread, sequential requests, keep-alive; Strata with one worker and "
            f"SigV4 verification on; {args.small_ops} ops per 4 KiB row, {args.large_ops} per 1 MiB row.\n\n"
            f"{table}\n"
        )
        with args.append.open("a") as f:
            f.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
