"""Cluster benchmarks: the proxy's redirect hop, direct target reads, embedded mode, rebalance.

    python -m bench.cluster get        # GET 4 KiB: proxy 307 hop vs owner target vs embedded
    python -m bench.cluster rebalance  # add a 4th target: rebalance MB/s vs `cp -r` of the moved data
    python -m bench.cluster all --results bench/RESULTS.md

Every node (etcd, proxy, targets, embedded server) and the load generators share this machine's
cores, so the ratios are what to read. Like the foundation benchmarks this measures and reports; it
exits non-zero only when the harness itself broke (a node would not start, an answer was wrong).
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.foundation import (
    Bodies,
    LoadShape,
    Metric,
    Report,
    append_results,
    best,
    human_size,
    median_cost,
    per_cpu_second,
    render_section,
    runs_note,
    say,
)
from bench.harness import REPO_ROOT, CpuMeter, CpuSplit, StrataServer, WrkResult, machine_busy, run_wrk
from bench.loader import create_bucket, put_objects
from strata.cluster.devcluster import DevCluster, Proc

NOT_ENDED = "0001-01-01T00:00:00Z"
REBALANCE_QUERY = {"ID": "", "Kind": "rebalance", "DaemonID": "", "Bck": None, "Buckets": None}


def object_path(bucket: str, name: str) -> str:
    return f"/v1/objects/{bucket}/{name}?provider=ais"


# ---------------------------------------------------------------------------------------------
# a small HTTP/1.1 client on raw sockets that follows redirects


class HttpError(RuntimeError):
    pass


class RawConnection:
    """One keep-alive connection; responses must carry Content-Length (Strata's always do)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.addr = (host, port)
        self.timeout = timeout
        self.hostport = f"{host}:{port}".encode()
        self.sock = self._connect()
        self.buf = bytearray()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.addr, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise HttpError("connection closed by the server")
        self.buf += chunk

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), path.encode(), self.hostport)
        if body or method in ("PUT", "POST"):
            head += b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(body)
        head += b"\r\n"
        if len(body) <= 65536:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            self.sock.sendall(body)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        lines = bytes(self.buf[:end]).split(b"\r\n")
        del self.buf[: end + 4]
        status = int(lines[0].split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            headers[key.strip().lower()] = value.strip()
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            raise HttpError(f"{method} {path}: chunked answers are not supported by this client")
        length = int(headers.get(b"content-length", b"0"))
        while len(self.buf) < length:
            self._fill()
        data = bytes(self.buf[:length])
        del self.buf[:length]
        if headers.get(b"connection", b"").lower() == b"close":  # the server ends this connection
            self.sock.close()
            self.buf.clear()
            self.sock = self._connect()
        return status, headers, data


class FollowingClient:
    """One connection per host:port; follows 307/302 like the SDK does (same method, same body)."""

    def __init__(self, base_url: str):
        self.base = urlsplit(base_url)
        self.conns: dict[tuple[str, int], RawConnection] = {}
        self.redirects = 0

    def _conn(self, host: str, port: int) -> RawConnection:
        conn = self.conns.get((host, port))
        if conn is None:
            conn = self.conns[(host, port)] = RawConnection(host, port)
        return conn

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        host, port = self.base.hostname or "127.0.0.1", self.base.port or 80
        for _hop in range(5):
            status, headers, data = self._conn(host, port).request(method, path, body)
            if status not in (301, 302, 303, 307, 308):
                return status, data
            self.redirects += 1
            loc = urlsplit(headers[b"location"].decode())
            host, port = loc.hostname or host, loc.port or port
            path = loc.path + (f"?{loc.query}" if loc.query else "")
        raise HttpError(f"{method} {path}: too many redirects")

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()


@dataclass
class ClientRun:
    """N threads of `FollowingClient` GETting a list of paths in a cycle for a while."""

    requests: int
    seconds: float
    redirects: int
    errors: int
    lat_p50_ms: float
    lat_p99_ms: float
    cpu: CpuSplit

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def cpu_per_request_us(self) -> tuple[float, float]:
        n = self.requests or 1
        return self.cpu.server_user_s / n * 1e6, self.cpu.server_system_s / n * 1e6


def client_get_load(
    base_url: str, paths: list[str], size: int, threads: int, duration: float, server_pids: list[int]
) -> ClientRun:
    stop = threading.Event()
    counts = [0] * threads
    errors = [0] * threads
    redirects = [0] * threads
    lats: list[list[float]] = [[] for _ in range(threads)]
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        client = FollowingClient(base_url)
        pos = (i * 7919) % len(paths)
        mine = lats[i]
        clock = time.perf_counter
        try:
            while not stop.is_set():
                t0 = clock()
                status, data = client.request("GET", paths[pos])
                mine.append(clock() - t0)
                if status != 200 or len(data) != size:
                    errors[i] += 1
                counts[i] += 1
                pos = pos + 1 if pos + 1 < len(paths) else 0
        except BaseException as exc:
            failures.append(exc)
        finally:
            redirects[i] = client.redirects
            client.close()

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    with CpuMeter(server_pids) as meter:
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        time.sleep(duration)
        stop.set()
        for w in workers:
            w.join(60)
        seconds = time.perf_counter() - t0
    if failures:
        raise HttpError(f"client load against {base_url} failed: {failures[0]!r}")
    assert meter.split is not None
    all_lats = sorted(x for lst in lats for x in lst)
    p50 = all_lats[len(all_lats) // 2] if all_lats else 0.0
    p99 = all_lats[min(len(all_lats) - 1, int(len(all_lats) * 0.99))] if all_lats else 0.0
    return ClientRun(sum(counts), seconds, sum(redirects), sum(errors), p50 * 1e3, p99 * 1e3, meter.split)


@dataclass(frozen=True)
class PutResult:
    objects: int
    bytes: int
    seconds: float
    redirects: int

    @property
    def per_second(self) -> float:
        return self.objects / self.seconds if self.seconds else 0.0


def put_following(
    base_url: str, bucket: str, names: list[str], body_for: Callable[[str], bytes], threads: int = 8
) -> PutResult:
    """PUT every object through `base_url` (a proxy: 307 to the owner, the body sent again there)."""
    it: Iterator[str] = iter(names)
    lock = threading.Lock()
    totals = [0, 0, 0]
    failures: list[BaseException] = []

    def worker() -> None:
        client = FollowingClient(base_url)
        try:
            while True:
                with lock:
                    name = next(it, None)
                if name is None:
                    break
                body = body_for(name)
                status, data = client.request("PUT", object_path(bucket, name), body)
                if status != 200:
                    raise HttpError(f"PUT {bucket}/{name}: HTTP {status}: {data[:200]!r}")
                with lock:
                    totals[0] += 1
                    totals[1] += len(body)
        except BaseException as exc:
            failures.append(exc)
        finally:
            with lock:
                totals[2] += client.redirects
            client.close()

    t0 = time.perf_counter()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise failures[0]
    return PutResult(totals[0], totals[1], time.perf_counter() - t0, totals[2])


# ---------------------------------------------------------------------------------------------
# cluster helpers


def start_cluster(root: Path, workers: int, targets: int) -> DevCluster:
    cluster = DevCluster(str(root), workers=workers)
    try:
        cluster.up(targets=targets, proxies=1)
    except BaseException:
        cluster.down()
        raise
    return cluster


def node(cluster: DevCluster, role: str) -> list[Proc]:
    return sorted((p for p in cluster.procs.values() if p.role == role), key=lambda p: p.name)


def smap_owners(proxy_url: str, bucket: str, names: list[str]) -> dict[str, str]:
    """name -> owner's direct URL, computed with the official SDK's HRW (as `direct=True` does)."""
    from aistore.sdk import Client

    smap = Client(proxy_url).cluster().get_info()
    out = {}
    for name in names:
        owner = smap.get_target_for_object(f"ais/@#/{bucket}/{name}")
        out[name] = owner.public_net.direct_url.rstrip("/")
    return out


def redirect_location(proxy_url: str, path: str) -> str:
    r = requests.get(proxy_url + path, allow_redirects=False, timeout=30)
    if r.status_code != 307:
        raise RuntimeError(f"proxy answered {r.status_code} (want 307) for {path}")
    return r.headers["Location"]


def log_problems(log_dir: Path, max_lines: int = 6) -> list[str]:
    """Lines in node logs that look like trouble (tracebacks, errors, warnings), per log file."""
    pattern = re.compile(
        r'Traceback|ERROR|CRITICAL|WARNING|Exception|refus|"level":"(warn|error|fatal)"', re.I
    )
    benign = ("simple token is not cryptographically signed",)  # etcd's default auth token, at start
    notes = []
    for log in sorted(log_dir.glob("*.log")):
        hits = [
            ln.rstrip()
            for ln in log.read_text(errors="replace").splitlines()
            if pattern.search(ln) and not any(b in ln for b in benign)
        ]
        if hits:
            shown = " | ".join(h[:220] for h in hits[:max_lines])
            notes.append(f"{log.name}: {len(hits)} suspicious lines, first: {shown}")
    return notes


def write_paths(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def status_counts(res: WrkResult) -> dict[str, int]:
    line = next((ln for ln in res.output.splitlines() if ln.startswith("STATUSJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no STATUSJSON line: {res.output}")
    counts: dict[str, int] = json.loads(line[len("STATUSJSON ") :])
    return counts


# ---------------------------------------------------------------------------------------------
# GET: proxy hop, direct target, embedded, client that follows


@dataclass
class GetRuns:
    proxy: list[WrkResult] = field(default_factory=list)
    target: list[WrkResult] = field(default_factory=list)
    embedded: list[WrkResult] = field(default_factory=list)
    follow: list[ClientRun] = field(default_factory=list)
    follow_target: list[ClientRun] = field(default_factory=list)
    follow_embedded: list[ClientRun] = field(default_factory=list)


def bench_get(
    workdir: Path, size: int, count: int, workers: int, shape: LoadShape, client_threads: int
) -> Report:
    report = Report()
    label = human_size(size)
    bucket = "cbench-get"
    names = [f"obj-{i:06d}" for i in range(count)]
    bodies = Bodies(size)
    cluster = start_cluster(workdir / "cluster-get", workers, targets=3)
    embedded: StrataServer | None = None
    try:
        proxy = node(cluster, "proxy")[0]
        say(f"cluster up: etcd, 1 proxy, 3 targets ({workers} worker(s) each); proxy {proxy.url}")

        # 1. the same objects in the cluster (PUT through the proxy) and in an embedded server
        wait_settled(proxy.url)
        create_bucket(proxy.url, bucket)
        say(f"GET {label}: populating {count:,} objects through the proxy")
        loaded = put_following(proxy.url, bucket, names, bodies.for_name, threads=8)
        if loaded.redirects != count:
            raise RuntimeError(f"{loaded.redirects} redirects for {count} PUTs through the proxy")
        embedded = StrataServer(workdir / "embedded-data", workers, log_dir=workdir).start()
        create_bucket(embedded.base, bucket)
        emb_loaded = put_objects(embedded.base, bucket, names, bodies.for_name, connections=32)
        report.notes.append(
            f"GET {label}: populated {count:,} objects through the proxy (each PUT redirected, body sent "
            f"again to the owner) in {loaded.seconds:.1f}s ({loaded.per_second:,.0f} PUT/s, 8 threads), "
            f"and into embedded mode in {emb_loaded.seconds:.1f}s ({emb_loaded.per_second:,.0f} PUT/s)"
        )

        # 2. owners by the SDK's HRW; the proxy must agree; pick the target owning the most
        owners = smap_owners(proxy.url, bucket, names)
        by_target: dict[str, list[str]] = {}
        for name, url in owners.items():
            by_target.setdefault(url, []).append(name)
        sampled = names[:: max(1, count // 25)]
        for name in sampled:
            loc = redirect_location(proxy.url, object_path(bucket, name))
            if not loc.startswith(owners[name] + "/"):
                raise RuntimeError(f"proxy redirects {name} to {loc}, the SDK's HRW says {owners[name]}")
        target_url = max(by_target, key=lambda u: len(by_target[u]))
        target = next(p for p in node(cluster, "target") if p.url == target_url)
        mine = sorted(by_target[target_url])
        spread = ", ".join(f"{len(v):,}" for v in sorted(by_target.values(), key=len, reverse=True))
        report.notes.append(
            f"GET {label}: HRW (SDK Smap.get_target_for_object) spread {count:,} objects {spread} over "
            f"3 targets; the proxy's 307 Location matched it for {len(sampled)} sampled objects; every "
            f"GET load cycles over the {len(mine):,} objects of target {target.name}"
        )
        paths = [object_path(bucket, n) for n in mine]
        paths_file = write_paths(workdir / "paths-get.txt", paths)
        for name in (mine[0], mine[-1]):
            want = bodies.for_name(name)
            for base in (target.url, embedded.base):
                status, data = FollowingClient(base).request("GET", object_path(bucket, name))
                if status != 200 or data != want:
                    raise RuntimeError(f"{base} answered {status}, {len(data)} wrong bytes for {name}")
            fc = FollowingClient(proxy.url)
            status, data = fc.request("GET", object_path(bucket, name))
            if status != 200 or data != want or fc.redirects != 1:
                raise RuntimeError(f"through the proxy: {status}, {len(data)} B, {fc.redirects} redirects")

        # 3. check runs: what each server answers to this exact load (wrk never follows a redirect)
        args = [str(paths_file)]
        servers = (
            ("proxy", proxy.url, [proxy.pid], 307),
            ("target", target.url, [target.pid], 200),
            ("embedded", embedded.base, [embedded.pid], 200),
        )
        for who, base, _pids, want_status in servers:
            chk = run_wrk(base, "get_paths_status.lua", args, shape.threads, shape.connections, 2)
            st = status_counts(chk)
            want_key = "s307" if want_status == 307 else "s2xx"
            if st[want_key] != chk.requests or chk.errors:
                raise RuntimeError(
                    f"{who}: answers by status {st} of {chk.requests} requests, errors {chk.errors}"
                )
            report.notes.append(
                f"GET {label}: check run against the {who}: {chk.requests:,} answers, all "
                f"{'307' if want_status == 307 else '200'} ({st}), {chk.bytes / max(chk.requests, 1):,.0f} "
                "bytes per answer as wrk read them (headers included)"
            )

        # 4. warm-up, then measured rounds alternating all six loads
        for _who, base, _pids, _ in servers:
            run_wrk(base, "get_paths.lua", args, shape.threads, shape.connections, shape.warmup)
        busy = machine_busy()
        report.notes.append(f"GET {label}: machine busy before measuring (others' load): {busy:.0%}")
        runs = GetRuns()
        emb_pid = embedded.pid
        for r in range(shape.rounds):
            for who, base, pids, _ in servers:
                res = run_wrk(
                    base,
                    "get_paths.lua",
                    args,
                    shape.threads,
                    shape.connections,
                    shape.duration,
                    server_pid=pids,
                )
                getattr(runs, who).append(res)
                say(
                    f"GET {label} round {r + 1} wrk -> {who}: {res.rps:,.0f} req/s, "
                    f"{res.bytes / res.requests:,.0f} B/answer, p50 {res.lat_p50_ms:.2f} ms, "
                    f"p99 {res.lat_p99_ms:.2f} ms, errors {res.errors}; {res.cpu_text()}"
                )
            for who, base, pids in (
                ("follow", proxy.url, [proxy.pid, target.pid]),
                ("follow_target", target.url, [target.pid]),
                ("follow_embedded", embedded.base, [emb_pid]),
            ):
                cr = client_get_load(base, paths, size, client_threads, shape.duration, pids)
                getattr(runs, who).append(cr)
                say(
                    f"GET {label} round {r + 1} python client -> {who}: {cr.rps:,.0f} GET/s, "
                    f"{cr.redirects / max(cr.requests, 1):.2f} redirects/GET, p50 {cr.lat_p50_ms:.2f} ms, "
                    f"p99 {cr.lat_p99_ms:.2f} ms, errors {cr.errors}; {cr.cpu.text()}"
                )
        report.extend(get_report(label, runs, workers, client_threads, shape))
        report.notes += [f"GET: node log {n}" for n in log_problems(Path(cluster.root) / "logs")]
        report.notes += [f"GET: embedded log {n}" for n in log_problems(workdir)]
        report.commands.append(
            runs.proxy[0].command.replace(f":{proxy.port}", ":PROXY").replace(str(workdir) + "/", "")
        )
        report.commands.append(
            runs.target[0].command.replace(f":{target.port}", ":TARGET").replace(str(workdir) + "/", "")
        )
        report.commands.append(
            runs.embedded[0].command.replace(f":{embedded.port}", ":EMBEDDED").replace(str(workdir) + "/", "")
        )
    finally:
        if embedded is not None:
            embedded.stop()
        cluster.down()
    return report


def _client_cost(runs: list[ClientRun]) -> float:
    costs = sorted(sum(r.cpu_per_request_us()) for r in runs)
    return costs[len(costs) // 2]


def _client_note(what: str, runs: list[ClientRun]) -> str:
    cells = ", ".join(
        f"{r.rps:,.0f} ({r.cpu.server_cores:.2f}/{r.cpu.client_cores:.2f}/{r.cpu.foreign_cores:.2f})"
        for r in runs
    )
    return f"{what} {cells}"


def get_report(label: str, runs: GetRuns, workers: int, client_threads: int, shape: LoadShape) -> Report:
    rep = Report()
    p, t, e = best(runs.proxy), best(runs.target), best(runs.embedded)
    f = max(runs.follow, key=lambda r: r.rps)
    ft = max(runs.follow_target, key=lambda r: r.rps)
    fe = max(runs.follow_embedded, key=lambda r: r.rps)
    emb = f"embedded {workers}w"
    tgt = f"owner target {workers}w"
    rep.metrics += [
        Metric(f"GET {label} proxy 307 hop only (wrk) req/s", "req/s", p.rps, t.rps, tgt, None),
        Metric(f"GET {label} proxy 307 hop only (wrk) req/s vs embedded", "req/s", p.rps, e.rps, emb, None),
        Metric(f"GET {label} direct to owner target (wrk) req/s", "req/s", t.rps, e.rps, emb, None),
        Metric(f"GET {label} proxy 307 answers per server CPU-second", "req/core-s",
               per_cpu_second(runs.proxy), per_cpu_second(runs.target), f"{tgt} (200 + body)", None),
        Metric(f"GET {label} owner target req per server CPU-second", "req/core-s",
               per_cpu_second(runs.target), per_cpu_second(runs.embedded), emb, None),
        Metric(f"GET {label} via proxy, following (py client {client_threads}th) GET/s", "GET/s",
               f.rps, fe.rps, f"{emb}, same client", None),
        Metric(f"GET {label} direct to target (py client {client_threads}th) GET/s", "GET/s",
               ft.rps, fe.rps, f"{emb}, same client", None),
        Metric(f"GET {label} via proxy, following: full GETs per server CPU-second (proxy+target)",
               "GET/core-s", 1e6 / max(_client_cost(runs.follow), 1e-9),
               1e6 / max(_client_cost(runs.follow_embedded), 1e-9), emb, None),
    ]  # fmt: skip
    wrk_runs = {"proxy (307)": runs.proxy, "target": runs.target, "embedded": runs.embedded}
    rep.notes.append(runs_note(f"GET {label} wrk", wrk_runs, "req/s"))
    rep.notes.append(
        f"GET {label} python client ({client_threads} threads, raw-socket keep-alive, follows 307): "
        "all runs, GET/s (cores used by server/client/others): "
        + "; ".join(
            (
                _client_note("via proxy (server = proxy+target)", runs.follow),
                _client_note("direct target", runs.follow_target),
                _client_note("embedded", runs.follow_embedded),
            )
        )
    )
    costs = []
    for who, res in wrk_runs.items():
        user, system = median_cost(res)
        costs.append(f"{who} {user:.1f} us user + {system:.1f} us kernel")
    for who, cruns in (
        ("via proxy, following (proxy+target)", runs.follow),
        ("embedded, same client", runs.follow_embedded),
    ):
        mid = sorted(cruns, key=lambda r: sum(r.cpu_per_request_us()))[len(cruns) // 2]
        user, system = mid.cpu_per_request_us()
        costs.append(f"python client {who} {user:.1f} us user + {system:.1f} us kernel")
    rep.notes.append(f"GET {label}: server CPU per request (median run): " + "; ".join(costs))
    model = 1.0 / (1.0 / p.rps + 1.0 / t.rps)
    rep.notes.append(
        f"GET {label}: if the two hops simply shared the machine, a following client could reach at most "
        f"1/(1/{p.rps:,.0f} + 1/{t.rps:,.0f}) = {model:,.0f} GET/s through the proxy with wrk's client cost "
        f"({model / e.rps:.2f}x embedded); the python client's own cost per GET (client cores / GET/s, "
        f"embedded run) is {fe.cpu.client_cores / fe.rps * 1e6:,.0f} us vs the embedded server's "
        f"{sum(fe.cpu_per_request_us()):,.0f} us, so its figures are client-bound and the ratio "
        f"via-proxy/embedded = {f.rps / fe.rps:.2f}x mostly shows the extra request the client makes"
    )
    rep.notes.append(
        f"GET {label}: latency p50/p99 (best runs) wrk proxy {p.lat_p50_ms:.2f}/{p.lat_p99_ms:.2f} ms, "
        f"target {t.lat_p50_ms:.2f}/{t.lat_p99_ms:.2f} ms, "
        f"embedded {e.lat_p50_ms:.2f}/{e.lat_p99_ms:.2f} ms; "
        f"python client via proxy {f.lat_p50_ms:.2f}/{f.lat_p99_ms:.2f} ms, direct {ft.lat_p50_ms:.2f}/"
        f"{ft.lat_p99_ms:.2f} ms, embedded {fe.lat_p50_ms:.2f}/{fe.lat_p99_ms:.2f} ms"
    )
    for who, wres in wrk_runs.items():
        if any(r.errors for r in wres):
            rep.notes.append(f"GET {label}: wrk against {who} saw errors: {[r.errors for r in wres]}")
    for who, cres in (
        ("via proxy", runs.follow),
        ("target", runs.follow_target),
        ("embedded", runs.follow_embedded),
    ):
        if any(r.errors for r in cres):
            rep.notes.append(f"GET {label}: python client {who} saw bad answers: {[r.errors for r in cres]}")
    rep.notes.append(
        f"GET {label}: wrk -t{shape.threads} -c{shape.connections}, {shape.duration:g}s per run, best of "
        f"{shape.rounds} rounds; python client: {client_threads} threads in one process (one GIL)"
    )
    return rep


# ---------------------------------------------------------------------------------------------
# rebalance


def parse_time(text: str) -> float:
    """A job snapshot's time (RFC 3339 with nanoseconds, UTC) as a Unix timestamp."""
    base, _, frac = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)


@dataclass(frozen=True)
class RebalancePart:
    """One target's snapshot of a rebalance job."""

    node: str
    id: str
    start: str
    end: str
    out_objs: int
    out_bytes: int
    in_bytes: int

    @property
    def ended(self) -> bool:
        return self.end != NOT_ENDED

    @property
    def seconds(self) -> float:
        return parse_time(self.end) - parse_time(self.start)

    @staticmethod
    def of(node_id: str, snap: dict[str, Any]) -> RebalancePart:
        st = snap.get("stats") or {}
        return RebalancePart(
            node_id, str(snap["id"]), str(snap["start-time"]), str(snap["end-time"]),
            int(st.get("out-objs", 0)), int(st.get("out-bytes", 0)), int(st.get("in-bytes", 0)),
        )  # fmt: skip


def rebalance_parts(proxy_url: str) -> list[RebalancePart]:
    stats = requests.get(f"{proxy_url}/v1/cluster?what=qryxstats", json=REBALANCE_QUERY, timeout=10).json()
    return [RebalancePart.of(tid, s) for tid, part in stats.items() for s in part or []]


def wait_rebalanced(proxy_url: str, since: float, timeout: float) -> tuple[list[RebalancePart], float]:
    """Until every target finished its part of the newest rebalance started after `since` (Unix time).

    Returns its parts and when that was seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        targets = len(requests.get(f"{proxy_url}/v1/daemon?what=smap", timeout=10).json()["tmap"])
        snaps = [s for s in rebalance_parts(proxy_url) if parse_time(s.start) >= since]
        if snaps:
            newest = max(snaps, key=lambda s: s.start).id
            parts = [s for s in snaps if s.id == newest]
            last = parts
            if len(parts) >= targets and all(s.ended for s in parts):
                return parts, time.time()
        time.sleep(0.1)
    raise TimeoutError(f"rebalance did not finish in {timeout}s: {last}")


def wait_settled(proxy_url: str, quiet: float = 3.0, timeout: float = 60.0) -> None:
    """Until no rebalance has run or started for `quiet` seconds (a new cluster rebalances once as its
    targets join; that one must not be mistaken for the one measured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = rebalance_parts(proxy_url)
        running = [s for s in parts if not s.ended]
        latest = max((parse_time(s.end) for s in parts if s.ended), default=0.0)
        latest = max([latest, *(parse_time(s.start) for s in parts)])
        if not running and time.time() - latest >= quiet:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the cluster kept rebalancing for {timeout}s")


def placement_check(
    cluster: DevCluster, proxy_url: str, bucket: str, names: list[str]
) -> tuple[int, int, int]:
    """(objects on their owner, objects missing from their owner, copies left on non-owners)."""
    owners = smap_owners(proxy_url, bucket, names)
    dirs = {p.url: Path(p.data) / "mp" / "@ais" / bucket / "%ob" for p in node(cluster, "target")}
    present = {url: set(os.listdir(d)) if d.exists() else set() for url, d in dirs.items()}
    on_owner = sum(1 for n in names if n in present[owners[n]])
    strays = sum(1 for url, have in present.items() for n in have if owners.get(n) != url)
    return on_owner, len(names) - on_owner, strays


def cp_anchor(workdir: Path, files: int, size: int, bodies: Bodies, rounds: int) -> tuple[float, list[float]]:
    """`cp -r` of `files` files of `size` bytes on the same filesystem; (best seconds, all runs)."""
    src = workdir / "cp-src"
    src.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (src / f"obj-{i:06d}").write_bytes(bodies.for_index(i)[:size])
    os.sync()
    for p in src.iterdir():  # warm: the source in the page cache, like the rebalance's just-PUT objects
        p.read_bytes()
    runs = []
    for r in range(rounds):
        dst = workdir / f"cp-dst-{r}"
        os.sync()
        t0 = time.perf_counter()
        subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
        runs.append(time.perf_counter() - t0)
        shutil.rmtree(dst)
    shutil.rmtree(src)
    return min(runs), runs


def bench_rebalance(workdir: Path, size: int, count: int, workers: int, cp_rounds: int) -> Report:
    report = Report()
    label = f"{count:,} x {human_size(size)}"
    bucket = "cbench-reb"
    names = [f"obj-{i:06d}" for i in range(count)]
    bodies = Bodies(size)
    cluster = start_cluster(workdir / "cluster-reb", workers, targets=3)
    try:
        proxy = node(cluster, "proxy")[0]
        wait_settled(proxy.url)
        create_bucket(proxy.url, bucket)
        say(f"rebalance: populating {label} through the proxy")
        loaded = put_following(proxy.url, bucket, names, bodies.for_name, threads=8)
        report.notes.append(
            f"rebalance: populated {label} ({loaded.bytes / 1e6:,.0f} MB) through the proxy in "
            f"{loaded.seconds:.1f}s ({loaded.bytes / loaded.seconds / 1e6:,.0f} MB/s, 8 threads)"
        )
        wait_settled(proxy.url)
        os.sync()  # no dirty pages from the population left to slow the rebalance down
        busy = machine_busy()
        report.notes.append(f"rebalance: machine busy before the join (others' load): {busy:.0%}")
        pids = [p.pid for p in cluster.procs.values()]
        with CpuMeter(pids) as meter:
            t_spawn = time.time()
            newcomer = cluster.add_node("target")
            t_healthy = time.time()
            cluster.wait_for_map(targets=4)
            t_map = time.time()
            parts, t_seen = wait_rebalanced(proxy.url, t_spawn, timeout=600)
        pids.append(newcomer.pid)
        split = meter.split
        assert split is not None
        moved_bytes = sum(s.out_bytes for s in parts)
        moved_objs = sum(s.out_objs for s in parts)
        in_bytes = sum(s.in_bytes for s in parts)
        start = min(parse_time(s.start) for s in parts)
        end = max(parse_time(s.end) for s in parts)
        job_s = end - start
        join_s = end - t_map
        say(
            f"rebalance: {moved_objs:,} objects, {moved_bytes / 1e6:,.1f} MB moved; job {job_s:.2f}s, "
            f"join->done {join_s:.2f}s; {split.text()}"
        )
        on_owner, missing, strays = placement_check(cluster, proxy.url, bucket, names)
        report.notes.append(
            f"rebalance: after it, {on_owner:,}/{count:,} objects on their HRW owner (SDK), {missing} "
            f"missing from their owner, {strays} copies left on other targets"
        )
        if missing or strays:
            report.notes.append("rebalance: PLACEMENT PROBLEM (see the line above)")
        per_target = ", ".join(
            f"{s.node}: {s.out_objs:,} obj / {s.out_bytes / 1e6:,.1f} MB in {s.seconds:.2f}s" for s in parts
        )
        report.notes.append(
            f"rebalance {parts[0].id}: sent per target: {per_target}; in-bytes summed {in_bytes:,}"
        )
        report.notes.append(
            f"rebalance: timeline (s after spawning the 4th target): healthy {t_healthy - t_spawn:.2f}, "
            f"in the map (polled every 0.2s) {t_map - t_spawn:.2f}, first target's job started "
            f"{start - t_spawn:.2f}, last target's job ended {end - t_spawn:.2f}, seen done "
            f"{t_seen - t_spawn:.2f} (the primary proxy waits 1s after a map change before starting one)"
        )
        report.notes.append(
            f"rebalance: CPU from spawn to seen done ({split.seconds:.1f}s): the 3 targets, proxy and etcd "
            f"{split.server_cores:.2f} cores ({split.server_user_s:.1f}s user + {split.server_system_s:.1f}s "
            f"kernel; the newcomer is in 'others'), bench process {split.client_cores:.2f}, "
            f"others {split.foreign_cores:.2f}"
        )
        report.notes += [f"rebalance: node log {n}" for n in log_problems(Path(cluster.root) / "logs")]
    finally:
        cluster.down()

    # anchor: cp -r of the same number of files of the same size, same filesystem, warm cache
    say(f"rebalance anchor: cp -r of {moved_objs:,} files of {human_size(size)}")
    cp_best, cp_runs = cp_anchor(workdir, moved_objs, size, bodies, cp_rounds)
    cp_bytes = moved_objs * size
    if cp_bytes != moved_bytes:
        report.notes.append(f"rebalance: cp copied {cp_bytes:,} B, the rebalance reported {moved_bytes:,} B")
    cp_rate = cp_bytes / cp_best / 1e6
    report.notes.append(
        f"rebalance anchor: `cp -r` of {moved_objs:,} files x {human_size(size)} in the scratch dir (same "
        f"filesystem as the nodes' data), page cache warm for both (sources just written and read), `sync` "
        f"before each run, no fsync in either; runs {', '.join(f'{s:.3f}s' for s in cp_runs)}, best kept. "
        "cp leaves the source; the rebalance also deletes each sent object and writes its metadata xattr"
    )
    report.metrics += [
        Metric(f"rebalance {label}, 3->4 targets, MB/s (job start->end)", "MB/s", moved_bytes / job_s / 1e6,
               cp_rate, "cp -r, warm", None),
        Metric(f"rebalance {label}, 3->4 targets, MB/s (join->done)", "MB/s", moved_bytes / join_s / 1e6,
               cp_rate, "cp -r, warm", None),
        Metric("rebalance moved objects/s (job start->end)", "obj/s", moved_objs / job_s,
               moved_objs / cp_best, "cp -r, warm", None),
    ]  # fmt: skip
    report.commands.append(f"python -m bench.cluster rebalance --reb-count {count} --reb-size {size}")
    return report


# ---------------------------------------------------------------------------------------------
# results and CLI


def render(report: Report, argv: list[str], workers: int) -> str:
    setup = (
        f"cluster: etcd + 1 proxy + 3 targets (+1 joining for rebalance), {workers} worker(s) per node; "
        f"embedded `strata serve --workers {workers}`; every node, wrk and the python client share the cores"
    )
    return render_section("cluster", setup, report, argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("what", choices=["get", "rebalance", "all"])
    p.add_argument("--workers", type=int, default=2, help="workers per node and for embedded mode (2)")
    p.add_argument("--count", type=int, default=10000, help="get: objects in the bucket (10,000)")
    p.add_argument("--size", default="4KiB", help="get: object size (4KiB)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--client-threads", type=int, default=8, help="python following client threads (8)")
    p.add_argument("--duration", type=float, default=10, help="seconds per measured run (10)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of wrk warm-up per server (3)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per load, best kept (3)")
    p.add_argument("--reb-count", type=int, default=2000, help="rebalance: objects (2,000)")
    p.add_argument("--reb-size", default="256KiB", help="rebalance: object size (256KiB)")
    p.add_argument("--cp-rounds", type=int, default=3, help="rebalance anchor: cp -r runs, best kept (3)")
    p.add_argument("--workdir", default="", help="scratch directory (default: a new one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (node logs, data)")
    p.add_argument("--results", default="", help="append a dated section to this markdown file")
    args = p.parse_args(argv)

    from bench.foundation import parse_size

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # the nodes DevCluster spawns run `python -m strata` from this checkout
    os.environ["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="strata-cbench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    shape = LoadShape(args.threads, args.connections, args.duration, args.warmup, args.rounds)
    report = Report()
    say(f"scratch: {workdir}")
    try:
        if args.what in ("get", "all"):
            report.extend(
                bench_get(
                    workdir, parse_size(args.size), args.count, args.workers, shape, args.client_threads
                )
            )
        if args.what in ("rebalance", "all"):
            report.extend(
                bench_rebalance(
                    workdir, parse_size(args.reb_size), args.reb_count, args.workers, args.cp_rounds
                )
            )
        section = render(report, ["python", "-m", "bench.cluster", *argv], args.workers)
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


if __name__ == "__main__":
    raise SystemExit(main())
