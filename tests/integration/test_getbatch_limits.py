"""GetBatch under pressure: admission (429), the configured soft-error limit, warm-up workers, a
100,000-entry batch with bounded server memory, and the SDK's PyTorch dataset when torch is installed."""

from __future__ import annotations

import os
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from .helpers import fast_client, pattern, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(240)


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (the server forks its workers), bytes."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _make_bucket(endpoint: str) -> str:
    name = f"t-gb-{uuid.uuid4().hex[:8]}"
    assert raw("POST", f"{endpoint}/v1/buckets/{name}?provider=ais", json={"action": "create-bck"}).ok
    return name


def test_overloaded_node_answers_429_with_retry_after(
    server_factory: Callable[..., StrataServer], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"memsys": {"min_free": "1TiB"}}')  # more than any test machine has
    srv = server_factory(config=config, workers=1)
    bucket = _make_bucket(srv.endpoint)
    assert raw("PUT", f"{srv.endpoint}/v1/objects/{bucket}/o?provider=ais", data=b"x").ok
    body = {"in": [{"objname": "o"}], "strm": True}
    resp = raw("GET", f"{srv.endpoint}/v1/ml/moss/{bucket}", json=body)
    assert resp.status_code == 429, resp.text
    assert resp.headers.get("Retry-After") == "2"
    assert "memory critical" in resp.json()["message"]
    action = {"action": "getbatch", "name": "", "value": body}
    assert raw("POST", f"{srv.endpoint}/v1/buckets/{bucket}?provider=ais", json=action).status_code == 429


def test_configured_soft_error_limit_and_warm_up(
    server_factory: Callable[..., StrataServer], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"get_batch": {"max_soft_errs": 1, "warmup_workers": 2}}')
    srv = server_factory(config=config, workers=1)
    bucket = _make_bucket(srv.endpoint)
    client = fast_client(srv.endpoint)
    names = [f"o-{i:04d}" for i in range(300)]
    for name in names:
        client.bucket(bucket).object(name).get_writer().put_content(pattern(name, 5000))
    batch = client.batch([*names, "missing-1"], bucket=client.bucket(bucket))
    results = list(batch.get())  # warm-up workers read ahead while the writer streams
    assert [d for _, d in results[:-1]] == [pattern(n, 5000) for n in names]
    assert results[-1][0].err_msg and results[-1][1] == b""
    body = {"in": [{"objname": "missing-1"}, {"objname": "missing-2"}], "coer": True, "strm": True}
    resp = raw("GET", f"{srv.endpoint}/v1/ml/moss/{bucket}", json=body)
    assert resp.status_code == 404 and "max_soft_errs is 1" in resp.json()["message"]


def test_100k_entry_batch_streams_with_bounded_server_memory(
    server_factory: Callable[..., StrataServer],
) -> None:
    """100,000 entries x 4 KiB (400 MB of archive) while the server grows by far less than that."""
    srv = server_factory(workers=1)
    assert srv.process is not None
    bucket = _make_bucket(srv.endpoint)
    client = fast_client(srv.endpoint)
    distinct = [f"d/{i:04d}" for i in range(1000)]
    for name in distinct:
        client.bucket(bucket).object(name).get_writer().put_content(pattern(name, 4096))
    entries = [{"objname": distinct[i % len(distinct)]} for i in range(100_000)]
    baseline = _tree_rss(srv.process.pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(srv.process.pid) if srv.process else 0)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        with requests.get(
            f"{srv.endpoint}/v1/ml/moss/{bucket}",
            json={"in": entries, "strm": True},
            stream=True,
            timeout=(3, 120),
        ) as resp:
            assert resp.status_code == 200, resp.text
            count = 0
            with tarfile.open(fileobj=resp.raw, mode="r|") as tf:
                for info in tf:
                    expected = distinct[count % len(distinct)]
                    assert info.name == f"{bucket}/{expected}" and info.size == 4096
                    count += 1
    finally:
        done.set()
        sampler.join()
    elapsed = time.monotonic() - started
    assert count == 100_000
    growth = peak - baseline
    print(f"100k entries in {elapsed:.1f}s; server RSS {baseline >> 20} MiB -> peak {peak >> 20} MiB")
    assert growth < 120 << 20, f"server grew by {growth >> 20} MiB for a 400 MB stream"


def test_pytorch_batch_dataset(endpoint: str) -> None:
    """The SDK's GetBatch-based PyTorch dataset (needs torch and the SDK's pytorch extras)."""
    pytest.importorskip("torch")
    pytest.importorskip("alive_progress")
    from aistore.pytorch.batch_iter_dataset import AISBatchIterDataset

    client = fast_client(endpoint)
    bucket = client.bucket(_make_bucket(endpoint))
    names = [f"s-{i:02d}" for i in range(20)]
    for name in names:
        bucket.object(name).get_writer().put_content(name.encode())
    for streaming in (True, False):
        dataset = AISBatchIterDataset(bucket, client, max_batch_size=8, streaming=streaming)
        got = list(dataset)
        assert sorted(data for _, data in got) == sorted(n.encode() for n in names)
        assert len(got) == len(names)


def test_clients_that_go_away_release_their_work_items(
    server_factory: Callable[..., StrataServer],
) -> None:
    """More abandoned streams than a worker admits at once (32): none of them stays in flight."""
    srv = server_factory(workers=1)
    bucket = _make_bucket(srv.endpoint)
    client = fast_client(srv.endpoint)
    client.bucket(bucket).object("big").get_writer().put_content(pattern("big", 1 << 20))
    body = {"in": [{"objname": "big"}] * 2000, "strm": True}
    for _ in range(40):
        with requests.get(f"{srv.endpoint}/v1/ml/moss/{bucket}", json=body, stream=True, timeout=30) as resp:
            assert resp.status_code == 200
            assert resp.raw.read(1 << 20)
    deadline = time.monotonic() + 10
    while True:
        resp = raw(
            "GET", f"{srv.endpoint}/v1/ml/moss/{bucket}", json={"in": [{"objname": "big"}], "strm": True}
        )
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert resp.status_code == 200, resp.text
    body_status = {"ID": "", "Kind": "get-batch", "DaemonID": "", "Bck": None, "Buckets": None}
    while time.monotonic() < deadline:  # the job goes back to idle once every work item has ended
        snaps = next(
            iter(raw("GET", f"{srv.endpoint}/v1/cluster?what=qryxstats", json=body_status).json().values())
        )
        if all(s["is_idle"] for s in snaps):
            break
        time.sleep(0.2)
    assert all(s["is_idle"] for s in snaps), snaps
