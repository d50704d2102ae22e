"""What the request handlers cost, without the network: two source trees of Strata, in one run.

    python -m bench.handler_cost --before /work/wt/before --after .
    python -m bench.handler_cost --before ../old --after . --results bench/RESULTS.md

``bench.compare`` measures whole servers under wrk, where a shared 2-core VM moves req/s by 20-30%
from one 10-second run to the next. This benchmark isolates the part a redesign changes: each tree's
own node and application, built in a subprocess (cwd and ``sys.path`` on that tree), answer requests
handed to them in-process through the same ``Application`` protocol the HTTP server uses -- no sockets,
no parser, no client. Measured, alternating trees, the best of several repetitions (the least
disturbed), in process CPU time (user and kernel) per request:

- a cached GET of a 4 KiB object (the hot cache's path);
- a PUT of 4 KiB to a new name (the handler, the work file, the xattr, the rename);
- GetBatch of 10,000 x 4 KiB objects as one streamed .tar, per file.

A benchmark measures and reports; it never fails a build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from bench.foundation import git_line

# Runs inside the tree under test. It knows both shapes of the code: the node and app moved in the
# object-service redesign (strata.roles / strata.daemons), and the old ones (strata.api).
_PROBE = textwrap.dedent(
    r'''
    import asyncio, inspect, json, os, resource, sys, tempfile, time
    sys.path.insert(0, os.getcwd())
    from strata.server.http import Request
    from strata.cluster.metastore import LocalMetaStore
    from strata.storage.mountpaths import Mountpaths
    root = tempfile.mkdtemp(prefix="bench-handler-")
    os.makedirs(root + "/meta")
    try:
        from strata.roles.node import Node
        from strata.roles.role import EmbeddedRole
        from strata.daemons.app import NodeApp as App
        from strata.cluster.smap import embedded_members
        meta = LocalMetaStore(root + "/meta", members=embedded_members("n", "h", 1, 0))
        node = Node(node_id="n", host="h", port=1, meta=meta, mountpaths=Mountpaths([root + "/mp"]),
                    data_dir=root, role=EmbeddedRole())
    except ImportError:
        from strata.api.node import Node
        from strata.api.router import AisApp as App
        node = Node(node_id="n", host="h", port=1, meta=LocalMetaStore(root + "/meta"),
                    mountpaths=Mountpaths([root + "/mp"]), data_dir=root)
    app = App(node)

    def request(method, path, body=b""):
        return Request(method, path, "provider=ais", {"host": "h", "content-length": str(len(body))}, "::1")

    def handle(method, path, body=b""):
        exchange = app.begin(request(method, path, body))
        if body:
            exchange.feed(body)
        return exchange.finish()

    async def drain(answer):
        if inspect.isawaitable(answer):
            answer = await answer
        if answer.stream is None:
            return answer
        if hasattr(answer.stream, "__aiter__"):
            async for _ in answer.stream:
                pass
        else:
            for _ in answer.stream:
                pass
        return answer

    assert asyncio.run(drain(handle("POST", "/v1/buckets/b", b'{"action": "create-bck"}'))).status == 200
    data = b"x" * 4096
    for i in range(10000):
        handle("PUT", f"/v1/objects/b/obj-{i:06d}", data)
    gets = [f"/v1/objects/b/obj-{i:06d}" for i in range(100)]
    batch = json.dumps({"in": [{"objname": f"obj-{i:06d}"} for i in range(10000)], "mime": ".tar",
                        "strm": True}).encode()
    counter = [0]

    def cached_get(n):
        for i in range(n):
            handle("GET", gets[i % 100])

    def put(n):
        for _ in range(n):
            counter[0] += 1
            handle("PUT", f"/v1/objects/b/new-{counter[0]:08d}", data)

    def getbatch(n):
        for _ in range(n):
            assert asyncio.run(drain(handle("GET", "/v1/ml/moss/b", batch))).status == 200

    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime, usage.ru_stime

    loads = {"get": (cached_get, 50000, 1), "put": (put, 5000, 1), "getbatch": (getbatch, 3, 10000)}
    name = sys.argv[1]
    run, n, per = loads[name]
    run(n // 10)  # warm: the hot cache, the page cache, the interpreter
    best = None
    for _ in range(int(sys.argv[2])):
        user0, sys0 = cpu()
        wall0 = time.perf_counter()
        run(n)
        wall = time.perf_counter() - wall0
        user1, sys1 = cpu()
        units = n * per
        sample = (wall / units * 1e6, (user1 - user0) / units * 1e6, (sys1 - sys0) / units * 1e6)
        if best is None or sample[0] < best[0]:
            best = sample
    print(json.dumps({"wall_us": best[0], "user_us": best[1], "sys_us": best[2]}))
    '''
)
LOADS = (
    ("get", "cached GET 4 KiB, per request"),
    ("put", "PUT 4 KiB, per request"),
    ("getbatch", "GetBatch 10,000 x 4 KiB (.tar stream), per file"),
)


def _probe(tree: Path, load: str, repeats: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, load, str(repeats)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, required=True, help="the source tree measured first")
    parser.add_argument("--after", type=Path, required=True, help="the source tree to compare with it")
    parser.add_argument("--rounds", type=int, default=3, help="alternations before/after per load")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions inside one probe (best kept)")
    parser.add_argument("--results", type=Path, help="append the section to this RESULTS.md")
    args = parser.parse_args()
    before, after = args.before.resolve(), args.after.resolve()
    rows = []
    for load, label in LOADS:
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):
            for tag, tree in (("before", before), ("after", after)):
                sample = _probe(tree, load, args.repeats)
                if tag not in best or sample["wall_us"] < best[tag]["wall_us"]:
                    best[tag] = sample
        b, a = best["before"], best["after"]
        rows.append(
            f"| {label} | {b['wall_us']:.2f} | {a['wall_us']:.2f} | {b['wall_us'] / a['wall_us']:.2f}x "
            f"| {b['user_us']:.2f} → {a['user_us']:.2f} | {b['sys_us']:.2f} → {a['sys_us']:.2f} |"
        )
        print(rows[-1], flush=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m bench.handler_cost " + " ".join(sys.argv[1:])
    section = "\n".join(
        [
            f"## {stamp} — handler cost in-process — {git_line(before)} → {git_line(after)}",
            "",
            f"- command: `{command}`",
            f"- before: `{before}`; after: `{after}`; each probe a fresh process on that tree, alternating",
            "- µs per request (per file for GetBatch), the best of the repetitions; speed-up = before/after",
            "",
            "| load | before µs | after µs | speed-up | user µs before → after | sys µs before → after |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(section)
    if args.results is not None:
        with args.results.open("a") as out:
            out.write("\n" + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
