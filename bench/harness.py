"""Processes under test and the load generator: a Strata node, an nginx anchor, wrk.

Every process is started in its own session and stopped by its own process group, so the harness
never touches anything it did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LUA_DIR = BENCH_DIR / "lua"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http_ok(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"status {resp.status}"
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = str(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out.extend(int(c) for c in text)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def process_tree(pid: int) -> list[int]:
    """The pid and all its descendants (as /proc sees them now)."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


@dataclass(frozen=True)
class MemorySample:
    processes: int
    rss_kib: int  # VmRSS summed over the tree
    peak_rss_kib: int  # VmHWM summed over the tree (each process's own high-water mark)


def memory_of_tree(pid: int) -> MemorySample:
    pids = process_tree(pid)
    return MemorySample(
        processes=len(pids),
        rss_kib=sum(_status_kib(p, "VmRSS") for p in pids),
        peak_rss_kib=sum(_status_kib(p, "VmHWM") for p in pids),
    )


class _Managed:
    proc: subprocess.Popen[bytes] | None = None
    name = "process"

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StrataServer(_Managed):
    """`python -m strata serve` on 127.0.0.1, ready when /v1/health answers 200."""

    name = "strata"

    def __init__(
        self,
        data_dir: Path,
        workers: int,
        port: int | None = None,
        log_dir: Path | None = None,
        source_root: Path | None = None,
    ):
        self.data_dir = data_dir
        self.workers = workers
        self.port = port or free_port()
        self.log_dir = log_dir or data_dir.parent
        # The source tree whose `strata` runs (cwd and first on PYTHONPATH): this checkout by default,
        # another checkout to compare two versions of the code in one run (bench/compare.py).
        self.source_root = (source_root or REPO_ROOT).resolve()
        self.startup_seconds = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "strata", "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--data", str(self.data_dir), "--workers", str(self.workers),
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        """The server's environment: `source_root` first on PYTHONPATH, so its `strata` is imported
        (not the editable install's)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.source_root) + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def imported_from(self) -> str:
        """Where `python -m strata` started as the server is imported from (proves which tree runs)."""
        out = subprocess.run(
            [sys.executable, "-c", "import strata; print(strata.__file__)"], cwd=self.source_root,
            env=self.environment(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    def start(self, timeout: float = 120.0) -> StrataServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"strata-{self.port}.log", "ab")  # noqa: SIM115 - owned by the child
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(), cwd=self.source_root, env=self.environment(), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        try:
            wait_http_ok(self.base + "/v1/health", timeout, self.proc)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def memory(self) -> MemorySample:
        return memory_of_tree(self.pid)


NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 10000000;
    default_type application/octet-stream;
    types {{ }}
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /health {{ return 200 "ok"; }}
{locations}
    }}
}}
"""


class Nginx(_Managed):
    """nginx with `workers` worker processes, keep-alive, access_log off, sendfile on.

    `locations` is the text of the `location` blocks (see `static_location`, `put_location`,
    `autoindex_location`).
    """

    name = "nginx"

    def __init__(self, workers: int, locations: str, prefix: Path | None = None):
        self.workers = workers
        self.port = free_port()
        self.prefix = prefix or Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self.locations = locations

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Nginx:
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        text = NGINX_CONF.format(
            workers=self.workers, prefix=self.prefix, port=self.port, locations=self.locations
        )
        conf.write_text(text)
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(conf)],
            stdout=subprocess.DEVNULL, stderr=open(self.prefix / "stderr.log", "ab"),  # noqa: SIM115
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_http_ok(self.base + "/health", timeout, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # SIGQUIT is nginx's graceful stop; the base class falls back to TERM/KILL of the group.
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        super().stop()


def static_location(url_prefix: str, directory: Path) -> str:
    """Serve `directory/<name>` at `url_prefix<name>` (the query string is ignored)."""
    return f"        location {url_prefix} {{ alias {directory}/; }}\n"


def put_location(url_prefix: str, root: Path) -> str:
    """WebDAV PUT into `root` + the URL path (nginx writes a temp file and renames it; no fsync)."""
    return (
        f"        location {url_prefix} {{\n"
        f"            root {root};\n"
        "            dav_methods PUT;\n"
        "            create_full_put_path on;\n"
        "            client_max_body_size 0;\n"
        f"            client_body_temp_path {root}/.tmp;\n"
        "        }\n"
    )


def autoindex_location(url: str, directory: Path) -> str:
    """A JSON directory listing (names, sizes, mtimes) of `directory` at `url`."""
    return f"        location = {url} {{ alias {directory}/; autoindex on; autoindex_format json; }}\n"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    bytes: int
    duration_s: float
    errors: int
    status_errors: int
    lat_p50_ms: float
    lat_p99_ms: float
    command: str
    server_cores: float = 0.0  # CPU the server's process tree used during the run, in cores
    client_cores: float = 0.0  # CPU wrk used
    foreign_cores: float = 0.0  # CPU everything else on the machine used (noise)
    server_user_s: float = 0.0  # server CPU seconds in user space during the run
    server_system_s: float = 0.0  # ... and in the kernel
    output: str = ""  # wrk's stdout (scripts may print more machine-readable lines)

    def cpu_per_request_us(self) -> tuple[float, float]:
        """Server CPU per request, (user, system) in microseconds: robust against other load."""
        n = self.requests or 1
        return self.server_user_s / n * 1e6, self.server_system_s / n * 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    def cpu_text(self) -> str:
        return (
            f"cores used: server {self.server_cores:.2f}, wrk {self.client_cores:.2f}, "
            f"others {self.foreign_cores:.2f}"
        )

    def payload_mb_s(self, object_size: int) -> float:
        """Object bytes moved per second (MB = 10^6 bytes), headers excluded."""
        return self.requests * object_size / self.duration_s / 1e6


def run_wrk(
    base_url: str,
    script: str,
    args: list[str],
    threads: int,
    connections: int,
    duration: float,
    timeout_s: int = 10,
    server_pid: int | Sequence[int] | None = None,
) -> WrkResult:
    """One wrk run; `server_pid` is the server's process (or several: their trees are summed)."""
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", f"--timeout={timeout_s}s",
        "-s", str(LUA_DIR / script), base_url, "--", *args,
    ]  # fmt: skip
    env = dict(os.environ, BENCH_LUA_DIR=str(LUA_DIR))
    before = _CpuSnapshot.take(server_pid)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 120, check=False)
    cpu = _CpuSnapshot.take(server_pid).since(before)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    d = json.loads(line[len("WRKJSON ") :])
    errors = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"]
    shown = " ".join(c if " " not in c else repr(c) for c in cmd)
    return WrkResult(
        requests=d["requests"],
        bytes=d["bytes"],
        duration_s=d["duration_us"] / 1e6,
        errors=errors,
        status_errors=d["err_status"],
        lat_p50_ms=d["lat_p50_us"] / 1e3,
        lat_p99_ms=d["lat_p99_us"] / 1e3,
        command=shown.replace(str(REPO_ROOT) + "/", ""),
        server_cores=cpu[0],
        client_cores=cpu[1],
        foreign_cores=cpu[2],
        server_user_s=cpu[3],
        server_system_s=cpu[4],
        output=out.stdout,
    )


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process tree (children reaped by its members included)."""
    user = system = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        user += int(fields[11]) + int(fields[13])  # utime + cutime
        system += int(fields[12]) + int(fields[14])  # stime + cstime
    tck = os.sysconf("SC_CLK_TCK")
    return user / tck, system / tck


@dataclass(frozen=True)
class _CpuSnapshot:
    wall: float
    machine_busy: float  # seconds of CPU busy over all cores
    server_user: float
    server_system: float
    children: float  # this process's reaped children (wrk)
    me: float

    @staticmethod
    def take(server_pid: int | Sequence[int] | None) -> _CpuSnapshot:
        total, idle = _cpu_times()
        tck = os.sysconf("SC_CLK_TCK")
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        pids = [server_pid] if isinstance(server_pid, int) else list(server_pid or ())
        user = system = 0.0
        for pid in pids:
            u, s = tree_cpu_seconds(pid)
            user, system = user + u, system + s
        return _CpuSnapshot(
            wall=time.monotonic(),
            machine_busy=(total - idle) / tck,
            server_user=user,
            server_system=system,
            children=ch.ru_utime + ch.ru_stime,
            me=me.ru_utime + me.ru_stime,
        )

    def since(self, before: _CpuSnapshot) -> tuple[float, float, float, float, float]:
        """(server, client, foreign) in cores over the interval, then server (user, system) seconds."""
        wall = self.wall - before.wall or 1.0
        user = self.server_user - before.server_user
        system = self.server_system - before.server_system
        server = user + system
        client = self.children - before.children
        me = self.me - before.me
        foreign = (self.machine_busy - before.machine_busy) - server - client - me
        return server / wall, client / wall, max(foreign, 0.0) / wall, user, system


@dataclass(frozen=True)
class CpuSplit:
    """Cores used over an interval by the servers, the client, and everything else (noise)."""

    seconds: float
    server_cores: float
    client_cores: float  # this process (an in-process client) and its reaped children
    foreign_cores: float
    server_user_s: float
    server_system_s: float

    def text(self) -> str:
        return (
            f"cores used: server {self.server_cores:.2f}, client {self.client_cores:.2f}, "
            f"others {self.foreign_cores:.2f}"
        )


class CpuMeter:
    """The CPU split of a load that is not wrk: an in-process client (Python threads) against servers.

    ``with CpuMeter(pids) as m: ...`` then ``m.split``; the server side is the sum of the process
    trees of ``pids``.
    """

    def __init__(self, server_pids: Sequence[int]):
        self.server_pids = list(server_pids)
        self._before: _CpuSnapshot | None = None
        self.split: CpuSplit | None = None

    def __enter__(self) -> CpuMeter:
        self._before = _CpuSnapshot.take(self.server_pids)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._before is not None
        after = _CpuSnapshot.take(self.server_pids)
        b = self._before
        wall = after.wall - b.wall or 1.0
        user = after.server_user - b.server_user
        system = after.server_system - b.server_system
        client = (after.me - b.me) + (after.children - b.children)
        foreign = (after.machine_busy - b.machine_busy) - user - system - client
        self.split = CpuSplit(
            wall, (user + system) / wall, client / wall, max(foreign, 0.0) / wall, user, system
        )


def warm_page_cache(paths: list[Path]) -> int:
    """Read every file once so it sits in the page cache; returns bytes read."""
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
    return total


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields), idle


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over `seconds` (before a run: load the benchmark does not own)."""
    total0, idle0 = _cpu_times()
    time.sleep(seconds)
    total1, idle1 = _cpu_times()
    dt = total1 - total0
    return 1.0 - (idle1 - idle0) / dt if dt else 0.0
