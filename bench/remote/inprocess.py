"""A warm GET's handler cost, cached ``s3://`` object against ``ais://`` object, without the network.

    python -m bench.remote.inprocess                    # 50,000 cached GETs of 4 KiB per side, best of 3
    python -m bench.remote.inprocess --tree ../before   # the same, with another source tree's Strata

``bench.remote``'s warm case measures whole servers under wrk, where a shared 2-core VM moves req/s by
20-30% from run to run; this isolates what differs between the two sides: the object path of a remote
bucket. One node is built in this process (``roles.node.Node`` and its ``NodeApp``, as
``bench.handler_cost`` does); moto's server (in-process, on a free port) is its ``aws`` backend. 100
objects of 4 KiB are PUT into an ``ais://`` bucket and into moto, the latter cached by a cold GET
through the node; then both are read again and again through the app's ``begin``/``finish``, the hot
cache answering. Reported: wall, user and kernel microseconds per request for each side, and their
ratio. A benchmark measures and reports; it never fails a build.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import resource
import sys
import tempfile
import time
from typing import Any

import boto3

from bench.harness import free_port

OBJECTS = 100
SIZE = 4096


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=50_000, help="GETs per side and repetition")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per side (the best is kept)")
    parser.add_argument("--tree", default="", help="a source tree whose strata package to measure")
    args = parser.parse_args()
    if args.tree:  # before anything imports strata
        sys.path.insert(0, os.path.abspath(args.tree))

    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
    )  # fmt: skip
    try:
        app = _node_app()
        _fill(app)
        best: dict[str, tuple[float, float, float]] = {}
        for _ in range(args.repeats):
            for label, bucket, provider in (
                ("ais://", "local", "ais"),
                ("s3:// (cached)", "remote-bench", "aws"),
            ):
                sample = _measure(app, bucket, provider, args.requests)
                if label not in best or sample[0] < best[label][0]:
                    best[label] = sample
    finally:
        moto.stop()
    for label, (wall, user, kernel) in best.items():
        print(
            f"{label:16s} cached GET 4 KiB: {wall:5.2f} us wall, {user:5.2f} us user, {kernel:5.2f} us kernel"
        )
    import strata

    print(f"strata from {os.path.dirname(os.path.dirname(strata.__file__))}")
    ratio = best["ais://"][0] / best["s3:// (cached)"][0]
    print(f"s3:// (cached) vs ais://, requests per second in-process: {ratio:.2f}x")


def _node_app() -> Any:
    from strata.cluster.metastore import LocalMetaStore
    from strata.cluster.smap import embedded_members
    from strata.daemons.app import NodeApp
    from strata.roles.node import Node
    from strata.roles.role import EmbeddedRole
    from strata.storage.mountpaths import Mountpaths

    root = tempfile.mkdtemp(prefix="bench-remote-inprocess-")
    os.makedirs(root + "/meta")
    meta = LocalMetaStore(root + "/meta", members=embedded_members("n", "h", 1, 0))
    node = Node(node_id="n", host="h", port=1, meta=meta, mountpaths=Mountpaths([root + "/mp"]),
                data_dir=root, role=EmbeddedRole())  # fmt: skip
    return NodeApp(node)


def _call(app: Any, method: str, path: str, query: str, body: bytes = b"") -> Any:
    from strata.server.http import Request

    headers = {"host": "h", "content-length": str(len(body)), "connection": "keep-alive"}
    exchange = app.begin(Request(method, path, query, headers, "::1"))
    if body:
        exchange.feed(body)
    return exchange.finish()


async def _drain(answer: Any) -> Any:
    if inspect.isawaitable(answer):
        answer = await answer
    if answer.stream is not None:
        if hasattr(answer.stream, "__aiter__"):
            async for _ in answer.stream:
                pass
        else:
            for _ in answer.stream:
                pass
    return answer


def _fill(app: Any) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="remote-bench")
    data = b"x" * SIZE
    assert (
        asyncio.run(
            _drain(_call(app, "POST", "/v1/buckets/local", "provider=ais", b'{"action": "create-bck"}'))
        ).status
        == 200
    )
    for i in range(OBJECTS):
        s3.put_object(Bucket="remote-bench", Key=f"o{i}", Body=data)
        assert _call(app, "PUT", f"/v1/objects/local/o{i}", "provider=ais", data).status == 200
        cold = asyncio.run(_drain(_call(app, "GET", f"/v1/objects/remote-bench/o{i}", "provider=aws")))
        assert cold.status == 200, cold.status


def _measure(app: Any, bucket: str, provider: str, requests: int) -> tuple[float, float, float]:
    query = f"provider={provider}"
    paths = [f"/v1/objects/{bucket}/o{i}" for i in range(OBJECTS)]
    for i in range(requests // 10):  # warm: the hot cache, the interpreter
        _call(app, "GET", paths[i % OBJECTS], query)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for i in range(requests):
        _call(app, "GET", paths[i % OBJECTS], query)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (
        wall / requests * 1e6,
        (after.ru_utime - before.ru_utime) / requests * 1e6,
        (after.ru_stime - before.ru_stime) / requests * 1e6,
    )


if __name__ == "__main__":
    main()
