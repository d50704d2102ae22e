"""Where a Strata worker spends its time under load: py-spy on every worker while wrk drives GET or PUT.

    python -m bench.profile get --size 4KiB --seconds 15 --out /tmp/prof-get4k
    python -m bench.profile put --size 4KiB --seconds 15 --out /tmp/prof-put4k

Writes one collapsed-stack file per worker (`py-spy record --format raw`, open it in speedscope or
flamegraph.pl) and prints the functions with the most samples, self and inclusive, summed over workers.
Needs `pip install py-spy`.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.foundation import Bodies, parse_size, say
from bench.harness import StrataServer, process_tree, run_wrk
from bench.loader import create_bucket, put_objects


def summarize(files: list[Path], top: int) -> str:
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for f in files:
        for line in f.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack:
                continue
            count = int(n)
            total += count
            frames = stack.split(";")
            self_counts[_short(frames[-1])] += count
            for fr in {_short(x) for x in frames}:
                incl_counts[fr] += count
    if not total:
        return "no samples"
    out = [f"{total} samples over {len(files)} worker(s)", "", "self time:"]
    out += [f"  {c / total:6.1%}  {name}" for name, c in self_counts.most_common(top)]
    out += ["", "inclusive time:"]
    out += [f"  {c / total:6.1%}  {name}" for name, c in incl_counts.most_common(top)]
    return "\n".join(out)


def _short(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file.py:123)"
    name, _, where = frame.partition(" (")
    if where:
        where = where.rstrip(")")
        path, _, line = where.rpartition(":")
        return f"{name} ({'/'.join(path.split('/')[-2:])}:{line})"
    return frame


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("op", choices=["get", "put"])
    p.add_argument("--size", default="4KiB")
    p.add_argument("--count", type=int, default=10000, help="get: objects to cycle over")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    size = parse_size(args.size)
    out = Path(args.out or tempfile.mkdtemp(prefix="strata-prof-"))
    out.mkdir(parents=True, exist_ok=True)

    with StrataServer(out / "data", args.workers, log_dir=out).start() as strata:
        bucket = f"prof-{args.op}"
        create_bucket(strata.base, bucket)
        if args.op == "get":
            bodies = Bodies(size)
            names = [f"obj-{i:06d}" for i in range(args.count)]
            put_objects(strata.base, bucket, names, bodies.for_name, connections=16)
            script, wrk_args = (
                "get_cycle.lua",
                [f"/v1/objects/{bucket}/obj-", "0", str(args.count), "?provider=ais"],
            )
            run_wrk(strata.base, script, wrk_args, 2, args.connections, 3)  # warm
        else:
            script, wrk_args = "put_distinct.lua", [f"/v1/objects/{bucket}/p-", str(size), "?provider=ais"]
        workers = [pid for pid in process_tree(strata.pid) if pid != strata.pid]
        say(f"profiling workers {workers} for {args.seconds:g}s under {args.op} {args.size}")
        spies = []
        files = []
        for pid in workers:
            f = out / f"{args.op}-{size}-{pid}.txt"
            files.append(f)
            cmd = ["py-spy", "record", "--pid", str(pid), "--rate", str(args.rate),
                   "--duration", str(int(args.seconds)), "--format", "raw", "--output", str(f)]  # fmt: skip
            # --native pauses the process to unwind C frames; otherwise sample without stopping it
            cmd.append("--native" if args.native else "--nonblocking")
            log = open(out / f"py-spy-{pid}.log", "wb")  # noqa: SIM115 - owned by the child
            spies.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        time.sleep(0.5)
        res = run_wrk(strata.base, script, wrk_args, 2, args.connections, args.seconds, server_pid=strata.pid)
        for s in spies:
            s.wait(timeout=60)
    say(f"{res.rps:,.0f} req/s while profiled (py-spy slows the workers); {res.cpu_text()}")
    print(summarize([f for f in files if f.exists()], args.top))
    say(f"collapsed stacks in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
