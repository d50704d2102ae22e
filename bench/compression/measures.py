"""The issue-10 benchmarks, one function each; every one appends rows, notes and commands to a Report.

All of them run against real ``python -m strata serve`` processes (``Servers``), and measure their
anchor in the same run with the same files (page cache warm for both), alternating anchor and Strata
run by run, the median kept.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mmap
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.compression import client
from bench.compression.data import DataFile, sha256_of
from bench.compression.report import Report, Row, median
from bench.foundation import human_size, say
from bench.harness import CpuMeter, StrataServer, WrkResult, run_wrk, warm_page_cache
from bench.loader import put_objects

COMPRESS = {"enabled": True}  # everything else from the cluster default: codec auto, level 3, frames auto
PLAIN = {"enabled": False}
SMALL = 4096


class Server(StrataServer):
    """``bench.harness.StrataServer`` with extra environment (``STRATA_LEDGER=0``)."""

    def __init__(self, data_dir: Path, workers: int, log_dir: Path, env: dict[str, str] | None = None):
        super().__init__(data_dir, workers, log_dir=log_dir)
        self.extra_env = dict(env or {})

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.pop("STRATA_LEDGER", None)  # the default unless this server says otherwise
        env.update(self.extra_env)
        return env


@dataclass
class Context:
    server: Server
    files: dict[str, DataFile]
    runs: int
    workdir: Path
    workers: int
    getbatch_count: int
    range_requests: int
    duration: float
    warmup: float
    report: Report = field(default_factory=Report)
    single_ratio: dict[str, float] = field(default_factory=dict)  # kind -> original/stored of one PUT

    @property
    def base(self) -> str:
        return self.server.base

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir


def timed(command: str) -> float:
    """Wall seconds of one shell command (the anchors are shell one-liners, shown as run)."""
    started = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True)
    return time.perf_counter() - started


def mb_s(size: int, seconds: float) -> float:
    return size / 1e6 / seconds


def decoded_sha256(path: Path) -> str | None:
    """SHA-256 of ``zstd -d -c`` of a stored file (None if zstd refuses it): the stored form is
    never locked in."""
    hasher = hashlib.sha256()
    proc = subprocess.Popen(
        ["zstd", "-d", "-c", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    while chunk := proc.stdout.read(1 << 20):
        hasher.update(chunk)
    return hasher.hexdigest() if proc.wait() == 0 else None


def stored_note(ctx: Context, bucket: str, name: str, original_sha: str) -> str:
    """How the object is stored (frames, ``zstd -d`` of the file) and whether the savings ledger of its
    bucket (which holds only this object) agrees with the file's size."""
    path = client.object_file(ctx.data_dir, bucket, name)
    return f"{frames_note(path, original_sha)}; {ledger_note(ctx, bucket, path.stat().st_size)}"


def ledger_note(ctx: Context, bucket: str, stored: int) -> str:
    entry = client.ledger(ctx.base, bucket)
    if entry is None:
        return "no savings ledger served"
    ledger_stored = int(entry.get("stored_bytes", -1))
    agrees = "agrees" if ledger_stored == stored else f"DIFFERS by {ledger_stored - stored:+,} B"
    return f"savings ledger: {ledger_stored:,} B stored, {int(entry.get('objects', -1))} object(s) ({agrees})"


def frames_note(path: Path, original_sha: str) -> str:
    frames = client.stored_frames(path)
    if frames is None:
        return "stored as it is (no seek table)"
    decoded = decoded_sha256(path)
    zstd_d = "zstd -d gives the original bytes" if decoded == original_sha else "zstd -d does NOT give them"
    first = human_size(frames.original_offsets[1]) if frames.count else "-"
    return f"{frames.count} frames (the first of {first}); {zstd_d}"


# ---------------------------------------------------------------------------------------------
# 2-3: ratio, PUT and GET MB/s of the log and the columnar file


def bench_file(ctx: Context, kind: str) -> None:
    data, report = ctx.files[kind], ctx.report
    bucket, name, size = f"cz-{kind}", f"{kind}.dat", ctx.files[kind].size
    path, zst = data.path, ctx.workdir / f"{kind}.zst"
    client.create_bucket(ctx.base, bucket, COMPRESS)
    warm_page_cache([path])
    compress_cmd = f"zstd -3 -q -f -c {path} > {zst}"
    timed(compress_cmd)
    anchor_ratio = size / zst.stat().st_size
    report.command(compress_cmd.replace(str(ctx.workdir), "SCRATCH"))
    client.put_file(ctx.base, bucket, name, path)  # warm-up, and the object the ratio is read from
    stored = client.stored_size(ctx.data_dir, bucket, name)
    ctx.single_ratio[kind] = size / stored
    _, got = client.get_discard(ctx.base, bucket, name, size, digest=True)
    if got != data.sha256:
        raise client.BenchError(f"GET {bucket}/{name} answered other bytes than {path}")
    label = f"{kind} {human_size(size) if size % (1 << 20) == 0 else f'{size / (1 << 20):.0f} MiB'}"
    report.add(
        Row(f"{label}: ratio original/stored", size / stored, anchor_ratio, "zstd -3 of the file", low=0.9)
    )
    report.notes.append(
        f"{label}: {data.description}; {size:,} B stored as {stored:,} B (the object's file in "
        f"the data dir); zstd -3: {zst.stat().st_size:,} B; "
        f"{stored_note(ctx, bucket, name, data.sha256)}"
    )

    put_cmd = f"zstd -3 -T2 -q -c {path} > /dev/null"
    get_cmd = f"zstd -d -q -c {zst} > /dev/null"
    report.command(put_cmd)
    report.command(get_cmd.replace(str(ctx.workdir), "SCRATCH"))
    puts: dict[str, list[Sample]] = {"strata": [], "anchor": []}
    gets: dict[str, list[Sample]] = {"strata": [], "anchor": []}
    for run in range(ctx.runs):
        puts["anchor"].append(sample(ctx, size, lambda: timed(put_cmd), server=False))
        puts["strata"].append(sample(ctx, size, lambda: client.put_file(ctx.base, bucket, name, path)))
        gets["anchor"].append(sample(ctx, size, lambda: timed(get_cmd), server=False))
        gets["strata"].append(sample(ctx, size, lambda: client.get_discard(ctx.base, bucket, name, size)[0]))
        say(
            f"{label} run {run + 1}: PUT {puts['strata'][-1].mb_s:,.0f} MB/s "
            f"(zstd -3 -T2 {puts['anchor'][-1].mb_s:,.0f}), "
            f"GET {gets['strata'][-1].mb_s:,.0f} MB/s (zstd -d {gets['anchor'][-1].mb_s:,.0f})"
        )
    for what, runs, anchor, low in (
        ("PUT", puts, "zstd -3 -T2 to /dev/null", 0.6),
        ("GET", gets, "zstd -d to /dev/null", 0.7),
    ):
        strata_rate, anchor_rate = (
            median([x.mb_s for x in runs["strata"]]),
            median([x.mb_s for x in runs["anchor"]]),
        )
        report.add(Row(f"{label}: {what} MB/s", strata_rate, anchor_rate, anchor, low=low))
        strata_cpu, anchor_cpu = (
            median([x.cpu_s_gb for x in runs["strata"]]),
            median([x.cpu_s_gb for x in runs["anchor"]]),
        )
        report.add(Row(f"{label}: {what} CPU-seconds per GB", strata_cpu, anchor_cpu, "zstd's"))
        report.notes.append(
            f"{label} {what} runs (median kept): strata {'; '.join(x.text() for x in runs['strata'])}; "
            f"anchor {'; '.join(x.text() for x in runs['anchor'])}"
        )


@dataclass(frozen=True)
class Sample:
    """One measured transfer: MB/s, the CPU it cost per GB (the server's process tree for Strata, the
    anchor command's for zstd), and the cores everything else on the machine used meanwhile."""

    mb_s: float
    cpu_s_gb: float
    others_cores: float

    def text(self) -> str:
        return f"{self.mb_s:,.0f} MB/s ({self.cpu_s_gb:.2f} CPU-s/GB, others {self.others_cores:.2f} cores)"


def sample(ctx: Context, size: int, work: Callable[[], float], server: bool = True) -> Sample:
    with CpuMeter([ctx.server.pid]) as meter:
        seconds = work()
    split = meter.split
    assert split is not None
    # the anchor command is this process's child: its CPU is what the meter counts as the client's
    cpu = split.server_user_s + split.server_system_s if server else split.client_cores * split.seconds
    return Sample(mb_s(size, seconds), cpu / (size / 1e9), split.foreign_cores)


# ---------------------------------------------------------------------------------------------
# 4: random bytes


def bench_random(ctx: Context) -> None:
    data, report = ctx.files["random"], ctx.report
    size, name = data.size, "random.bin"
    client.create_bucket(ctx.base, "cz-random", COMPRESS)
    client.create_bucket(ctx.base, "plain-random", PLAIN)
    warm_page_cache([data.path])
    for bucket in ("cz-random", "plain-random"):
        client.put_file(ctx.base, bucket, name, data.path)
    stored = client.stored_size(ctx.data_dir, "cz-random", name)
    _, got = client.get_discard(ctx.base, "cz-random", name, size, digest=True)
    if got != data.sha256:
        raise client.BenchError("GET cz-random answered other bytes than the file")
    label = f"random {human_size(size)}"
    report.add(Row(f"{label}: stored bytes", stored, size, "original bytes", high=1.001))
    report.notes.append(
        f"{label}: stored as {stored:,} B ({(stored - size) / size:+.4%}); "
        f"{stored_note(ctx, 'cz-random', name, data.sha256)}"
    )
    runs: dict[str, list[Sample]] = {"cz-random": [], "plain-random": []}
    for run in range(ctx.runs):
        for bucket in runs:
            runs[bucket].append(
                sample(ctx, size, functools.partial(client.put_file, ctx.base, bucket, name, data.path))
            )
        say(
            f"{label} run {run + 1}: PUT {runs['cz-random'][-1].mb_s:,.0f} MB/s, "
            f"uncompressed {runs['plain-random'][-1].mb_s:,.0f}"
        )
    rate = {bucket: median([x.mb_s for x in samples]) for bucket, samples in runs.items()}
    cpu = {bucket: median([x.cpu_s_gb for x in samples]) for bucket, samples in runs.items()}
    report.add(
        Row(f"{label}: PUT MB/s", rate["cz-random"], rate["plain-random"], "uncompressed bucket", low=0.8)
    )
    report.add(Row(f"{label}: PUT CPU-seconds per GB", cpu["cz-random"], cpu["plain-random"], "uncompressed"))
    report.notes.append(
        f"{label} PUT runs: compressing bucket {'; '.join(x.text() for x in runs['cz-random'])}; "
        f"uncompressed {'; '.join(x.text() for x in runs['plain-random'])}"
    )


# ---------------------------------------------------------------------------------------------
# 5: the log through awscli multipart, 8 MiB parts


def bench_multipart(ctx: Context) -> None:
    data, report = ctx.files["access"], ctx.report
    bucket, key, size = "cz-multipart", "access.log", data.size
    if "access" not in ctx.single_ratio:  # the single PUT's ratio, if bench_file did not run
        client.create_bucket(ctx.base, "cz-access", COMPRESS)
        client.put_file(ctx.base, "cz-access", "access.dat", data.path)
        ctx.single_ratio["access"] = size / client.stored_size(ctx.data_dir, "cz-access", "access.dat")
    client.create_bucket(ctx.base, bucket, COMPRESS)
    home = ctx.workdir / "aws"
    home.mkdir(exist_ok=True)
    config = home / "config"
    config.write_text("[default]\nregion = us-east-1\n")
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
    }
    aws = [sys.executable, "-m", "awscli"]
    for setting, value in (
        ("s3.addressing_style", "path"),
        ("s3.multipart_threshold", "8MB"),
        ("s3.multipart_chunksize", "8MB"),
    ):
        subprocess.run([*aws, "configure", "set", f"default.{setting}", value], env=env, check=True)
    endpoint = f"{ctx.base}/s3"
    upload = [
        *aws,
        "--endpoint-url",
        endpoint,
        "s3",
        "cp",
        "--only-show-errors",
        str(data.path),
        f"s3://{bucket}/{key}",
    ]
    started = time.perf_counter()
    subprocess.run(upload, env=env, check=True)
    seconds = time.perf_counter() - started
    head = subprocess.run(
        [*aws, "--endpoint-url", endpoint, "s3api", "head-object", "--bucket", bucket, "--key", key],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    etag = str(json.loads(head.stdout).get("ETag", ""))
    stored = client.stored_size(ctx.data_dir, bucket, key)
    _, got = client.get_discard(ctx.base, bucket, key, size, digest=True)
    if got != data.sha256:
        raise client.BenchError("the multipart upload reads back as other bytes")
    label = f"access {human_size(size)} via awscli multipart (8 MiB parts)"
    report.add(
        Row(
            f"{label}: ratio",
            size / stored,
            ctx.single_ratio["access"],
            "ratio of the single PUT",
            low=0.9,
            high=1.1,
        )
    )
    report.notes.append(
        f"{label}: ETag {etag} ({etag.strip(chr(34)).rpartition('-')[2]} parts), stored {stored:,} B, "
        f"upload {mb_s(size, seconds):,.0f} MB/s; {stored_note(ctx, bucket, key, data.sha256)}"
    )
    report.command(
        "AWS_CONFIG_FILE=SCRATCH/aws/config aws configure set default.s3.multipart_chunksize 8MB "
        "(and multipart_threshold 8MB, addressing_style path)"
    )
    report.command(f"aws --endpoint-url http://127.0.0.1:STRATA/s3 s3 cp {data.path} s3://{bucket}/{key}")


# ---------------------------------------------------------------------------------------------
# 6: 4 KiB range GETs in a 1 GiB object


def bench_range(ctx: Context, repeat: int = 4) -> None:
    data, report = ctx.files["access"], ctx.report
    total, name = data.size * repeat, "access-x4.dat"
    buckets = {"cz": "cz-range", "plain": "plain-range"}
    client.create_bucket(ctx.base, buckets["cz"], COMPRESS)
    client.create_bucket(ctx.base, buckets["plain"], PLAIN)
    warm_page_cache([data.path])
    notes = []
    for tag, bucket in buckets.items():
        seconds = client.put_file(ctx.base, bucket, name, data.path, repeat=repeat)
        notes.append(f"{tag} PUT {mb_s(total, seconds):,.0f} MB/s")
    want = sha256_of(data.path, repeat)
    _, got = client.get_discard(ctx.base, buckets["cz"], name, total, digest=True)
    if got != want:
        raise client.BenchError("the 4x object reads back as other bytes")
    stored_path = client.object_file(ctx.data_dir, buckets["cz"], name)
    frames = client.stored_frames(stored_path)
    rnd = random.Random(13)
    offsets = [rnd.randrange(0, total - SMALL) for _ in range(ctx.range_requests)]
    latencies: dict[str, list[float]] = {"cz": [], "plain": []}
    decoded, counter_name = 0.0, ""
    with data.path.open("rb") as original:

        def expected(offset: int) -> bytes:
            local = offset % data.size
            original.seek(local)
            piece = original.read(SMALL)
            if len(piece) < SMALL:  # the range crosses from one copy of the file into the next
                original.seek(0)
                piece += original.read(SMALL - len(piece))
            return piece

        half = len(offsets) // 2
        for part in (offsets[:half], offsets[half:]):
            for tag, bucket in buckets.items():
                # a fresh connection per part: the server closes one left idle while the other bucket's
                # part runs; a few uncounted reads warm it (and, the first time, the metadata and pages)
                reader = client.RangeReader(ctx.base, bucket, name)
                try:
                    for offset in part[:5] if latencies[tag] else offsets[:50]:
                        reader.read(offset, SMALL)
                    before = client.counter(client.metrics(ctx.base), client.FRAMES_DECODED)
                    for offset in part:
                        seconds, body = reader.read(offset, SMALL)
                        if body != expected(offset):
                            raise client.BenchError(f"range GET {tag} @{offset} answered other bytes")
                        latencies[tag].append(seconds * 1e3)
                    after = client.counter(client.metrics(ctx.base), client.FRAMES_DECODED)
                finally:
                    reader.close()
                if tag == "cz" and before is not None and after is not None:
                    decoded, counter_name = decoded + after[1] - before[1], after[0]
    label = f"range GET 4 KiB in a {human_size(total)} object"
    for q, what in ((50, "p50"), (99, "p99")):
        report.add(
            Row(
                f"{label}: {what} ms",
                percentile(latencies["cz"], q),
                percentile(latencies["plain"], q),
                "same GETs on an uncompressed copy",
            )
        )
    requests = len(latencies["cz"])
    least = sum(frames.touched(o, SMALL) for o in offsets) / len(offsets) if frames else None
    per_request = decoded / requests if counter_name else None
    report.add(
        Row(
            f"{label}: frames decoded per request",
            per_request,
            least,
            "frames the ranges touch (seek table)",
            high=1.0,
        )
    )
    report.notes.append(
        f"{label}: {requests:,} requests per bucket at offsets from random.Random(13), a keep-alive "
        f"connection per bucket and half, every answer checked; {'; '.join(notes)}; compressed copy: "
        f"{client.stored_size(ctx.data_dir, buckets['cz'], name):,} B, "
        + (f"{frames.count} frames of {human_size(frames.original_offsets[1])}" if frames else "stored as is")
        + (
            f"; frames decoded from {counter_name} (/metrics delta over the measured requests)"
            if counter_name
            else "; no frames-decoded counter in /metrics"
        )
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------------------
# 7: GetBatch through the official SDK


def log_slices(data: DataFile) -> tuple[Callable[[str], bytes], Callable[[], None]]:
    """4 KiB bodies cut from the access log (compressible like real small objects); object ``x-N``
    gets the slice at an offset that depends on N. Returns (body_for, close)."""
    f = data.path.open("rb")
    view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    span = data.size - SMALL

    def body_for(name: str) -> bytes:
        index = int(name.rsplit("-", 1)[1])
        offset = (index * 7919 * 13) % span
        return bytes(view[offset : offset + SMALL])

    def close() -> None:
        view.close()
        f.close()

    return body_for, close


def bench_getbatch(ctx: Context) -> None:
    from aistore.sdk import Client

    report, count = ctx.report, ctx.getbatch_count
    names = [f"obj-{i:05d}" for i in range(count)]
    buckets = {"cz": "cz-getbatch", "plain": "plain-getbatch"}
    body_for, close = log_slices(ctx.files["access"])
    sdk = Client(ctx.base)
    runs: dict[str, list[float]] = {"cz": [], "plain": []}
    costs: dict[str, list[float]] = {"cz": [], "plain": []}
    others: dict[str, list[float]] = {"cz": [], "plain": []}
    compressed: int | None = None
    try:
        before = client.counter(client.metrics(ctx.base), client.COMPRESSED_PUTS)
        for tag, bucket in buckets.items():
            client.create_bucket(ctx.base, bucket, COMPRESS if tag == "cz" else PLAIN)
            put_objects(ctx.base, bucket, names, body_for, connections=16)
            if tag == "cz":
                after = client.counter(client.metrics(ctx.base), client.COMPRESSED_PUTS)
                compressed = int(after[1] - before[1]) if before and after else None
        checked = names[:: max(1, count // 50)]

        def one_batch(tag: str) -> float:
            batch = sdk.batch(
                names, bucket=sdk.bucket(buckets[tag]), output_format=".tar", streaming_get=True
            )
            started = time.perf_counter()
            got, received = 0, 0
            spot = set(checked)
            for info, body in batch.get():
                got, received = got + 1, received + len(body)
                name = info.obj_name
                if name in spot and body != body_for(name):
                    raise client.BenchError(f"GetBatch {tag}: {name} answered other bytes")
            seconds = time.perf_counter() - started
            if got != count or received != count * SMALL:
                raise client.BenchError(
                    f"GetBatch {tag}: {got:,} entries, {received:,} B for {count:,} x 4 KiB"
                )
            return seconds

        for tag in buckets:
            one_batch(tag)  # warm
        for run in range(ctx.runs):
            for tag in buckets:
                batches, seconds = 0, 0.0
                with CpuMeter([ctx.server.pid]) as meter:
                    while batches == 0 or seconds < ctx.duration:
                        seconds += one_batch(tag)
                        batches += 1
                split = meter.split
                assert split is not None
                files = batches * count
                runs[tag].append(files / seconds)
                costs[tag].append((split.server_user_s + split.server_system_s) / files * 1e6)
                others[tag].append(split.foreign_cores)
            say(
                f"GetBatch run {run + 1}: compressing {runs['cz'][-1]:,.0f} files/s, "
                f"uncompressed {runs['plain'][-1]:,.0f}"
            )
    finally:
        close()
    label = f"GetBatch {count:,} x 4 KiB (SDK Batch, .tar stream)"
    report.add(
        Row(f"{label}: files/s", median(runs["cz"]), median(runs["plain"]), "uncompressed bucket", low=0.5)
    )
    report.add(
        Row(f"{label}: server CPU µs per file", median(costs["cz"]), median(costs["plain"]), "uncompressed")
    )
    stored = client.stored_size(ctx.data_dir, buckets["cz"], names[0])
    report.notes.append(
        f"{label}: bodies are 4 KiB slices of the access log; compressed writes while populating: "
        f"{compressed if compressed is not None else 'no counter'}; obj-00000 stored as {stored:,} B; "
        f"each run repeats the batch for {ctx.duration:g} s; the SDK parses the tar in Python, so files/s "
        "is mostly the client's: the server CPU per file is the server's own cost"
    )
    for tag, what in (("cz", "compressing"), ("plain", "uncompressed")):
        cells = "; ".join(
            f"{rate:,.0f} files/s, {cost:.1f} µs server CPU/file, others {other:.2f} cores"
            for rate, cost, other in zip(runs[tag], costs[tag], others[tag], strict=True)
        )
        report.notes.append(f"{label}, {what} runs (median kept): {cells}")
    report.command(
        f"aistore.sdk Client.batch([{count:,} names], bucket=..., output_format='.tar', "
        "streaming_get=True).get()"
    )


# ---------------------------------------------------------------------------------------------
# 8: PUT 4 KiB with the savings ledger on and off


def bench_ledger(ctx: Context) -> None:
    """wrk ``-t2 -c16`` PUTting 4 KiB log slices to distinct names for ``duration`` seconds per run, two
    servers up at once (ledger on, ledger off), runs alternating; obj/s and server CPU per PUT."""
    report, duration = ctx.report, ctx.duration
    source = Path(__file__).resolve().parents[2] / "strata"
    knows = any("STRATA_LEDGER" in p.read_text(errors="ignore") for p in source.rglob("*.py"))
    servers = {
        "on": Server(ctx.workdir / "ledger-on" / "data", ctx.workers, ctx.workdir),
        "off": Server(ctx.workdir / "ledger-off" / "data", ctx.workers, ctx.workdir, {"STRATA_LEDGER": "0"}),
    }
    runs: dict[str, list[WrkResult]] = {"on": [], "off": []}
    threads, connections = 2, 16
    body_file = str(ctx.files["access"].path)
    try:
        for server in servers.values():
            server.start()
            client.create_bucket(server.base, "cz-put", COMPRESS)
        for run in range(ctx.runs + 1):  # run 0 warms up
            for tag, server in servers.items():
                os.sync()  # no dirty pages of the previous run slow this one
                args = [f"/v1/objects/cz-put/r{run}-", body_file, str(SMALL), "?provider=ais"]
                seconds = ctx.warmup if run == 0 else duration
                result = run_wrk(
                    server.base,
                    "put_file_slices.lua",
                    args,
                    threads,
                    connections,
                    seconds,
                    server_pid=server.pid,
                )
                if result.errors:
                    raise client.BenchError(f"ledger {tag}: {result.errors} wrk errors")
                if run:
                    runs[tag].append(result)
                if run == 1:
                    report.command(result.command.replace(f":{server.port}", ":STRATA"))
            if run:
                say(
                    f"ledger run {run}: on {runs['on'][-1].rps:,.0f} obj/s, "
                    f"off {runs['off'][-1].rps:,.0f} obj/s"
                )
    finally:
        for server in servers.values():
            server.stop()
    label = f"PUT 4 KiB into a compressing bucket (wrk -t{threads} -c{connections})"
    rate = {tag: median([r.rps for r in results]) for tag, results in runs.items()}
    cost = {tag: median([sum(r.cpu_per_request_us()) for r in results]) for tag, results in runs.items()}
    report.add(
        Row(f"{label}: obj/s, ledger on", rate["on"], rate["off"], "ledger off (STRATA_LEDGER=0)", low=0.9)
    )
    report.add(Row(f"{label}: server CPU µs per PUT, ledger on", cost["on"], cost["off"], "ledger off"))
    for tag, results in runs.items():
        cells = "; ".join(
            f"{r.rps:,.0f} obj/s, {sum(r.cpu_per_request_us()):.0f} µs server CPU/PUT, "
            f"p99 {r.lat_p99_ms:.1f} ms, others {r.foreign_cores:.2f} cores"
            for r in results
        )
        report.notes.append(f"{label}, ledger {tag} runs ({duration:g} s each, median kept): {cells}")
    report.notes.append(
        f"{label}: two servers ({ctx.workers} workers each, both up for the whole run, runs alternate), "
        "bodies are 4 KiB slices of the access log's first 4 MiB; "
        + (
            "the server reads STRATA_LEDGER"
            if knows
            else "this tree does not read STRATA_LEDGER yet (no ledger): both servers are the same"
        )
    )


def all_benches() -> dict[str, Callable[[Context], None]]:
    return {
        "access": lambda ctx: bench_file(ctx, "access"),
        "columnar": lambda ctx: bench_file(ctx, "columnar"),
        "random": bench_random,
        "multipart": bench_multipart,
        "range": bench_range,
        "getbatch": bench_getbatch,
        "ledger": bench_ledger,
    }
