"""``python -m bench.compression``: see the package docstring."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import bench.compression as package
from bench.compression import client, data
from bench.compression.measures import Context, Server, all_benches
from bench.compression.report import Report, render, tool_line
from bench.foundation import append_results, human_size, say
from bench.harness import machine_busy

FULL_SIZE = 256 << 20
QUICK_SIZE = 32 << 20


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    benches = all_benches()
    p = argparse.ArgumentParser(
        prog="python -m bench.compression",
        description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="32 MiB files and fewer requests: a smoke run")
    p.add_argument(
        "--only",
        nargs="+",
        choices=list(benches),
        default=[],
        metavar="NAME",
        help=f"run only these ({', '.join(benches)})",
    )
    p.add_argument(
        "--runs", type=int, default=0, help="measured runs per throughput (3; --quick 2), median kept"
    )
    p.add_argument("--duration", type=float, default=0, help="seconds per ledger wrk run (10; --quick 3)")
    p.add_argument("--workers", type=int, default=2, help="Strata workers (2)")
    p.add_argument("--data-dir", default=str(data.DEFAULT_CACHE), help="cache of generated files")
    p.add_argument("--workdir", default="", help="scratch directory (default: a new one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (data, server logs)")
    p.add_argument("--results", default="", help="append a dated section to this markdown file")
    args = p.parse_args(argv)

    # SIGTERM stops the run like Ctrl-C does, so the servers it started are stopped too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    size = QUICK_SIZE if args.quick else FULL_SIZE
    runs = args.runs or (2 if args.quick else 3)
    selected = args.only or list(benches)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="strata-bench-compress-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"scratch: {workdir}")
    report = Report()
    wired = False
    server = Server(workdir / "strata-data", args.workers, workdir)
    try:
        files = {kind: data.ensure(kind, size, Path(args.data_dir), say) for kind in data.KINDS}
        server.start()
        say(f"strata up on {server.base} (pid {server.pid}) in {server.startup_seconds:.1f}s")
        ctx = Context(
            server=server,
            files=files,
            runs=runs,
            workdir=workdir,
            workers=args.workers,
            getbatch_count=2_000 if args.quick else 10_000,
            range_requests=400 if args.quick else 2_000,
            duration=args.duration or (3.0 if args.quick else 10.0),
            warmup=2.0,
            report=report,
        )
        report.notes.append(f"machine busy before measuring (others' load): {machine_busy():.0%}")
        before = client.metrics(server.base)
        for name in selected:
            say(f"--- {name}")
            try:
                benches[name](ctx)
            except Exception as exc:  # one broken benchmark is reported, the others still run
                traceback.print_exc()
                report.notes.append(f"{name}: not measured: {type(exc).__name__}: {exc}")
        after = client.metrics(server.base)
        wired = compression_seen(before, after, report)
        if server.proc is not None and server.proc.poll() is not None:
            report.notes.append(f"the server exited with {server.proc.returncode} during the run")
    finally:
        server.stop()
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    setup = [
        f"Strata workers: {args.workers}; files of {human_size(size)} "
        f"({'--quick' if args.quick else 'full'}), "
        f"{runs} measured runs per throughput (median), anchor and Strata alternating; client, servers and "
        "zstd share the cores",
        f"tools: {tool_line()}; data cache {args.data_dir}",
        "stored size: the object's file in the server's data dir (`<mountpath>/@ais/<bucket>/%ob/<name>`)",
    ]
    title = "compression" + (
        "" if wired else " (no compressed write seen: compression not wired in this tree)"
    )
    section = render(report, ["python", "-m", "bench.compression", *argv], setup, title)
    print()
    print(section)
    if args.results:
        if wired:
            append_results(Path(args.results), section)
            say(f"appended to {args.results}")
        else:
            say(
                f"not appended to {args.results}: the server stored nothing compressed, "
                "the numbers mean nothing yet"
            )
    return 0


def compression_seen(before: dict[str, float], after: dict[str, float], report: Report) -> bool:
    """Did the server store anything compressed during the run (its counters, summed over workers)?"""
    parts = []
    seen = False
    for names in (client.COMPRESSED_PUTS, client.PASSTHROUGH_PUTS):
        start, end = client.counter(before, names), client.counter(after, names)
        if start is not None and end is not None:
            parts.append(f"{end[0]} +{end[1] - start[1]:,.0f}")
            seen = seen or (names is client.COMPRESSED_PUTS and end[1] > start[1])
    report.notes.append(
        "write counters of the main server over the run: " + (", ".join(parts) or "none exported")
    )
    return seen


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
