"""Foundation benchmarks: Strata against an anchor measured in the same run.

    python -m bench.foundation get  --size 4KiB --count 10000   # GET req/s and MB/s vs nginx
    python -m bench.foundation put  --size 4KiB                 # PUT objects/s vs nginx WebDAV PUT
    python -m bench.foundation list --count 1000000             # list a 1M-object bucket (entries/s, RSS)
    python -m bench.foundation all  --results bench/RESULTS.md  # everything, appended to RESULTS.md

A benchmark measures and reports; it never fails a build. The exit status is 0 unless the harness
itself broke (a server would not start, a request was answered wrongly).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import (
    REPO_ROOT,
    Nginx,
    StrataServer,
    WrkResult,
    autoindex_location,
    machine_busy,
    put_location,
    run_wrk,
    static_location,
    warm_page_cache,
)
from bench.loader import create_bucket, list_all_raw, list_all_sdk, put_objects


@dataclass
class Metric:
    name: str
    unit: str
    strata: float
    anchor: float | None
    anchor_name: str
    target: float | None  # minimum strata/anchor ratio; None = informational

    @property
    def ratio(self) -> float | None:
        if self.anchor is None or self.anchor == 0:
            return None
        return self.strata / self.anchor

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return "info"
        return "PASS" if self.ratio >= self.target else "FAIL"


@dataclass
class Report:
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def extend(self, other: Report) -> None:
        self.metrics += other.metrics
        self.notes += other.notes
        self.commands += other.commands


def parse_size(text: str) -> int:
    t = text.strip().lower().removesuffix("b")
    for suffix, mult in (("ki", 1024), ("mi", 1 << 20), ("gi", 1 << 30), ("k", 1000), ("m", 10**6)):
        if t.endswith(suffix):
            return int(float(t[: -len(suffix)]) * mult)
    return int(t)


def human_size(n: int) -> str:
    for unit, mult in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1024)):
        if n >= mult and n % mult == 0:
            return f"{n // mult} {unit}"
    return f"{n} B"


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# object bodies: deterministic, incompressible, cheap for any size


class Bodies:
    """Object i is a slice of one random pool, at an offset that depends on i."""

    def __init__(self, size: int, seed: int = 7):
        import random

        self.size = size
        rnd = random.Random(seed)
        self.pool = rnd.randbytes(max(2 * size, 1 << 20) + 4096)

    def for_index(self, i: int) -> bytes:
        offset = (i * 7919) % (len(self.pool) - self.size)
        return self.pool[offset : offset + self.size]

    def for_name(self, name: str) -> bytes:
        return self.for_index(int(name.rsplit("-", 1)[1]))


def find_object_file(data_dir: Path, name: str) -> Path | None:
    """Where Strata keeps `name` on disk, if it keeps it as a file of that name."""
    for root, _dirs, files in os.walk(data_dir):
        if name in files:
            return Path(root) / name
    return None


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return bytes(resp.read())


# ---------------------------------------------------------------------------------------------
# GET


@dataclass
class LoadShape:
    threads: int = 2
    connections: int = 64
    duration: float = 10.0
    warmup: float = 3.0
    rounds: int = 3


def best(results: list[WrkResult]) -> WrkResult:
    return max(results, key=lambda r: r.requests / r.duration_s)


def runs_note(what: str, runs: dict[str, list[WrkResult]], unit: str) -> str:
    """Every measured run with the CPU split, so noise from other processes is visible."""
    parts = []
    for who, results in runs.items():
        cells = ", ".join(
            f"{r.rps:,.0f} ({r.server_cores:.2f}/{r.client_cores:.2f}/{r.foreign_cores:.2f})" for r in results
        )
        parts.append(f"{who} {cells}")
    return f"{what}: all runs, {unit} (cores used by server/wrk/others): " + "; ".join(parts)


def median_cost(results: list[WrkResult]) -> tuple[float, float]:
    """Server CPU per request (user, kernel) in us, the median run: the cost, whatever the noise."""
    costs = sorted((r.cpu_per_request_us() for r in results), key=sum)
    return costs[len(costs) // 2]


def per_cpu_second(results: list[WrkResult]) -> float:
    return 1e6 / max(sum(median_cost(results)), 1e-9)


def cpu_note(what: str, runs: dict[str, list[WrkResult]]) -> str:
    parts = []
    for who, results in runs.items():
        user, system = median_cost(results)
        parts.append(f"{who} {user:.1f} us user + {system:.1f} us kernel")
    return f"{what}: server CPU per request (median run): " + "; ".join(parts)


def bench_get(
    strata: StrataServer, workdir: Path, size: int, count: int, workers: int, shape: LoadShape
) -> Report:
    report = Report()
    bucket = f"bench-get-{size}-{count}"
    label = f"{human_size(size)} ({count:,} obj)"
    names = [f"obj-{i:06d}" for i in range(count)]
    bodies = Bodies(size)

    # 1. populate through the API
    create_bucket(strata.base, bucket)
    say(f"GET {label}: populating {count:,} objects into ais://{bucket}")
    loaded = put_objects(strata.base, bucket, names, bodies.for_name, connections=32)
    report.notes.append(
        f"GET {label}: populated {loaded.objects:,} objects through the API in {loaded.seconds:.1f}s "
        f"({loaded.per_second:,.0f} PUT/s, 32 connections)"
    )

    # 2. the same bytes for nginx: Strata's own files if it keeps them whole, else a copy
    on_disk = find_object_file(strata.data_dir, names[0])
    if on_disk is not None and on_disk.read_bytes() == bodies.for_index(0):
        nginx_dir = on_disk.parent
        how = f"Strata's own files ({nginx_dir.relative_to(strata.data_dir)})"
    else:
        nginx_dir = workdir / f"nginx-root-{size}-{count}"
        nginx_dir.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            (nginx_dir / name).write_bytes(bodies.for_index(i))
        how = "a copy of the same bytes (Strata's files are not plain copies)"
    report.notes.append(f"GET {label}: nginx serves {how}")
    url_prefix = f"/v1/objects/{bucket}/"
    nginx = Nginx(
        workers, static_location(url_prefix, nginx_dir), prefix=workdir / f"nginx-get-{size}-{count}"
    )
    with nginx.start():
        # 3. both answer the same bytes
        for i in (0, count - 1):
            want = bodies.for_index(i)
            for base in (strata.base, nginx.base):
                got = http_get(f"{base}{url_prefix}{names[i]}?provider=ais")
                if got != want:
                    raise RuntimeError(f"{base} answered {len(got)} wrong bytes for {names[i]}")

        # 4. warm the page cache and both servers
        files = [nginx_dir / n for n in names]
        warm_page_cache(files)
        args = [url_prefix + "obj-", "0", str(count), "?provider=ais"]
        for base in (strata.base, nginx.base):
            run_wrk(base, "get_cycle.lua", args, shape.threads, shape.connections, shape.warmup)

        # 5. measure, alternating
        runs: dict[str, list[WrkResult]] = {"strata": [], "nginx": []}
        busy = machine_busy()
        report.notes.append(f"GET {label}: machine busy before measuring (others' load): {busy:.0%}")
        for r in range(shape.rounds):
            for who, base, pid in (("strata", strata.base, strata.pid), ("nginx", nginx.base, nginx.pid)):
                res = run_wrk(
                    base, "get_cycle.lua", args, shape.threads, shape.connections, shape.duration,
                    server_pid=pid,
                )  # fmt: skip
                runs[who].append(res)
                say(
                    f"GET {label} round {r + 1} {who}: {res.rps:,.0f} req/s, "
                    f"{res.payload_mb_s(size):,.0f} MB/s, p50 {res.lat_p50_ms:.2f} ms, "
                    f"p99 {res.lat_p99_ms:.2f} ms, errors {res.errors}; {res.cpu_text()}"
                )
    s, n = best(runs["strata"]), best(runs["nginx"])
    report.notes.append(runs_note(f"GET {label}", runs, "req/s"))
    report.notes.append(cpu_note(f"GET {label}", runs))
    for who, res in (("strata", s), ("nginx", n)):
        if res.errors:
            report.notes.append(f"GET {label}: {who} had {res.errors} errors ({res.status_errors} non-2xx)")
    anchor = f"nginx {workers}w"
    if size <= 64 * 1024:
        report.metrics.append(Metric(f"GET {label} req/s", "req/s", s.rps, n.rps, anchor, 0.5))
        report.metrics.append(
            Metric(f"GET {label} MB/s", "MB/s", s.payload_mb_s(size), n.payload_mb_s(size), anchor, None)
        )
    else:
        report.metrics.append(
            Metric(f"GET {label} MB/s", "MB/s", s.payload_mb_s(size), n.payload_mb_s(size), anchor, 0.9)
        )
        report.metrics.append(Metric(f"GET {label} req/s", "req/s", s.rps, n.rps, anchor, None))
    report.metrics.append(
        Metric(f"GET {label} req per server CPU-second", "req/core-s", per_cpu_second(runs["strata"]),
               per_cpu_second(runs["nginx"]), anchor, None)
    )  # fmt: skip
    report.notes.append(
        f"GET {label}: latency p50/p99 strata {s.lat_p50_ms:.2f}/{s.lat_p99_ms:.2f} ms, "
        f"nginx {n.lat_p50_ms:.2f}/{n.lat_p99_ms:.2f} ms (best of {shape.rounds} rounds each)"
    )
    report.commands.append(s.command.replace(f":{strata.port}", ":STRATA"))
    shutil.rmtree(workdir / f"nginx-root-{size}-{count}", ignore_errors=True)
    return report


# ---------------------------------------------------------------------------------------------
# PUT


def bench_put(strata: StrataServer, workdir: Path, size: int, workers: int, shape: LoadShape) -> Report:
    report = Report()
    bucket = f"bench-put-{size}"
    label = human_size(size)
    create_bucket(strata.base, bucket)
    put_root = workdir / "nginx-put-root"
    put_root.mkdir(parents=True, exist_ok=True)
    (put_root / ".tmp").mkdir(exist_ok=True)
    url_prefix = f"/v1/objects/{bucket}/"
    nginx = Nginx(workers, put_location("/v1/objects/", put_root), prefix=workdir / "nginx-put")
    with nginx.start():
        # 1. both accept a PUT and give the bytes back (nginx: read the file it wrote)
        body = Bodies(size).for_index(1)
        for base in (strata.base, nginx.base):
            req = urllib.request.Request(f"{base}{url_prefix}probe?provider=ais", data=body, method="PUT")
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status not in (200, 201, 204):
                    raise RuntimeError(f"{base}: PUT answered {resp.status}")
        if http_get(f"{strata.base}{url_prefix}probe?provider=ais") != body:
            raise RuntimeError("strata: GET after PUT answered other bytes")
        if (put_root / "v1/objects" / bucket / "probe").read_bytes() != body:
            raise RuntimeError("nginx: the PUT file holds other bytes")

        # 2. warm up, then measure, alternating; every run writes new names
        runs: dict[str, list[WrkResult]] = {"strata": [], "nginx": []}
        busy = machine_busy()
        report.notes.append(f"PUT {label}: machine busy before measuring (others' load): {busy:.0%}")
        for r in range(shape.rounds + 1):
            for who, base, pid in (("strata", strata.base, strata.pid), ("nginx", nginx.base, nginx.pid)):
                args = [f"{url_prefix}r{r}-", str(size), "?provider=ais"]
                dur = shape.warmup if r == 0 else shape.duration
                os.sync()  # start every run with no dirty pages left by the previous one
                res = run_wrk(
                    base, "put_distinct.lua", args, shape.threads, shape.connections, dur, server_pid=pid
                )
                if r == 0:
                    continue
                runs[who].append(res)
                say(
                    f"PUT {label} round {r} {who}: {res.rps:,.0f} obj/s, p50 {res.lat_p50_ms:.2f} ms, "
                    f"p99 {res.lat_p99_ms:.2f} ms, errors {res.errors}; {res.cpu_text()}"
                )
        written = sum(1 for _ in (put_root / "v1/objects" / bucket).iterdir())
    s, n = best(runs["strata"]), best(runs["nginx"])
    report.notes.append(runs_note(f"PUT {label}", runs, "obj/s"))
    report.notes.append(cpu_note(f"PUT {label}", runs))
    for who, res in (("strata", s), ("nginx", n)):
        if res.errors:
            report.notes.append(f"PUT {label}: {who} had {res.errors} errors ({res.status_errors} non-2xx)")
    report.metrics.append(Metric(f"PUT {label} obj/s", "obj/s", s.rps, n.rps, f"nginx {workers}w DAV", 0.5))
    report.metrics.append(
        Metric(f"PUT {label} obj per server CPU-second", "obj/core-s", per_cpu_second(runs["strata"]),
               per_cpu_second(runs["nginx"]), f"nginx {workers}w DAV", None)
    )  # fmt: skip
    report.notes.append(
        f"PUT {label}: latency p50/p99 strata {s.lat_p50_ms:.2f}/{s.lat_p99_ms:.2f} ms, "
        f"nginx {n.lat_p50_ms:.2f}/{n.lat_p99_ms:.2f} ms; nginx wrote {written:,} files "
        f"(WebDAV PUT: temp file + rename, no fsync)"
    )
    report.commands.append(s.command.replace(f":{strata.port}", ":STRATA"))
    shutil.rmtree(put_root, ignore_errors=True)
    return report


# ---------------------------------------------------------------------------------------------
# LIST


def bench_list(
    data_dir: Path, workdir: Path, count: int, object_size: int, workers: int, connections: int, sdk: bool
) -> Report:
    report = Report()
    bucket = f"bench-list-{count}"
    marker = data_dir / f".bench-populated-{bucket}"
    names = [f"o-{i:07d}" for i in range(count)]
    bodies = Bodies(max(object_size, 1))

    def body_for(name: str) -> bytes:
        return bodies.for_name(name)[:object_size]

    # 1. populate through the real PUT path (reused if an earlier run left the bucket complete)
    if marker.exists():
        earlier = marker.read_text().strip()
        report.notes.append(f"LIST: reused {count:,} objects populated earlier ({earlier})")
    else:
        with StrataServer(data_dir, workers, log_dir=workdir).start() as strata:
            create_bucket(strata.base, bucket)
            say(f"LIST: populating {count:,} objects of {object_size} B, {connections} connections")
            loaded = put_objects(strata.base, bucket, names, body_for, connections, progress_every=15)
        text = (
            f"populated {loaded.objects:,} objects of {object_size} B through PUT in {loaded.seconds:.0f}s, "
            f"{loaded.per_second:,.0f} PUT/s over {connections} connections"
        )
        marker.write_text(text + "\n")
        report.notes.append("LIST: " + text)

    # 2. a fresh server, so its peak RSS is the listing's, not the population's
    strata = StrataServer(data_dir, workers, log_dir=workdir).start()
    with strata:
        idle = strata.memory()
        report.notes.append(
            f"LIST: server start with the bucket present took {strata.startup_seconds:.1f}s; "
            f"idle RSS {idle.rss_kib / 1024:,.0f} MiB over {idle.processes} processes"
        )
        say(f"LIST: listing {count:,} entries (raw msgpack paging)")
        raw = list_all_raw(strata.base, bucket)
        after_raw = strata.memory()
        if raw.entries != count or raw.total_size != count * object_size:
            raise RuntimeError(f"list answered {raw.entries:,} entries, {raw.total_size:,} B; want {count:,}")
        say(f"LIST raw: {raw.entries:,} entries in {raw.seconds:.1f}s = {raw.per_second:,.0f}/s")
        sdk_result = None
        if sdk:
            say("LIST: listing again through the SDK iterator")
            sdk_result = list_all_sdk(strata.base, bucket)
            say(f"LIST sdk: {sdk_result.entries:,} entries in {sdk_result.seconds:.1f}s")
        after_all = strata.memory()
        on_disk = find_object_file(data_dir, names[0])

    # 3. anchor: the same directory listed (names + sizes) by nginx autoindex, JSON
    anchor_rate: float | None = None
    anchor_name = "none"
    if on_disk is not None and sum(1 for _ in os.scandir(on_disk.parent)) >= count:
        ngx = Nginx(workers, autoindex_location("/list/", on_disk.parent), prefix=workdir / "nginx-list")
        with ngx.start():
            t0 = time.perf_counter()
            listed = json.loads(http_get(ngx.base + "/list/"))
            secs = time.perf_counter() - t0
        files = [e for e in listed if e.get("type") == "file"]
        anchor_rate = len(files) / secs
        anchor_name = "nginx autoindex json"
        report.notes.append(
            f"LIST anchor: nginx autoindex (JSON, names+sizes+mtimes) of the bucket directory: "
            f"{len(files):,} entries in {secs:.1f}s, one response"
        )
    else:
        report.notes.append("LIST anchor: objects are not plain files in one directory; no nginx anchor")

    report.metrics.append(
        Metric(f"LIST {count:,} objects, entries/s (raw msgpack)", "entries/s", raw.per_second,
               anchor_rate, anchor_name, None)
    )  # fmt: skip
    if sdk_result is not None:
        report.metrics.append(
            Metric(f"LIST {count:,} objects, entries/s (SDK iterator)", "entries/s", sdk_result.per_second,
                   anchor_rate, anchor_name, None)
        )  # fmt: skip
    report.metrics.append(
        Metric("LIST server peak RSS (sum VmHWM)", "MiB", after_all.peak_rss_kib / 1024, None, "", None)
    )
    report.notes.append(
        f"LIST raw: {raw.entries:,} entries, {raw.pages} pages of 10,000 in {raw.seconds:.1f}s; first page "
        f"after {raw.first_page_seconds * 1000:.0f} ms; server peak RSS after it "
        f"{after_raw.peak_rss_kib / 1024:,.0f} MiB (sum of VmHWM over {after_raw.processes} processes), "
        f"RSS now {after_raw.rss_kib / 1024:,.0f} MiB"
    )
    if sdk_result is not None:
        report.notes.append(
            f"LIST sdk: {sdk_result.entries:,} entries in {sdk_result.seconds:.1f}s; "
            f"peak RSS after both listings {after_all.peak_rss_kib / 1024:,.0f} MiB"
        )
    report.commands.append(f"python -m bench.foundation list --count {count} --object-size {object_size}")
    return report


# ---------------------------------------------------------------------------------------------
# results


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except FileNotFoundError:
        return "missing"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine_line() -> str:
    uname = os.uname()
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (
        f"nproc {os.cpu_count()}, {cpu}, {mem_kib / (1 << 20):.0f} GiB RAM, kernel {uname.release}, "
        f"Python {sys.version.split()[0]}, {tool_version(['nginx', '-v'])}, "
        f"{tool_version(['wrk', '-v']).split(' [')[0]}"
    )


def git_line(root: Path = REPO_ROOT) -> str:
    """`branch @ commit` of the checkout at `root`, `(dirty)` if its strata/ has uncommitted changes."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    dirty = " (dirty)" if git("status", "--porcelain", "--", "strata") else ""
    return f"{git('rev-parse', '--abbrev-ref', 'HEAD')} @ {git('rev-parse', '--short', 'HEAD')}{dirty}"


def fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:,.2f}"


def render(report: Report, argv: list[str], workers: int) -> str:
    setup = (
        f"Strata workers: {workers}; nginx worker_processes: {workers}; client and servers share the cores"
    )
    return render_section("", setup, report, argv)


def render_section(title: str, setup: str, report: Report, argv: list[str]) -> str:
    """One dated RESULTS.md section: command, machine, setup, the metric table, notes, load commands."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now} — {title + ' — ' if title else ''}{git_line()}",
        "",
        f"- command: `{' '.join(argv)}`",
        f"- machine: {machine_line()}",
        f"- {setup}",
        "",
        "| metric | strata | anchor | ratio | target | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for m in report.metrics:
        anchor = f"{fmt(m.anchor)} ({m.anchor_name})" if m.anchor is not None else "—"
        ratio = f"{m.ratio:.2f}x" if m.ratio is not None else "—"
        target = f">= {m.target}x" if m.target is not None else "—"
        lines.append(f"| {m.name} | {fmt(m.strata)} | {anchor} | {ratio} | {target} | {m.verdict} |")
    lines += ["", "Notes:"]
    lines += [f"- {n}" for n in report.notes]
    lines += ["", "Load commands (wrk Lua scripts are in bench/lua/):"]
    lines += [f"- `{c}`" for c in report.commands]
    return "\n".join(lines) + "\n"


def append_results(path: Path, section: str) -> None:
    if not path.exists():
        path.write_text("# Foundation benchmark results\n\nNewest last. Written by `bench/run_all.sh`.\n\n")
    with path.open("a") as f:
        f.write("\n" + section)


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.foundation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("what", choices=["get", "put", "list", "all"])
    p.add_argument("--workers", type=int, default=2, help="Strata workers = nginx worker_processes (2)")
    p.add_argument("--size", default="4KiB", help="object size for get/put (4KiB)")
    p.add_argument("--count", type=int, default=0, help="objects (get: 10k for 4KiB, 1k for 1MiB; list: 1M)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--duration", type=float, default=10, help="seconds per measured wrk run (10)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of wrk warm-up per server (3)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server, best kept (3)")
    p.add_argument("--object-size", type=int, default=16, help="list: bytes per object (16)")
    p.add_argument("--list-data", default="", help="list: data dir to keep/reuse the populated bucket")
    p.add_argument("--sdk", action="store_true", help="list: also list through the SDK iterator")
    p.add_argument("--workdir", default="", help="scratch directory (default: a new one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--results", default="", help="append a dated section to this markdown file")
    p.add_argument("--json", default="", help="also write the metrics as JSON here")
    args = p.parse_args(argv)

    # SIGTERM stops the run like Ctrl-C does, so the servers it started are stopped too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="strata-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    shape = LoadShape(args.threads, args.connections, args.duration, args.warmup, args.rounds)
    report = Report()
    say(f"scratch: {workdir}")
    try:
        if args.what in ("get", "put", "all"):
            plans: list[Callable[[StrataServer], Report]] = []
            if args.what == "get":
                size = parse_size(args.size)
                count = args.count or (10000 if size <= 64 * 1024 else 1000)
                plans.append(lambda s: bench_get(s, workdir, size, count, args.workers, shape))
            elif args.what == "put":
                size = parse_size(args.size)
                plans.append(lambda s: bench_put(s, workdir, size, args.workers, shape))
            else:
                # 10k x 4 KiB fits Strata's per-worker hot cache (64 MiB); 100k x 4 KiB does not
                plans.append(lambda s: bench_get(s, workdir, 4096, 10000, args.workers, shape))
                plans.append(lambda s: bench_get(s, workdir, 4096, 100000, args.workers, shape))
                plans.append(lambda s: bench_get(s, workdir, 1 << 20, 1000, args.workers, shape))
                plans.append(lambda s: bench_put(s, workdir, 4096, args.workers, shape))
            with StrataServer(workdir / "strata-data", args.workers, log_dir=workdir).start() as strata:
                say(f"strata up on {strata.base} (pid {strata.pid}) in {strata.startup_seconds:.1f}s")
                for plan in plans:
                    report.extend(plan(strata))
        if args.what in ("list", "all"):
            count = args.count if (args.what == "list" and args.count) else 1_000_000
            list_data = Path(args.list_data) if args.list_data else workdir / "list-data"
            report.extend(bench_list(list_data, workdir, count, args.object_size, args.workers, 64, args.sdk))

        section = render(report, ["python", "-m", "bench.foundation", *argv], args.workers)
        print()
        print(section)
        if args.results:
            append_results(Path(args.results), section)
            say(f"appended to {args.results}")
        if args.json:
            rows = [dict(asdict(m), ratio=m.ratio, verdict=m.verdict) for m in report.metrics]
            Path(args.json).write_text(json.dumps({"metrics": rows, "notes": report.notes}, indent=2) + "\n")
    finally:
        if not args.keep and not args.workdir:
            say(f"removing {workdir}")
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
