"""A real ``strata serve`` process for the integration tier.

``StrataServer`` starts the server on a free 127.0.0.1 port with its own data directory, waits until
``GET /v1/health`` answers 200, and stops it with SIGTERM (clean shutdown) or SIGKILL (crash). The
server's stdout and stderr go to a log file next to the data directory, so a test failure can show
what the server said (see ``conftest.py``).

The server runs in its own session (process group): ``kill()`` SIGKILLs the whole group, so a crash
takes the worker processes down with the parent, as a power loss would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class ServerStartError(RuntimeError):
    """The server process exited, or did not become healthy in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class StrataServer:
    """One ``python -m strata serve`` process; restartable on the same data directory."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        port: int | None = None,
        workers: int | None = None,
        mountpaths: Sequence[Path] = (),
        config_path: Path | None = None,
        https: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = env or {}  # added to the environment (backend endpoints and credentials)
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.workers = workers
        self.mountpaths = list(mountpaths)
        self.config_path = config_path
        self.https = https  # the config turns TLS on; health is then checked without verifying the cert
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "strata", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--data", str(self.data_dir)]
        for mountpath in self.mountpaths:
            cmd += ["--mountpath", str(mountpath)]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        return cmd

    def start(self) -> StrataServer:
        """Start the process and wait until it is healthy; fail fast if it exits."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for mountpath in self.mountpaths:
            mountpath.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"\n==== start: {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last_problem = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ServerStartError(
                    f"strata serve exited with code {code} before becoming healthy.\n"
                    f"command: {' '.join(self.command())}\n--- server output ---\n{self.output()}"
                )
            try:
                resp = requests.get(f"{self.endpoint}/v1/health", timeout=1.0, verify=not self.https)
                if resp.status_code == 200:
                    return
                last_problem = f"GET /v1/health -> {resp.status_code} {resp.text[:200]!r}"
            except requests.RequestException as err:
                last_problem = f"GET /v1/health -> {type(err).__name__}"
            time.sleep(0.05)
        self.kill()
        raise ServerStartError(
            f"strata serve did not become healthy within {HEALTH_TIMEOUT_S:.0f}s ({last_problem}).\n"
            f"command: {' '.join(self.command())}\n--- server output ---\n{self.output()}"
        )

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM and wait for a clean exit; returns the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        proc = self.process
        code: int | None = proc.poll()
        if code is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = None
        self._kill_group()
        proc.wait()
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL the whole process group at once, like a crash."""
        if self.process is None:
            return
        self._kill_group()
        self.process.wait()
        self.process = None

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def restart(self) -> StrataServer:
        """Clean stop, then start again on the same port and data."""
        self.stop()
        self._wait_port_free()
        return self.start()

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def output(self, max_chars: int = 20_000) -> str:
        """The server's output since the last start (tail)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return text if len(text) <= max_chars else "...\n" + text[-max_chars:]

    def full_output(self, max_chars: int = 20_000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return text if len(text) <= max_chars else "...\n" + text[-max_chars:]
