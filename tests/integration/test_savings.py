"""The savings report and the compression estimate against a real ``strata serve``.

Raw HTTP for the endpoints every node answers (``/v1/daemon?what=savings``, ``/v1/cluster?what=savings``),
the official SDK to write objects, and ``python -m strata savings|estimate`` run as a user runs them.
The numbers are checked against what the test wrote (original bytes and objects are known exactly)
and against the server's own recount (``verify=true``); a file removed behind the server's back must
make ``--verify`` fail and name the bucket.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket

from .helpers import fast_client, raw
from .server import REPO_ROOT, StrataServer

GIB = 1 << 30


def strata(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["AIS_ENDPOINT"] = endpoint
    env.pop("STRATA_ENDPOINT", None)
    return subprocess.run(
        [sys.executable, "-m", "strata", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def strata_json(endpoint: str, *args: str) -> dict[str, Any]:
    result = strata(endpoint, *args, "--format", "json")
    assert result.returncode == 0, (result.stdout, result.stderr)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def savings(endpoint: str, scope: str = "cluster", **query: str) -> dict[str, Any]:
    answer = raw("GET", f"{endpoint}/v1/{scope}", params={"what": "savings", **query})
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def compressing(client: Client, name: str) -> Bucket:
    bucket = client.bucket(name).create()
    bucket.make_request("PATCH", "set-bprops", value={"compression": {"enabled": True}})
    return bucket


def log_lines(count: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    return b"".join(
        b'10.0.%d.%d - - [12/Mar/2025:10:%02d:%02d] "GET /api/v1/items/%d HTTP/1.1" 200 %d\n'
        % (
            rng.randrange(256),
            rng.randrange(256),
            i % 60,
            rng.randrange(60),
            rng.randrange(10**6),
            rng.randrange(9999),
        )
        for i in range(count)
    )


def check_arithmetic(row: dict[str, Any]) -> None:
    original, stored = row["original_bytes"], row["stored_bytes"]
    assert row["saved_bytes"] == max(0, original - stored)
    assert row["ratio"] == pytest.approx(original / stored if stored else 1.0, rel=1e-5)
    assert row["saved_ratio"] == pytest.approx(row["saved_bytes"] / original if original else 0.0, rel=1e-5)


def test_every_node_answers_the_ledger_of_what_was_written(
    client: Client, endpoint: str, bucket_name: str
) -> None:
    bucket = compressing(client, bucket_name)
    sizes = {"a.log": 300_000, "b.log": 70_000, "c.bin": 50_000, "empty": 0}
    for name, size in sizes.items():
        body = os.urandom(size) if name.endswith(".bin") else log_lines(size // 60 + 1)[:size]
        bucket.object(name).get_writer().put_content(body)
    bucket.object("b.log").get_writer().put_content(log_lines(100)[:1000])  # an overwrite shrinks it
    sizes["b.log"] = 1000
    bucket.object("c.bin").delete()
    del sizes["c.bin"]
    uri = f"ais://{bucket_name}"
    for scope in ("cluster", "daemon"):
        report = savings(endpoint, scope, bck=bucket_name, provider="ais")
        [row] = report["buckets"]
        assert row["bucket"] == uri
        assert row["original_bytes"] == sum(sizes.values())
        assert row["objects"] == len(sizes)
        assert row["stored_bytes"] > 0
        check_arithmetic(row)
        check_arithmetic(report["total"])
        assert report["total"]["original_bytes"] == row["original_bytes"]
    everything = savings(endpoint)
    assert uri in [row["bucket"] for row in everything["buckets"]]
    assert everything["total"]["original_bytes"] == sum(
        row["original_bytes"] for row in everything["buckets"]
    )
    verified = savings(endpoint, bck=bucket_name, verify="true")
    assert verified["verified"] is True and verified["differences"] == [] and verified["unsettled"] == []
    assert verified["buckets"] == savings(endpoint, bck=bucket_name)["buckets"]


def test_bad_savings_queries_are_4xx(endpoint: str) -> None:
    missing = raw("GET", f"{endpoint}/v1/cluster", params={"what": "savings", "bck": "no-such-bucket-sv"})
    assert missing.status_code == 404 and "no-such-bucket-sv" in missing.text
    bad_verify = raw("GET", f"{endpoint}/v1/daemon", params={"what": "savings", "verify": "maybe"})
    assert bad_verify.status_code == 400 and "verify" in bad_verify.text


def test_cli_savings_table_json_and_price(client: Client, endpoint: str, bucket_name: str) -> None:
    bucket = compressing(client, bucket_name)
    for i in range(3):
        bucket.object(f"part-{i}.log").get_writer().put_content(log_lines(4000, seed=i))
    uri = f"ais://{bucket_name}"
    report = strata_json(endpoint, "savings", uri, "--price-per-gb-month", "1.5")
    [row] = report["buckets"]
    assert row["bucket"] == uri and row["objects"] == 3
    assert report["price_per_gb_month"] == 1.5
    assert row["monthly_savings_usd"] == pytest.approx(row["saved_bytes"] / GIB * 1.5, abs=1e-6)
    assert report["total"]["monthly_savings_usd"] == pytest.approx(
        report["total"]["saved_bytes"] / GIB * 1.5, abs=1e-6
    )
    table = strata(endpoint, "savings", uri)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert any(line.startswith("BUCKET") and "SAVED%" in line and "$/MONTH" in line for line in lines), lines
    assert any(line.startswith(uri) for line in lines)
    assert "total: 3 objects" in table.stdout and "monthly savings: $" in table.stdout
    verified = strata(endpoint, "savings", uri, "--verify")
    assert verified.returncode == 0 and "verified" in verified.stdout, (verified.stdout, verified.stderr)
    missing = strata(endpoint, "savings", "ais://no-such-bucket-cli-sv")
    assert (
        missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )


def test_verify_names_a_bucket_whose_files_changed_behind_the_ledger(
    server_factory: Callable[..., StrataServer], tmp_path: Path
) -> None:
    srv = server_factory(workers=1)
    client = fast_client(srv.endpoint)
    bucket = compressing(client, "drift")
    for i in range(4):
        bucket.object(f"victim-{i}.log").get_writer().put_content(log_lines(500, seed=i))
    assert strata(srv.endpoint, "savings", "--verify").returncode == 0
    [path] = [p for p in srv.data_dir.parent.rglob("victim-2.log") if p.is_file()]
    path.unlink()  # an object gone without the store knowing: the ledger still counts it
    result = strata(srv.endpoint, "savings", "--verify")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert (
        "DIFFERENCE ais://drift" in result.stdout
        and "4 objects" in result.stdout
        and "3 objects" in result.stdout
    )
    report = savings(srv.endpoint, verify="true")
    assert report["verified"] is False
    [difference] = report["differences"]
    assert difference["bucket"] == "ais://drift"
    assert difference["ledger"]["objects"] == 4 and difference["recount"]["objects"] == 3


def test_verify_reports_a_compressed_object_that_no_longer_decodes(
    server_factory: Callable[..., StrataServer], tmp_path: Path
) -> None:
    srv = server_factory(workers=1)
    client = fast_client(srv.endpoint)
    bucket = compressing(client, "rot")
    for i in range(3):
        bucket.object(f"part-{i}.log").get_writer().put_content(log_lines(2000, seed=i))
    assert strata(srv.endpoint, "savings", "--verify").returncode == 0
    [path] = [p for p in srv.data_dir.parent.rglob("part-1.log") if p.is_file()]
    size = path.stat().st_size
    with open(path, "r+b") as stored:  # bit rot inside the first frame: same size, so the ledger agrees
        stored.seek(size // 3)
        byte = stored.read(1)
        stored.seek(size // 3)
        stored.write(bytes([byte[0] ^ 0xFF]))
    result = strata(srv.endpoint, "savings", "--verify")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "CORRUPTED ais://rot/part-1.log" in result.stdout
    assert "DIFFERENCE" not in result.stdout  # the bytes counted are right; the content is not
    report = savings(srv.endpoint, verify="true")
    assert report["verified"] is False and report["differences"] == []
    [corrupted] = report["corrupted"]
    assert corrupted["bucket"] == "ais://rot" and corrupted["object"] == "part-1.log"


# ----------------------------------------------------------------------------------------- estimate


@pytest.fixture
def mixed_bucket(client: Client, bucket_name: str) -> tuple[Bucket, dict[str, int]]:
    """A bucket with compression off: logs (compress well), random .bin (does not), tiny and empty files."""
    bucket = client.bucket(bucket_name).create()
    sizes = {}
    for i in range(6):
        body = log_lines(3000 + 500 * i, seed=i)
        bucket.object(f"logs/day-{i}.log").get_writer().put_content(body)
        sizes[f"logs/day-{i}.log"] = len(body)
    for i in range(4):
        body = os.urandom(100_000 + i)
        bucket.object(f"blobs/{i}.bin").get_writer().put_content(body)
        sizes[f"blobs/{i}.bin"] = len(body)
    bucket.object("tiny.txt").get_writer().put_content(b"hello")
    bucket.object("empty").get_writer().put_content(b"")
    sizes.update({"tiny.txt": 5, "empty": 0})
    return bucket, sizes


def test_estimate_projects_by_extension_with_the_real_codec(
    endpoint: str, mixed_bucket: tuple[Bucket, dict[str, int]]
) -> None:
    bucket, sizes = mixed_bucket
    report = strata_json(endpoint, "estimate", f"ais://{bucket.name}", "--sample", "16")
    strata = {row["stratum"]: row for row in report["strata"]}
    assert set(strata) == {"log", "bin", "txt", "(none)"}
    assert report["settings"]["compression_enabled"] is False and report["settings"]["level"] == 3
    logs, blobs = strata["log"], strata["bin"]
    assert logs["objects"] == 6 and logs["bytes"] == sum(v for k, v in sizes.items() if k.endswith(".log"))
    assert logs["sampled"] == 6 and logs["ratio"] > 2  # every log read: an exact projection
    assert blobs["sampled"] == 4 and blobs["passthrough"] == 4 and blobs["ratio"] == 1.0
    assert blobs["projected_bytes"] == blobs["bytes"]
    assert strata["txt"]["below_min_size"] == 1 and strata["txt"]["sampled"] == 0  # 5 B: stored as is
    assert strata["txt"]["projected_bytes"] == 5
    total = report["total"]
    assert total["objects"] == len(sizes) and total["bytes"] == sum(sizes.values())
    assert total["projected_bytes"] == sum(row["projected_bytes"] for row in report["strata"])
    assert total["saved_bytes"] == total["bytes"] - total["projected_bytes"] > 0
    assert report["monthly_savings_usd"] == pytest.approx(total["saved_bytes"] / GIB * 0.023, abs=1e-6)
    # the same bucket through Strata's S3 front with boto3: the same objects, the same projection
    via_s3 = strata_json(
        endpoint, "estimate", f"s3://{bucket.name}", "--sample", "16", "--endpoint-url", f"{endpoint}/s3"
    )
    assert via_s3["total"] == total
    assert via_s3["settings"]["compression_enabled"] is None


def test_estimate_samples_under_a_budget_and_by_prefix(
    endpoint: str, mixed_bucket: tuple[Bucket, dict[str, int]]
) -> None:
    bucket, _sizes = mixed_bucket
    uri = f"ais://{bucket.name}"
    first = strata_json(endpoint, "estimate", uri, "--sample", "3", "--seed", "7")
    again = strata_json(endpoint, "estimate", uri, "--sample", "3", "--seed", "7")
    assert first == again  # a seeded draw
    assert first["total"]["sampled"] == 3
    assert {row["stratum"]: row["sampled"] for row in first["strata"]}["log"] >= 1
    logs_only = strata_json(endpoint, "estimate", f"{uri}/logs/")
    assert [row["stratum"] for row in logs_only["strata"]] == ["log"]
    assert logs_only["total"]["objects"] == 6
    table = strata(endpoint, "estimate", uri, "--sample", "4", "--progress")
    assert table.returncode == 0, table.stderr
    assert (
        "STRATUM" in table.stdout and "projected total:" in table.stdout and "storage cost:" in table.stdout
    )
    assert "listing" in table.stderr and "sampling" in table.stderr  # progress goes to stderr


def test_estimate_of_a_missing_bucket_is_one_line(endpoint: str) -> None:
    result = strata(endpoint, "estimate", "ais://no-such-bucket-est")
    assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    bad = strata(endpoint, "estimate", "gs://x")
    assert bad.returncode == 2 and "unsupported" in bad.stderr


def test_estimate_reads_at_most_8_mib_of_an_object(client: Client, endpoint: str, bucket_name: str) -> None:
    bucket = client.bucket(bucket_name).create()
    big = log_lines(200_000)  # ~14 MiB
    assert len(big) > 9 << 20
    bucket.object("big.log").get_writer().put_content(big)
    report = strata_json(endpoint, "estimate", f"ais://{bucket_name}")
    [row] = report["strata"]
    assert row["sampled_bytes_read"] == 8 << 20 and row["bytes"] == len(big)
    assert row["ratio"] > 2
