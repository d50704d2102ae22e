"""PUT 4 KiB objects/s with the savings ledger on against off (issue 10: target >= 0.9x).

    python -m bench.ledger_put [--size 4KiB] [--workers 2] [--rounds 4] [--duration 10]

Two Strata servers from this checkout, identical but for ``STRATA_LEDGER=0`` on one, are driven by the
same wrk script (``lua/put_distinct.lua``: every PUT a new name, so every PUT adds a row delta: the
ledger's full path -- intent, rename, apply). Rounds alternate between the servers after a warm-up; the
best round of each is kept. The anchor is the server with the ledger off.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from bench.foundation import parse_size, per_cpu_second, say
from bench.harness import StrataServer, WrkResult, machine_busy, run_wrk
from bench.loader import create_bucket


def store_loop(size: int, count: int = 3000) -> str:
    """The ledger's own cost, without HTTP: ``ObjectStore`` PUTs of new names, on against off (us/PUT,
    best of three)."""
    import os
    import time

    from strata.core.names import BucketRef
    from strata.storage.mountpaths import Mountpaths
    from strata.storage.objects import ObjectStore

    body = os.urandom(size)
    bck = BucketRef.parse("loop")
    cost = {}
    for mode in ("1", "0", "1", "0", "1", "0"):
        os.environ["STRATA_LEDGER"] = mode
        root = Path(tempfile.mkdtemp(prefix="strata-bench-ledger-loop-"))
        try:
            store = ObjectStore(Mountpaths([str(root / "mp")]))
            store.create_bucket(bck)
            started = time.perf_counter()
            for i in range(count):
                writer = store.writer(bck, f"o{i}", "xxhash")
                writer.write(body)
                writer.commit(versioning=False)
            us = (time.perf_counter() - started) / count * 1e6
            cost[mode] = min(cost.get(mode, us), us)
            store.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    os.environ.pop("STRATA_LEDGER", None)
    return f"ledger on {cost['1']:.1f} us/PUT, off {cost['0']:.1f} us/PUT (+{cost['1'] - cost['0']:.1f} us)"


class LedgerOffServer(StrataServer):
    def environment(self) -> dict[str, str]:
        return {**super().environment(), "STRATA_LEDGER": "0"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4KiB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--tmp", default=None, help="where the servers' data directories go")
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="strata-bench-ledger-", dir=args.tmp))
    try:
        servers = {
            "on": StrataServer(work / "on", args.workers, log_dir=work),
            "off": LedgerOffServer(work / "off", args.workers, log_dir=work),
        }
        for server in servers.values():
            server.start()
            create_bucket(server.base, "ledger-put")
        say(f"machine busy before measuring (others' load): {machine_busy():.0%}")
        runs: dict[str, list[WrkResult]] = {"on": [], "off": []}
        for r in range(args.rounds + 1):
            for who, server in servers.items():
                result = run_wrk(
                    server.base,
                    "put_distinct.lua",
                    [f"/v1/objects/ledger-put/r{r}-", str(size), "?provider=ais"],
                    args.threads,
                    args.connections,
                    args.warmup if r == 0 else args.duration,
                    server_pid=server.pid,
                )
                if r == 0:
                    continue
                runs[who].append(result)
                say(
                    f"round {r} ledger {who}: {result.rps:,.0f} obj/s, p50 {result.lat_p50_ms:.2f} ms, "
                    f"p99 {result.lat_p99_ms:.2f} ms, errors {result.errors}; {result.cpu_text()}"
                )
        on = max(result.rps for result in runs["on"])
        off = max(result.rps for result in runs["off"])
        say(f"PUT {args.size} obj/s: ledger on {on:,.0f}, off {off:,.0f}, ratio {on / off:.3f} (target 0.9)")
        paired = sorted(a.rps / b.rps for a, b in zip(runs["on"], runs["off"], strict=True))
        say(
            f"per-round ratios (on/off, adjacent rounds): {', '.join(f'{r:.3f}' for r in paired)}; "
            f"median {paired[len(paired) // 2]:.3f}"
        )
        # on a shared machine the wall-clock rate moves with others' load; server CPU per PUT does not
        on_cpu, off_cpu = per_cpu_second(runs["on"]), per_cpu_second(runs["off"])
        say(
            f"PUT {args.size} obj per server CPU-second (median cost): ledger on {on_cpu:,.0f}, "
            f"off {off_cpu:,.0f}, ratio {on_cpu / off_cpu:.3f}"
        )
        say(f"in-process store PUTs, {args.size}: {store_loop(size)}")
        for server in servers.values():
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
