"""``python -m bench.remote``: see the package docstring."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from aistore.sdk import Client

import bench.remote as package
from bench.foundation import append_results, human_size, say
from bench.remote.cases import CASES, FULL, QUICK, Context, busy_note
from bench.remote.report import Report, render
from bench.remote.servers import CachingStrata, Moto


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        prog="python -m bench.remote",
        description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="fewer objects, a smaller blob, shorter runs")
    p.add_argument(
        "--only", nargs="+", choices=list(CASES), default=[], metavar="NAME",
        help=f"run only these ({', '.join(CASES)})",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=2, help="Strata workers (2)")
    p.add_argument("--threads", type=int, default=0, help="client threads of the cold GETs, both sides (16)")
    p.add_argument("--workdir", default="", help="scratch directory (default: a new one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (data, server logs)")
    p.add_argument(
        "--latency-ms", type=float, default=0.0,
        help="hold each S3 request back this long (a region's first-byte latency; moto has none): 0",
    )  # fmt: skip
    p.add_argument("--results", default="", help="append a dated section to this markdown file")
    args = p.parse_args(argv)

    # SIGTERM stops the run like Ctrl-C does, so the servers it started are stopped too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sizes = QUICK if args.quick else FULL
    if args.threads:
        sizes.threads = args.threads
    selected = args.only or list(CASES)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="strata-bench-remote-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"scratch: {workdir}")
    report = Report()
    moto = Moto(workdir, args.latency_ms / 1000)
    strata = CachingStrata(workdir / "strata-data", args.workers, {})
    try:
        moto.start()
        strata.backend_env = moto.environment()
        strata.start()
        say(f"moto on {moto.endpoint} (pid {moto.pid}); strata on {strata.base} (pid {strata.pid})")
        s3 = moto.s3()
        ctx = Context(strata, moto, s3, Client(strata.base, timeout=(5, 600)), sizes, workdir, report)
        busy_note(ctx)
        for name in selected:
            say(f"--- {name}")
            try:
                CASES[name](ctx)
            except Exception as exc:  # one broken case is reported, the others still run
                traceback.print_exc()
                report.note(f"{name}: not measured: {type(exc).__name__}: {exc}")
        s3.close()
        if strata.proc is not None and strata.proc.poll() is not None:
            report.note(f"the Strata server exited with {strata.proc.returncode} during the run")
    finally:
        strata.stop()
        moto.stop()
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    setup = [
        f"Strata workers: {args.workers}; moto {_moto_version()} (one Python process, in memory) as the S3; "
        f"{'--quick' if args.quick else 'full'} sizes: warm {sizes.warm_small:,} x 4 KiB and "
        f"{sizes.warm_large:,} x 1 MiB, cold/prefetch {sizes.cold:,} x 256 KiB, "
        f"blob {human_size(sizes.blob)}; "
        f"{sizes.rounds} measured rounds per side (best kept), sides alternating",
        "Strata, moto, wrk and the Python client share the machine's cores; moto answers every request "
        "with `Connection: close`, so each GET (the anchor's and Strata's alike) opens a connection",
    ]
    if args.latency_ms:
        setup.append(
            f"every S3 request (Strata's and the anchors' alike) held back {args.latency_ms:g} ms by a relay "
            "in front of moto: the first-byte latency of a cloud region, which a local emulator lacks"
        )
    section = render(report, ["python", "-m", "bench.remote", *argv], setup)
    print()
    print(section)
    if args.results:
        append_results(Path(args.results), section)
        say(f"appended to {args.results}")
    return 0


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
