"""Before/after: the hot path of two source trees of Strata, measured in one run.

    python -m bench.compare --before /work/wt/before --after .                   # prints a table
    python -m bench.compare --before ../old --after . --results bench/RESULTS.md  # and appends it

A redesign is judged by what it costs per request, and a shared 2-core machine moves absolute
numbers from one run to the next. So both trees run in the same run: one Strata node from each
(`python -m strata serve`, cwd and PYTHONPATH set to that tree, same worker count, data directories
of the same layout under one scratch directory), both up for the whole run, the same objects PUT into
each through the API, and every load alternates before/after/before/after per round so that drift
(other processes, thermal, page cache) lands on both. Measured for each tree:

- GET 4 KiB cycling over 10,000 objects (they fit the per-worker hot cache): req/s (wrk);
- GET 1 MiB cycling over 1,000 objects: MB/s (wrk);
- PUT 4 KiB to distinct names: obj/s (wrk);
- GetBatch of the 10,000 x 4 KiB objects as one streamed .tar (`curl`, as bench/getbatch.py does),
  repeated for the run's duration: files/s.

For each: the throughput of all measured rounds together (work / time), the server's user and kernel
CPU per request (per file for GetBatch) from /proc/PID/stat over the server's process tree, and the
after/before ratio. A benchmark measures and reports; it never fails a build. A load that breaks in
one tree is reported as such and the others still run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.foundation import (
    Bodies,
    LoadShape,
    append_results,
    fmt,
    git_line,
    http_get,
    human_size,
    machine_line,
    say,
)
from bench.getbatch import stream_batch
from bench.harness import CpuMeter, StrataServer, WrkResult, machine_busy, run_wrk, tree_cpu_seconds
from bench.loader import create_bucket, list_all_raw, put_objects

SMALL, LARGE = 4096, 1 << 20
SMALL_BUCKET, LARGE_BUCKET, PUT_BUCKET = "cmp-get-4k", "cmp-get-1m", "cmp-put-4k"
TAR_HEADER = 512  # bytes of tar header per entry, at least


@dataclass(frozen=True)
class Sample:
    """One measured run of one tree."""

    requests: int  # what CPU is divided by: requests (files for GetBatch)
    amount: float  # what throughput counts: requests, MB or files
    seconds: float
    user_s: float  # server process tree CPU during the run
    system_s: float
    others_cores: float  # CPU used by everything but this server and the client (noise)
    detail: str = ""


@dataclass
class Measure:
    """One metric, both trees, every round."""

    name: str
    unit: str
    per: str  # "req" or "file": the unit of the CPU columns
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {"before": [], "after": []})
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def rate(self, tree: str) -> float | None:
        """Throughput of all measured rounds together: work over time, so a short run weighs less."""
        runs = self.samples[tree]
        seconds = sum(s.seconds for s in runs)
        return sum(s.amount for s in runs) / seconds if seconds else None

    def cost_us(self, tree: str) -> tuple[float, float] | None:
        """Server (user, kernel) CPU microseconds per request over all measured rounds."""
        runs = self.samples[tree]
        requests = sum(s.requests for s in runs)
        if not requests:
            return None
        return (
            sum(s.user_s for s in runs) / requests * 1e6,
            sum(s.system_s for s in runs) / requests * 1e6,
        )

    def ratio(self) -> float | None:
        before, after = self.rate("before"), self.rate("after")
        return after / before if before and after is not None else None


@dataclass(frozen=True)
class Tree:
    label: str  # "before" or "after"
    root: Path
    server: StrataServer


def from_wrk(result: WrkResult, amount: float) -> Sample:
    return Sample(
        requests=result.requests,
        amount=amount,
        seconds=result.duration_s,
        user_s=result.server_user_s,
        system_s=result.server_system_s,
        others_cores=result.foreign_cores,
        detail=(
            f"p50 {result.lat_p50_ms:.2f} ms, p99 {result.lat_p99_ms:.2f} ms, errors {result.errors}"
            + (f" ({result.status_errors} non-2xx)" if result.status_errors else "")
        ),
    )


def sample_text(unit: str, per_what: str, s: Sample) -> str:
    per = (s.user_s + s.system_s) / s.requests * 1e6 if s.requests else 0.0
    return (
        f"{s.amount / s.seconds if s.seconds else 0:,.0f} {unit}, {per:.1f} us server CPU/{per_what}, "
        f"others {s.others_cores:.2f} cores" + (f", {s.detail}" if s.detail else "")
    )


# ---------------------------------------------------------------------------------------------
# populate and check: the same objects in both trees


def populate(tree: Tree, count: int, large_count: int) -> list[str]:
    """PUT the GET objects through the API (same names, same bytes in every tree); return notes."""
    base = tree.server.base
    notes = []
    for bucket, size, n in ((SMALL_BUCKET, SMALL, count), (LARGE_BUCKET, LARGE, large_count)):
        bodies = Bodies(size)
        create_bucket(base, bucket)
        say(f"{tree.label}: populating {n:,} x {human_size(size)} into ais://{bucket}")
        loaded = put_objects(base, bucket, object_names(n), bodies.for_name, connections=32)
        notes.append(
            f"{n:,} x {human_size(size)} PUT in {loaded.seconds:.1f}s ({loaded.per_second:,.0f} PUT/s)"
        )
    create_bucket(base, PUT_BUCKET)
    return notes


def object_names(count: int) -> list[str]:
    # %06d: the names bench/lua/get_cycle.lua builds from a prefix and an index
    return [f"obj-{i:06d}" for i in range(count)]


def check_same_objects(tree: Tree, count: int, large_count: int) -> None:
    """Both trees must hold the same objects: the listing (count, total size) and a spread of
    objects read back byte for byte."""
    base = tree.server.base
    for bucket, size, n in ((SMALL_BUCKET, SMALL, count), (LARGE_BUCKET, LARGE, large_count)):
        listed = list_all_raw(base, bucket)
        if listed.entries != n or listed.total_size != n * size:
            raise RuntimeError(
                f"{tree.label}: ais://{bucket} lists {listed.entries:,} objects, {listed.total_size:,} B; "
                f"want {n:,} x {size}"
            )
        bodies = Bodies(size)
        names = object_names(n)
        for i in sorted({*range(0, n, max(1, n // 50)), n - 1}):
            got = http_get(f"{base}/v1/objects/{bucket}/{names[i]}?provider=ais")
            if got != bodies.for_index(i):
                raise RuntimeError(f"{tree.label}: {bucket}/{names[i]} answered {len(got)} other bytes")


# ---------------------------------------------------------------------------------------------
# loads


def measure_get(trees: list[Tree], size: int, count: int, shape: LoadShape) -> Measure:
    bucket = SMALL_BUCKET if size == SMALL else LARGE_BUCKET
    label = f"GET {human_size(size)} ({count:,} obj)"
    small = size <= 64 * 1024
    m = Measure(f"{label} {'req/s' if small else 'MB/s'}", "req/s" if small else "MB/s", "req")
    args = [f"/v1/objects/{bucket}/obj-", "0", str(count), "?provider=ais"]
    for tree in trees:  # warm the hot cache and the page cache
        run_wrk(tree.server.base, "get_cycle.lua", args, shape.threads, shape.connections, shape.warmup)
    for r in range(shape.rounds):
        for tree in trees:
            res = run_wrk(
                tree.server.base, "get_cycle.lua", args, shape.threads, shape.connections, shape.duration,
                server_pid=tree.server.pid,
            )  # fmt: skip
            amount = res.requests if small else res.requests * size / 1e6
            sample = from_wrk(res, amount)
            m.samples[tree.label].append(sample)
            say(f"{label} round {r + 1} {tree.label}: {sample_text(m.unit, m.per, sample)}")
            if not m.commands:
                m.commands.append(res.command.replace(f":{tree.server.port}", ":STRATA"))
    return m


def measure_put(trees: list[Tree], shape: LoadShape) -> Measure:
    label = f"PUT {human_size(SMALL)}"
    m = Measure(f"{label} obj/s", "obj/s", "req")
    for r in range(shape.rounds + 1):  # round 0 warms up
        for tree in trees:
            args = [f"/v1/objects/{PUT_BUCKET}/r{r}-", str(SMALL), "?provider=ais"]
            os.sync()  # no dirty pages of the previous run slow this one
            res = run_wrk(
                tree.server.base, "put_distinct.lua", args, shape.threads, shape.connections,
                shape.warmup if r == 0 else shape.duration, server_pid=tree.server.pid,
            )  # fmt: skip
            if r == 0:
                continue
            sample = from_wrk(res, res.requests)
            m.samples[tree.label].append(sample)
            say(f"{label} round {r} {tree.label}: {sample_text(m.unit, m.per, sample)}")
            if not m.commands:
                m.commands.append(res.command.replace(f":{tree.server.port}", ":STRATA"))
    return m


def measure_getbatch(trees: list[Tree], count: int, shape: LoadShape) -> Measure:
    """The 10,000 x 4 KiB objects as one streamed .tar, requested again and again for `duration`
    seconds; files/s over the time the requests took, server CPU per file."""
    m = Measure(f"GetBatch {count:,} x {human_size(SMALL)} as one .tar stream, files/s", "files/s", "file")
    entries: list[dict[str, Any]] = [{"objname": n} for n in object_names(count)]
    for tree in trees:
        stream_batch(tree.server.port, SMALL_BUCKET, entries)  # warm
    for r in range(shape.rounds):
        for tree in trees:
            batches, seconds = 0, 0.0
            with CpuMeter([tree.server.pid]) as meter:
                while batches == 0 or seconds < shape.duration:
                    received, took = stream_batch(tree.server.port, SMALL_BUCKET, entries)
                    if received < count * (SMALL + TAR_HEADER):
                        raise RuntimeError(f"{tree.label}: GetBatch sent {received:,} B for {count:,} files")
                    batches, seconds = batches + 1, seconds + took
            split = meter.split
            assert split is not None
            files = batches * count
            sample = Sample(
                requests=files, amount=files, seconds=seconds, user_s=split.server_user_s,
                system_s=split.server_system_s, others_cores=split.foreign_cores,
                detail=f"{batches} batches",
            )  # fmt: skip
            m.samples[tree.label].append(sample)
            say(f"GetBatch round {r + 1} {tree.label}: {sample_text(m.unit, m.per, sample)}")
    m.commands.append(
        f"curl -sS -L -X GET -o /dev/null -H 'Content-Type: application/json' --data-binary "
        f'\'{{"in": [{{"objname": "obj-000000"}}, ... {count:,} entries], "mime": ".tar", '
        f"\"strm\": true}}' 'http://127.0.0.1:STRATA/v1/ml/moss/{SMALL_BUCKET}?provider=ais'"
    )
    return m


# ---------------------------------------------------------------------------------------------
# report


def cost_cell(m: Measure, index: int) -> str:
    before, after = m.cost_us("before"), m.cost_us("after")
    b = f"{before[index]:.1f}" if before else "—"
    a = f"{after[index]:.1f}" if after else "—"
    return f"{b} → {a}"


def render(
    measures: list[Measure], trees: list[Tree], notes: list[str], argv: list[str], workers: int
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    before, after = trees
    lines = [
        f"## {now} — before/after — {git_line(before.root)} → {git_line(after.root)}",
        "",
        f"- command: `{' '.join(argv)}`",
        f"- machine: {machine_line()}",
        f"- before: `{before.root}` = {git_line(before.root)}",
        f"- after: `{after.root}` = {git_line(after.root)}",
        f"- Strata workers: {workers} per tree; both servers up for the whole run, loads alternate "
        "before/after each round; client and servers share the cores",
        "- throughput: all measured rounds together (work / time); CPU: the server's process tree "
        "(/proc/PID/stat utime, stime), µs per request (per file for GetBatch) over all measured rounds",
        "",
        "| metric | before | after | after/before | user µs/req before→after | sys µs/req before→after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in measures:
        ratio = m.ratio()
        lines.append(
            f"| {m.name} | {fmt(m.rate('before'))} | {fmt(m.rate('after'))} | "
            f"{f'{ratio:.2f}x' if ratio is not None else '—'} | {cost_cell(m, 0)} | {cost_cell(m, 1)} |"
        )
    lines += ["", "Notes:"]
    lines += [f"- {n}" for n in notes]
    for m in measures:
        lines += [f"- {n}" for n in m.notes]
        for tree in ("before", "after"):
            runs = "; ".join(sample_text(m.unit, m.per, s) for s in m.samples[tree])
            if runs:
                lines.append(f"- {m.name}, {tree} runs: {runs}")
    lines += ["", "Load commands (wrk Lua scripts are in bench/lua/):"]
    lines += [f"- `{c}`" for m in measures for c in m.commands]
    return "\n".join(lines) + "\n"


def idle_cores(pid: int, seconds: float = 1.0) -> float:
    """CPU a server's process tree uses while nothing is asked of it."""
    u0, s0 = tree_cpu_seconds(pid)
    time.sleep(seconds)
    u1, s1 = tree_cpu_seconds(pid)
    return max(u1 + s1 - u0 - s0, 0.0) / seconds


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--before", required=True, help="source tree of the old code (a git checkout)")
    p.add_argument("--after", required=True, help="source tree of the new code (e.g. .)")
    p.add_argument("--rounds", type=int, default=2, help="measured runs per tree and load (2)")
    p.add_argument("--duration", type=float, default=10, help="seconds per measured run (10)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per tree and load (3)")
    p.add_argument("--workers", type=int, default=2, help="Strata workers per tree (2)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--count", type=int, default=10_000, help="4 KiB objects for GET and GetBatch (10,000)")
    p.add_argument("--large-count", type=int, default=1_000, help="1 MiB objects for GET (1,000)")
    p.add_argument("--workdir", default="", help="scratch directory (default: a new one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (data, server logs)")
    p.add_argument("--results", default="", help="append a dated section to this markdown file")
    args = p.parse_args(argv)

    # SIGTERM stops the run like Ctrl-C does, so the servers it started are stopped too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    roots = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    for label, root in roots.items():
        if not (root / "strata" / "__main__.py").is_file():
            p.error(f"--{label} {root}: no strata/__main__.py there")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="strata-bench-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    shape = LoadShape(args.threads, args.connections, args.duration, args.warmup, args.rounds)
    say(f"scratch: {workdir}")
    notes: list[str] = []
    measures: list[Measure] = []
    trees: list[Tree] = []
    try:
        try:
            for label, root in roots.items():
                trees.append(start_tree(label, root, workdir, args.workers, notes))
            for tree in trees:
                loaded = populate(tree, args.count, args.large_count)
                check_same_objects(tree, args.count, args.large_count)
                notes.append(f"{tree.label}: populated through the API: {'; '.join(loaded)}; checked "
                             "(listing: count and size; every 50th object byte for byte)")  # fmt: skip
            idle = ", ".join(f"{t.label} {idle_cores(t.server.pid):.2f}" for t in trees)
            notes.append(f"server CPU while idle (cores): {idle}")
            notes.append(f"machine busy before measuring (others' load): {machine_busy():.0%}")

            loads: list[tuple[str, Callable[[], Measure]]] = [
                (f"GET {human_size(SMALL)}", lambda: measure_get(trees, SMALL, args.count, shape)),
                (f"GET {human_size(LARGE)}", lambda: measure_get(trees, LARGE, args.large_count, shape)),
                (f"PUT {human_size(SMALL)}", lambda: measure_put(trees, shape)),
                ("GetBatch", lambda: measure_getbatch(trees, args.count, shape)),
            ]
            for what, load in loads:
                try:
                    measures.append(load())
                except Exception as exc:  # one broken load is reported, the others still run
                    traceback.print_exc()
                    notes.append(f"{what}: not measured: {type(exc).__name__}: {exc}")
            for tree in trees:
                proc = tree.server.proc
                if proc is not None and proc.poll() is not None:
                    notes.append(f"{tree.label}: server exited with {proc.returncode} during the run")
        finally:
            for tree in trees:
                tree.server.stop()

        section = render(measures, trees, notes, ["python", "-m", "bench.compare", *argv], args.workers)
        print()
        print(section)
        if args.results:
            append_results(Path(args.results), section)
            say(f"appended to {args.results}")
    finally:
        if not args.keep and not args.workdir:
            say(f"removing {workdir}")
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def start_tree(label: str, root: Path, workdir: Path, workers: int, notes: list[str]) -> Tree:
    """A Strata node running `root`'s code; the same layout for every tree: data in
    <workdir>/<label>/data, the server log in <workdir>/<label>."""
    (workdir / label).mkdir(parents=True, exist_ok=True)
    server = StrataServer(workdir / label / "data", workers, log_dir=workdir / label, source_root=root)
    imported = server.imported_from()
    if not imported.startswith(str(root) + os.sep):
        raise RuntimeError(f"{label}: `import strata` with PYTHONPATH={root} found {imported}")
    server.start()
    say(f"{label}: strata from {root} up on {server.base} (pid {server.pid})")
    notes.append(f"{label}: strata imported from {imported}; server started in {server.startup_seconds:.1f}s")
    return Tree(label, root, server)


if __name__ == "__main__":
    raise SystemExit(main())
