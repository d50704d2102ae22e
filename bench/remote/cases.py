"""The four cases of ``python -m bench.remote`` (the package docstring says what each compares).

Each case populates what it needs (moto directly with boto3, ``ais://`` buckets through Strata), checks
the bytes both sides answer, measures Strata and its anchor alternately, and adds its rows to the
report with the CPU split of the measured runs (servers = Strata and moto; client = this process and
wrk; others = everything else on the machine).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aistore.sdk import Client
from aistore.sdk.errors import AISError

from bench.foundation import Bodies, best, human_size, per_cpu_second, say
from bench.harness import CpuMeter, WrkResult, machine_busy, run_wrk
from bench.loader import put_objects
from bench.remote.client import (
    BenchError,
    BotoGets,
    StrataGets,
    cached_count,
    create_ais_bucket,
    evict,
    parallel,
    put_remote,
    start_job,
    wait_job,
)
from bench.remote.report import NOT_BUILT, Report, Row
from bench.remote.servers import CachingStrata, Moto, pids


@dataclass
class Sizes:
    """How much each case moves (``--quick`` shrinks every count and the blob)."""

    warm_small: int  # 4 KiB objects
    warm_large: int  # 1 MiB objects
    cold: int  # 256 KiB objects (cold and prefetch)
    blob: int  # bytes of the blob object
    rounds: int  # measured rounds per side
    duration: float  # seconds per wrk run
    threads: int  # client threads of the cold GETs (both sides)


BOTO_CHUNK = 8 << 20  # boto3's default TransferConfig: multipart_chunksize ...
BOTO_THREADS = 10  # ... and max_concurrency

FULL = Sizes(warm_small=2_000, warm_large=256, cold=1_000, blob=1 << 30, rounds=3, duration=10.0, threads=16)
QUICK = Sizes(warm_small=500, warm_large=64, cold=300, blob=128 << 20, rounds=2, duration=3.0, threads=16)


@dataclass
class Context:
    strata: CachingStrata
    moto: Moto
    s3: Any  # the anchors' boto3 client
    sdk: Client
    sizes: Sizes
    workdir: Path
    report: Report
    cold_objects: tuple[str, list[str], int] | None = None  # (bucket, names, size): made once, shared

    def load(self, meter: CpuMeter) -> str:
        split = meter.split
        return split.text() if split is not None else ""

    def meter(self) -> CpuMeter:
        return CpuMeter(pids(self.strata, self.moto))


def _bucket(ctx: Context, label: str) -> str:
    name = f"bench-{label}-{os.getpid()}-{int(time.time())}"
    ctx.s3.create_bucket(Bucket=name)
    return name


# -- warm GET: a cached s3:// object against an ais:// object, same server, same wrk script -----------


def warm(ctx: Context) -> None:
    for size, count in ((4 << 10, ctx.sizes.warm_small), (1 << 20, ctx.sizes.warm_large)):
        _warm_size(ctx, size, count)


def _warm_size(ctx: Context, size: int, count: int) -> None:
    label = f"warm GET {human_size(size)} ({count:,} obj)"
    remote = _bucket(ctx, f"warm{size}")
    local = f"{remote}-ais"
    names = [f"w-{i:06d}" for i in range(count)]
    bodies = Bodies(size)
    say(f"{label}: {count:,} objects into s3://{remote} (moto) and ais://{local} (Strata)")
    put_remote(ctx.s3, remote, names, bodies.for_name)
    create_ais_bucket(ctx.strata.base, local)
    put_objects(ctx.strata.base, local, names, bodies.for_name, connections=16)
    job_id, _ = start_job(ctx.sdk.bucket(remote, provider="aws").objects(obj_template="w-").prefetch)
    seconds = wait_job(ctx.sdk, job_id)
    cached = cached_count(ctx.sdk, remote, "w-")
    if cached != count:
        raise BenchError(f"{label}: {cached} of {count} objects cached after the prefetch")
    say(f"{label}: all {count:,} cached by a prefetch in {seconds:.1f}s")
    for i in (0, count - 1):
        for bucket, provider in ((remote, "aws"), (local, "ais")):
            got = ctx.sdk.bucket(bucket, provider=provider).object(names[i]).get_reader().read_all()
            if got != bodies.for_index(i):
                raise BenchError(f"{provider}://{bucket}/{names[i]}: wrong bytes")
    sides = {"s3:// (cached)": (remote, "aws"), "ais://": (local, "ais")}
    runs: dict[str, list[WrkResult]] = {who: [] for who in sides}
    meter = ctx.meter()
    with meter:
        for _round in range(ctx.sizes.rounds + 1):  # the first round warms both up, unmeasured
            for who, (bucket, provider) in sides.items():
                args = [f"/v1/objects/{bucket}/w-", "0", str(count), f"?provider={provider}"]
                result = run_wrk(ctx.strata.base, "get_cycle.lua", args, 2, 64, ctx.sizes.duration,
                                 server_pid=ctx.strata.pid)  # fmt: skip
                if result.errors:
                    raise BenchError(
                        f"{label} {who}: {result.errors} errors ({result.status_errors} non-2xx)"
                    )
                if _round:
                    runs[who].append(result)
                    user, kernel = result.cpu_per_request_us()
                    say(
                        f"{label} round {_round} {who}: {result.rps:,.0f} req/s, server {user:.1f} us user "
                        f"+ {kernel:.1f} us kernel per request; {result.cpu_text()}"
                    )
    remote_runs, local_runs = runs["s3:// (cached)"], runs["ais://"]
    load = ctx.load(meter)
    ctx.report.add(Row(f"{label} req/s", "req/s", best(remote_runs).rps, best(local_runs).rps,
                       "ais:// bucket, same server", 0.95, load))  # fmt: skip
    ctx.report.add(Row(f"{label} req per server CPU-second", "req/core-s", per_cpu_second(remote_runs),
                       per_cpu_second(local_runs), "ais:// bucket, same server", None, load))  # fmt: skip
    ctx.report.note(
        f"{label}: every round, req/s: "
        + "; ".join(f"{who} " + ", ".join(f"{r.rps:,.0f}" for r in values) for who, values in runs.items())
        + " (best kept; wrk -t2 -c64, bench/lua/get_cycle.lua). Per server CPU-second: the median "
        "round's cost per request, which moves much less with others' load than req/s does"
    )


# -- cold GET: through Strata, nothing cached, against boto3 straight from moto -----------------------


def _cold_objects(ctx: Context) -> tuple[str, list[str], int]:
    """The 256 KiB objects the cold and prefetch cases share (made once per run)."""
    if ctx.cold_objects is not None:
        return ctx.cold_objects
    size = 256 << 10
    bucket = _bucket(ctx, "cold")
    names = [f"c-{i:06d}" for i in range(ctx.sizes.cold)]
    bodies = Bodies(size)
    say(f"cold: {len(names):,} x {human_size(size)} into s3://{bucket} (moto)")
    put_remote(ctx.s3, bucket, names, bodies.for_name)
    first = ctx.sdk.bucket(bucket, provider="aws").object(names[0]).get_reader().read_all()
    if first != bodies.for_index(0):
        raise BenchError(f"s3://{bucket}/{names[0]} through Strata: wrong bytes")
    evict(ctx.sdk, bucket)
    ctx.cold_objects = (bucket, names, size)
    return ctx.cold_objects


def cold(ctx: Context) -> None:
    bucket, names, size = _cold_objects(ctx)
    threads = ctx.sizes.threads
    label = f"cold GET {human_size(size)} ({len(names):,} obj, {threads} threads)"
    strata = StrataGets(ctx.strata.base, bucket, "aws")
    boto = BotoGets(ctx.s3, bucket)
    rates: dict[str, list[float]] = {"strata": [], "boto3": []}
    meter = ctx.meter()
    try:
        with meter:
            for r in range(ctx.sizes.rounds):
                for who, get in (("boto3", boto.get), ("strata", strata.get)):
                    seconds, received = parallel(get, names, threads)
                    if received != size * len(names):
                        raise BenchError(f"{label} {who}: {received:,} B, want {size * len(names):,}")
                    rates[who].append(len(names) / seconds)
                    say(f"{label} round {r + 1} {who}: {len(names) / seconds:,.0f} obj/s")
                if cached_count(ctx.sdk, bucket, "c-") != len(names):
                    raise BenchError(f"{label}: not every object was cached by its cold GET")
                evict(ctx.sdk, bucket)
    finally:
        strata.close()
    top = {who: max(values) for who, values in rates.items()}
    ctx.report.add(Row(f"{label} obj/s", "obj/s", top["strata"], top["boto3"],
                       f"boto3 GETs from moto, {threads} threads", 0.8, ctx.load(meter)))  # fmt: skip
    ctx.report.note(f"{label}: every round, obj/s: " + _rounds(rates) + " (best kept)")


# -- prefetch: a job over the same objects against sequential boto3 GETs -------------------------------


def prefetch(ctx: Context) -> None:
    bucket, names, size = _cold_objects(ctx)
    label = f"prefetch {human_size(size)} ({len(names):,} obj)"
    boto = BotoGets(ctx.s3, bucket)
    rates: dict[str, list[float]] = {"strata": [], "boto3 sequential": [], "boto3 16 threads": []}
    template = f"c-{{{0:06d}..{len(names) - 1:06d}}}"
    meter = ctx.meter()
    with meter:
        for r in range(ctx.sizes.rounds):
            seconds, _ = parallel(boto.get, names, 1)
            rates["boto3 sequential"].append(len(names) / seconds)
            seconds, _ = parallel(boto.get, names, 16)  # what moto can serve at most: the ceiling
            rates["boto3 16 threads"].append(len(names) / seconds)
            objects = ctx.sdk.bucket(bucket, provider="aws").objects(obj_template=template)
            job_id, started = start_job(objects.prefetch)
            wait_job(ctx.sdk, job_id)
            seconds = time.perf_counter() - started
            cached = cached_count(ctx.sdk, bucket, "c-")
            if cached != len(names):
                raise BenchError(f"{label}: {cached} of {len(names)} cached after the job")
            rates["strata"].append(len(names) / seconds)
            say(f"{label} round {r + 1}: " + ", ".join(f"{w} {v[-1]:,.0f} obj/s" for w, v in rates.items()))
            evict(ctx.sdk, bucket)
    top = {who: max(values) for who, values in rates.items()}
    load = ctx.load(meter)
    ctx.report.add(Row(f"{label} obj/s", "obj/s", top["strata"], top["boto3 sequential"],
                       "sequential boto3 GETs", 4.0, load))  # fmt: skip
    ctx.report.add(Row(f"{label} against moto's ceiling", "obj/s", top["strata"], top["boto3 16 threads"],
                       "boto3 GETs, 16 threads", None, load))  # fmt: skip
    ctx.report.note(
        f"{label}: every round, obj/s: {_rounds(rates)} (best kept). The job's time runs from the request "
        "to the status poll (every 50 ms) that sees it end. moto serves from one Python process: the "
        "16-thread row is the most it gives any client on this machine, so it bounds the ratio too"
    )


# -- blob download: the job against one boto3 download_file -------------------------------------------


def blob(ctx: Context) -> None:
    size = ctx.sizes.blob
    label = f"blob download {human_size(size)}"
    bucket = _bucket(ctx, "blob")
    ctx.s3.put_object(Bucket=bucket, Key="probe", Body=b"p" * (256 << 10))
    try:
        start_job(ctx.sdk.bucket(bucket, provider="aws").object("probe").blob_download)
    except AISError as error:  # 501: not built yet; another refusal is reported as it is
        status = NOT_BUILT if error.status_code == 501 else f"refused (HTTP {error.status_code})"
        ctx.report.add(Row(f"{label} MB/s", "MB/s", None, None, "boto3 download_file", None, status=status))
        ctx.report.note(
            f"{label}: the server answers {error.status_code} to a blob-download of a 256 KiB object "
            f"({error.message[:200]}); nothing measured"
        )
        return
    source = ctx.workdir / "blob.bin"
    _write_random(source, size)
    say(f"{label}: uploading to s3://{bucket} (moto)")
    ctx.s3.upload_file(str(source), bucket, "blob")
    source.unlink()
    target = ctx.workdir / "blob.out"
    obj = ctx.sdk.bucket(bucket, provider="aws").object("blob")
    shaped = f"strata, {human_size(BOTO_CHUNK)} x {BOTO_THREADS} workers"
    rates: dict[str, list[float]] = {"strata": [], shaped: [], "boto3": []}
    downloads: dict[str, Callable[[], str]] = {
        "strata": obj.blob_download,  # the server's defaults (contract: 4 MiB chunks, 1 worker per 256 MiB)
        shaped: lambda: obj.blob_download(chunk_size=BOTO_CHUNK, num_workers=BOTO_THREADS),
    }
    meter = ctx.meter()
    with meter:
        for r in range(ctx.sizes.rounds):
            started = time.perf_counter()
            ctx.s3.download_file(bucket, "blob", str(target))
            rates["boto3"].append(size / (time.perf_counter() - started) / 1e6)
            if target.stat().st_size != size:
                raise BenchError(f"{label}: boto3 wrote {target.stat().st_size:,} B")
            target.unlink()
            for who, download in downloads.items():
                job_id, started = start_job(download)
                wait_job(ctx.sdk, job_id)
                rates[who].append(size / (time.perf_counter() - started) / 1e6)
                if obj.head().size != size:
                    raise BenchError(f"{label}: the cached object has {obj.head().size:,} B")
                evict(ctx.sdk, bucket)
            say(f"{label} round {r + 1}: " + ", ".join(f"{w} {v[-1]:,.0f} MB/s" for w, v in rates.items()))
    top = {who: max(values) for who, values in rates.items()}
    anchor = "one boto3 download_file (default transfer config)"
    load = ctx.load(meter)
    ctx.report.add(Row(f"{label} MB/s", "MB/s", top["strata"], top["boto3"], anchor, None, load))
    ctx.report.add(Row(f"{label}, boto3's chunks and threads, MB/s", "MB/s", top[shaped], top["boto3"],
                       anchor, None, load))  # fmt: skip
    ctx.report.note(
        f"{label}: every round, MB/s: {_rounds(rates)} (best kept; a job is timed to its end). boto3's "
        f"default transfer is {human_size(BOTO_CHUNK)} ranges on {BOTO_THREADS} threads; the second row "
        "asks the blob downloader for the same. moto copies the whole object for every range GET "
        "(75 ms per range of a 128 MiB object, whatever its length), so the number of ranges, not "
        "their bytes, sets both times here"
    )


def _write_random(path: Path, size: int) -> None:
    chunk = os.urandom(8 << 20)
    with path.open("wb") as out:
        left = size
        while left > 0:
            left -= out.write(chunk[: min(left, len(chunk))])


def _rounds(rates: dict[str, list[float]]) -> str:
    return "; ".join(f"{who} " + ", ".join(f"{v:,.0f}" for v in values) for who, values in rates.items())


CASES: dict[str, Callable[[Context], None]] = {"warm": warm, "cold": cold, "prefetch": prefetch, "blob": blob}


def busy_note(ctx: Context) -> None:
    ctx.report.note(f"machine busy before measuring (others' load): {machine_busy():.0%}")
