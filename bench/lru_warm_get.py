"""Before/after: warm 4 KiB GETs of a cached remote bucket, the reads LRU eviction notes access times for.

    python -m bench.lru_warm_get --before /tmp/main-tree --after .

Every read of a bucket that caches a backend's objects notes its access time (``storage.atimes``: a
dict store, written out as the file's atime once a minute), and every write asks the capacity monitor
(``storage.capacity``). This measures what that costs on the path it is on: one Strata from each source
tree, both up for the whole run with the same moto behind them, the same objects cached in each (a
prefetch), and wrk cycling over them, alternating before/after every round so that drift on a shared
machine lands on both. Reported: req/s over all measured rounds, the server's CPU per request (user +
kernel, from /proc), and the after/before ratio. A benchmark measures and reports; it never fails.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from aistore.sdk import Client

from bench.foundation import Bodies, say
from bench.harness import StrataServer, WrkResult, run_wrk
from bench.remote.client import cached_count, put_remote, start_job, wait_job
from bench.remote.servers import Moto

SIZE = 4096


class TreeServer(StrataServer):
    """A Strata from a given source tree whose ``aws`` backend is the moto of the run."""

    def __init__(self, data_dir: Path, workers: int, source_root: Path, backend_env: dict[str, str]) -> None:
        super().__init__(data_dir, workers, source_root=source_root)
        self.backend_env = backend_env

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(self.backend_env)
        return env


def _totals(runs: list[WrkResult]) -> tuple[float, float]:
    """req/s over all runs together, and the server's CPU microseconds per request."""
    requests = sum(r.requests for r in runs)
    seconds = sum(r.duration_s for r in runs)
    cpu = sum(r.server_user_s + r.server_system_s for r in runs)
    return requests / seconds, cpu * 1e6 / requests


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="source tree of the old code")
    p.add_argument("--after", required=True, help="source tree of the new code")
    p.add_argument("--count", type=int, default=5000, help="cached 4 KiB objects (5,000)")
    p.add_argument("--rounds", type=int, default=4, help="measured runs per tree (4)")
    p.add_argument("--duration", type=float, default=8, help="seconds per run (8)")
    p.add_argument("--workers", type=int, default=2, help="Strata workers per tree (2)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="strata-bench-lru-"))
    moto = Moto(work / "moto").start()
    servers: dict[str, TreeServer] = {}
    try:
        for label, tree in (("before", args.before), ("after", args.after)):
            servers[label] = TreeServer(work / label / "data", args.workers, Path(tree), moto.environment())
            servers[label].start()
        s3 = moto.s3()
        bucket = "lru-warm"
        s3.create_bucket(Bucket=bucket)
        names = [f"w-{i:06d}" for i in range(args.count)]
        bodies = Bodies(SIZE)
        say(f"{args.count:,} x 4 KiB into s3://{bucket} (moto)")
        put_remote(s3, bucket, names, bodies.for_name)
        for label, server in servers.items():
            client = Client(server.base)
            job_id, _ = start_job(client.bucket(bucket, provider="aws").objects(obj_template="w-").prefetch)
            seconds = wait_job(client, job_id)
            cached = cached_count(client, bucket, "w-")
            say(f"{label}: {cached:,} of {args.count:,} cached by a prefetch in {seconds:.1f}s")
            if cached != args.count:
                raise RuntimeError(f"{label}: only {cached} objects cached")
        runs: dict[str, list[WrkResult]] = {label: [] for label in servers}
        wrk_args = [f"/v1/objects/{bucket}/w-", "0", str(args.count), "?provider=aws"]
        for round_ in range(args.rounds + 1):  # the first round warms both up, unmeasured
            for label, server in servers.items():
                result = run_wrk(
                    server.base, "get_cycle.lua", wrk_args, 2, 64, args.duration, server_pid=server.pid
                )
                if result.errors:
                    raise RuntimeError(f"{label}: {result.errors} errors")
                user, kernel = result.cpu_per_request_us()
                note = "" if round_ else " (warm-up)"
                say(
                    f"round {round_} {label}: {result.rps:,.0f} req/s, {user + kernel:.1f} us server "
                    f"CPU/req, others {result.foreign_cores:.2f} cores{note}"
                )
                if round_:
                    runs[label].append(result)
        (before_rps, before_cpu), (after_rps, after_cpu) = _totals(runs["before"]), _totals(runs["after"])
        print("\n| warm GET 4 KiB, s3:// bucket cached | before | after | after/before |")
        print("|---|---:|---:|---:|")
        print(
            f"| req/s (all rounds) | {before_rps:,.0f} | {after_rps:,.0f} | {after_rps / before_rps:.2f}x |"
        )
        print(f"| server CPU us/req | {before_cpu:.1f} | {after_cpu:.1f} | {after_cpu / before_cpu:.2f}x |")
        s3.close()
    finally:
        for server in servers.values():
            server.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
