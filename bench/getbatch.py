"""GetBatch benchmarks: one .tar stream of many objects against the ceilings of this machine.

    python -m bench.getbatch                              # prints a table
    python -m bench.getbatch --results bench/RESULTS.md   # and appends a dated section

Measured in one run, on one Strata node (2 workers; one GetBatch request is served by one worker):
- 10,000 x 4 KiB objects as one .tar stream (files/s), against
  - a raw local stream of the same files: hand-rolled 512-byte tar headers + ``os.sendfile`` of each
    object file into a pipe drained by ``cat`` (no HTTP, no Python per byte: the practical ceiling);
  - sequential SDK GETs, and 16-way parallel SDK GETs (16 threads, the SDK's connection pool).
- 1 MiB objects: MB/s of the .tar stream against the same raw stream.
- Archived files from local TAR shards (100 shards x 100 files of 4 KiB, requested shard by shard):
  files/s, first request (indexes built) and warm.
- Server peak RSS while streaming a 10 GiB batch (1 MiB entries, repeated).

The client is ``curl -o /dev/null`` (no tar parsing), as ``cat`` drains the raw stream's pipe; the
request body (the entries) is written to a file before the clock starts. A benchmark reports; it
never fails a build.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.foundation import Bodies, Metric, Report, render_section, say
from bench.harness import StrataServer, machine_busy, memory_of_tree
from bench.loader import create_bucket, put_objects
from strata.archive.tar_headers import END_OF_ARCHIVE, file_header, padding

ROUNDS = 3


def stream_batch(
    port: int, bucket: str, entries: list[dict[str, Any]], fmt_: str = ".tar"
) -> tuple[int, float]:
    """One GetBatch request read by ``curl`` into /dev/null (a C client, as ``cat`` is for the raw
    stream); (bytes received, seconds from request to last byte)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as body:
        body.write(json.dumps({"in": entries, "mime": fmt_, "strm": True}).encode())
        body.flush()
        command = [
            "curl", "-sS", "-L", "-X", "GET", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
            "-H", "Content-Type: application/json", "--data-binary", f"@{body.name}",
            f"http://127.0.0.1:{port}/v1/ml/moss/{bucket}?provider=ais",
        ]  # fmt: skip
        started = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
        elapsed = time.perf_counter() - started
    if out[0] != "200":
        raise RuntimeError(f"GetBatch answered {out[0]}")
    return int(out[1]), elapsed


def raw_stream(paths: list[Path], names: list[str]) -> tuple[int, float]:
    """The ceiling: tar headers + sendfile of every file into a pipe that ``cat`` drains."""
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert cat.stdin is not None
    out = cat.stdin.fileno()
    sent = 0
    started = time.perf_counter()
    pending = b""
    for path, name in zip(paths, names, strict=True):
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            header = pending + file_header(name, size)
            os.write(out, header)
            offset = 0
            while offset < size:
                offset += os.sendfile(out, fd, offset, size - offset)
            pending = bytes(padding(size))
            sent += len(header) + size
        finally:
            os.close(fd)
    os.write(out, pending + END_OF_ARCHIVE)
    cat.stdin.close()
    cat.wait()
    return sent, time.perf_counter() - started


def object_files(data_dir: Path, bucket: str) -> dict[str, Path]:
    """Strata's files for the bucket's objects (one file per object, named after it)."""
    found: dict[str, Path] = {}
    for root, _dirs, files in os.walk(data_dir):
        if f"/{bucket}/%ob" in root + "/" or root.endswith(f"/{bucket}/%ob"):
            for name in files:
                found[name] = Path(root) / name
    return found


def best(samples: list[float]) -> float:
    return max(samples)


def bench_small(strata: StrataServer, report: Report, count: int) -> None:
    bucket, size = "gb-small", 4096
    bodies = Bodies(size)
    names = [f"obj-{i:05d}" for i in range(count)]
    create_bucket(strata.base, bucket)
    t0 = time.perf_counter()
    put_objects(strata.base, bucket, names, bodies.for_name, connections=32)
    say(f"populated {count} x 4 KiB in {time.perf_counter() - t0:.1f}s")
    files = object_files(strata.data_dir, bucket)
    paths = [files[n] for n in names]
    entries = [{"objname": n} for n in names]
    stream_batch(strata.port, bucket, entries)  # warm the page cache and the worker
    gb_rates, raw_rates = [], []
    for _ in range(ROUNDS):
        received, seconds = stream_batch(strata.port, bucket, entries)
        gb_rates.append(count / seconds)
        _sent, raw_seconds = raw_stream(paths, [f"{bucket}/{n}" for n in names])
        raw_rates.append(count / raw_seconds)
    say(f"getbatch {[round(r) for r in gb_rates]} files/s; raw {[round(r) for r in raw_rates]} files/s")
    assert received >= count * (size + 512)

    from aistore.sdk import Client

    client = Client(strata.base)
    sdk_bucket = client.bucket(bucket)
    sample = names[: min(2000, count)]
    t0 = time.perf_counter()
    for name in sample:
        sdk_bucket.object(name).get_reader().read_all()
    sequential = len(sample) / (time.perf_counter() - t0)
    with ThreadPoolExecutor(16) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda n: sdk_bucket.object(n).get_reader().read_all(), names))
        parallel = count / (time.perf_counter() - t0)
    say(f"SDK GETs: sequential {sequential:.0f}/s, 16-way {parallel:.0f}/s")
    rate = best(gb_rates)
    what = f"{count:,} x 4 KiB as one .tar stream, files/s"
    report.metrics += [
        Metric(what, "files/s", rate, best(raw_rates), "raw tar headers + sendfile into a pipe", 0.7),
        Metric(what, "files/s", rate, sequential, "sequential SDK GETs", 10.0),
        Metric(what, "files/s", rate, parallel, "16-way parallel SDK GETs", 2.0),
    ]
    report.notes.append(
        f"4 KiB: GetBatch runs {', '.join(f'{r:,.0f}' for r in gb_rates)} files/s; raw stream "
        f"{', '.join(f'{r:,.0f}' for r in raw_rates)} files/s; "
        f"sequential GETs timed over {len(sample):,} objects"
    )


def bench_large(strata: StrataServer, report: Report, count: int) -> None:
    bucket, size = "gb-large", 1 << 20
    bodies = Bodies(size)
    names = [f"big-{i:04d}" for i in range(count)]
    create_bucket(strata.base, bucket)
    put_objects(strata.base, bucket, names, bodies.for_name, connections=8)
    files = object_files(strata.data_dir, bucket)
    paths = [files[n] for n in names]
    entries = [{"objname": n} for n in names]
    stream_batch(strata.port, bucket, entries)
    gb_rates, raw_rates = [], []
    for _ in range(ROUNDS):
        received, seconds = stream_batch(strata.port, bucket, entries)
        gb_rates.append(received / seconds / 1e6)
        sent, raw_seconds = raw_stream(paths, [f"{bucket}/{n}" for n in names])
        raw_rates.append(sent / raw_seconds / 1e6)
    say(f"1 MiB: getbatch {[round(r) for r in gb_rates]} MB/s; raw {[round(r) for r in raw_rates]} MB/s")
    report.metrics.append(
        Metric(
            f"{count:,} x 1 MiB as one .tar stream, MB/s",
            "MB/s",
            best(gb_rates),
            best(raw_rates),
            "raw tar headers + sendfile into a pipe",
            None,
        )
    )
    # a 10 GiB batch: the same objects over and over; the server's memory must not follow the bytes
    repeat = max(1, (10 << 30) // (count * size))
    big = entries * repeat
    before = memory_of_tree(strata.pid)
    received, seconds = stream_batch(strata.port, bucket, big)
    after = memory_of_tree(strata.pid)
    report.metrics.append(
        Metric(
            f"server peak RSS over a {received / (1 << 30):.1f} GiB batch, MiB",
            "MiB",
            after.peak_rss_kib / 1024,
            None,
            "",
            None,
        )
    )
    report.notes.append(
        f"10 GiB batch ({len(big):,} entries of 1 MiB) in {seconds:.1f}s "
        f"({received / seconds / 1e6:,.0f} MB/s); "
        f"server RSS {before.rss_kib >> 10} -> {after.rss_kib >> 10} MiB, sum of VmHWM "
        f"{before.peak_rss_kib >> 10} -> {after.peak_rss_kib >> 10} MiB over {after.processes} processes"
    )


def bench_shards(strata: StrataServer, report: Report, shards: int, per_shard: int) -> None:
    import io
    import tarfile

    bucket = "gb-shards"
    create_bucket(strata.base, bucket)
    bodies = Bodies(4096)
    shard_names = [f"shard-{i:04d}.tar" for i in range(shards)]

    def shard_body(name: str) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            for j in range(per_shard):
                info = tarfile.TarInfo(f"sample-{j:04d}.jpg")
                info.size = 4096
                tf.addfile(info, io.BytesIO(bodies.for_index(j)))
        return buf.getvalue()

    put_objects(strata.base, bucket, shard_names, shard_body, connections=8)
    entries = [
        {"objname": s, "archpath": f"sample-{j:04d}.jpg"} for s in shard_names for j in range(per_shard)
    ]
    total = len(entries)
    _, first = stream_batch(strata.port, bucket, entries)
    rates = [total / stream_batch(strata.port, bucket, entries)[1] for _ in range(ROUNDS)]
    say(f"shards: first {total / first:.0f} files/s, warm {[round(r) for r in rates]} files/s")
    report.metrics.append(
        Metric(
            f"archived 4 KiB files from {shards} local TAR shards, files/s (warm)",
            "files/s",
            best(rates),
            None,
            "",
            None,
        )
    )
    report.notes.append(
        f"shards: {total:,} entries ({per_shard} per shard, in shard order); the first request walked "
        f"and persisted each shard's index: {total / first:,.0f} files/s; AIStore's indicative range "
        "is 5-20K files/s per target"
    )


def bench_cluster(report: Report, count: int, embedded_rate: float, workdir: Path) -> None:
    """The same 4 KiB batch through a 3-target cluster's proxy: the designated target (picked at random)
    holds a third of the entries and pulls the other two thirds from its peers."""
    from aistore.sdk import Client

    from strata.cluster.devcluster import DevCluster

    bucket, size = "gb-cluster", 4096
    bodies = Bodies(size)
    names = [f"obj-{i:05d}" for i in range(count)]
    cluster = DevCluster(str(workdir / "cluster"), workers=2).up(targets=3, proxies=1)
    try:
        proxy = cluster.endpoint
        create_bucket(proxy, bucket)
        smap = Client(proxy).cluster().get_info()
        owned: dict[str, list[str]] = {}
        for name in names:  # PUT straight to each owner (the loader does not follow redirects)
            owner = smap.get_target_for_object(f"ais/@#/{bucket}/{name}").public_net.direct_url
            owned.setdefault(owner, []).append(name)
        for url, part in owned.items():
            put_objects(url, bucket, part, bodies.for_name, connections=16)
        port = int(proxy.rsplit(":", 1)[1])
        entries = [{"objname": n} for n in names]
        stream_batch(port, bucket, entries)  # warm
        rates = []
        for _ in range(ROUNDS):
            received, seconds = stream_batch(port, bucket, entries)
            rates.append(count / seconds)
        assert received >= count * (size + 512)
    finally:
        cluster.down()
    rate = best(rates)
    say(f"cluster getbatch {[round(r) for r in rates]} files/s (embedded {embedded_rate:,.0f})")
    report.metrics.append(
        Metric(
            f"{count:,} x 4 KiB through a 3-target cluster (2/3 on peers), files/s",
            "files/s",
            rate,
            embedded_rate,
            "embedded, same batch",
            None,
        )
    )
    report.notes.append(
        f"cluster: etcd + 1 proxy + 3 targets (2 workers each) on the same 2 cores; curl -L follows the "
        f"proxy's 307 to a random designated target; runs {', '.join(f'{r:,.0f}' for r in rates)} files/s"
    )


def render(report: Report, argv: list[str]) -> str:
    setup = (
        "Strata workers: 2 (one GetBatch request is served by one worker); client and server share the cores"
    )
    return render_section("GetBatch", setup, report, argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.getbatch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--count", type=int, default=10_000, help="4 KiB objects (10,000)")
    p.add_argument("--large", type=int, default=300, help="1 MiB objects (300)")
    p.add_argument("--shards", type=int, default=100, help="TAR shards (100) of --per-shard files")
    p.add_argument("--per-shard", type=int, default=100, help="4 KiB files per shard (100)")
    p.add_argument("--results", default="", help="append a dated section to this markdown file")
    p.add_argument("--cluster", action="store_true", help="also the same batch through a 3-target cluster")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="strata-bench-getbatch-"))
    report = Report()
    try:
        with StrataServer(workdir / "data", 2, log_dir=workdir).start() as strata:
            assert isinstance(strata, StrataServer)
            say(f"strata up on {strata.base}")
            busy = machine_busy()
            report.notes.append(f"machine busy before measuring (others' load): {busy:.0%}")
            bench_small(strata, report, args.count)
            bench_large(strata, report, args.large)
            bench_shards(strata, report, args.shards, args.per_shard)
        if args.cluster:
            embedded = next(
                m.strata for m in report.metrics if m.name.endswith("as one .tar stream, files/s")
            )
            bench_cluster(report, args.count, embedded, workdir)
        section = render(report, ["python", "-m", "bench.getbatch", *argv])
        print()
        print(section)
        if args.results:
            with open(args.results, "a") as f:
                f.write("\n" + section)
            say(f"appended to {args.results}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
