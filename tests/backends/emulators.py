"""Real emulators of the cloud providers, started and stopped by the backend tests.

- ``MotoServer``: moto's S3 server (pip ``moto[server]``) with IAM credentials enforced, so refused
  credentials are a real 403 (``INITIAL_NO_AUTH_ACTION_COUNT``: the first three calls create the user,
  its policy and its key; every later call must be signed with that key).
- ``GcsEmulator``: ``gcp-storage-emulator`` (pip), in memory. It accepts any credentials and ignores
  ``maxResults``/``pageToken`` (one page holds everything), which the tests that care say.
- ``Azurite``: Microsoft's Azure Storage emulator (npm ``azurite``), blob service only, in memory, with
  shared-key auth enforced and telemetry off (it must not reach the network). Installed on first use
  into ``~/.cache/strata-test/azurite`` with npm; the tests skip, saying why, only if npm cannot.
- ``HttpOrigin``: a threaded ``http.server`` over a directory for ``ht://``; paths under ``/ranged/``
  honour ``Range`` (206), others ignore it as the stock handler does; ``/nohead/`` refuses HEAD (405);
  ``/private/`` answers 403.

Each process runs in its own session and is stopped with SIGTERM, then SIGKILL for the whole group, and
waited for, so no emulator outlives the tests. Output goes to a log file whose tail is shown when a
start fails.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from tests.integration.server import free_port

START_TIMEOUT_S = 60.0
AZURITE_VERSION = "3.37.0"
AZURITE_HOME = Path.home() / ".cache" / "strata-test" / "azurite"
AZURITE_ACCOUNT = "devstoreaccount1"
# azurite's well-known development key (public, in Microsoft's documentation)
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class EmulatorUnavailable(RuntimeError):
    """The emulator cannot be installed here (the tests skip with this message)."""


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmulatorProcess:
    """One emulator process: started in its own session, ready when its port accepts connections."""

    name = "emulator"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> EmulatorProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"{self.name} exited with code {code}:\n{self.output()}")
            if port_open(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not listen on :{self.port} in {START_TIMEOUT_S:.0f}s:\n{self.output()}"
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # anything the emulator forked goes too
        process.wait()

    def output(self, max_chars: int = 5000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return text[-max_chars:]


class MotoServer(EmulatorProcess):
    """moto's S3 server; ``access_key``/``secret_key`` are the only credentials it accepts, also written
    as profile ``strata-test`` in ``config_dir`` (the way ``AIS_S3_CONFIG_DIR`` gives them)."""

    name = "moto"
    region = "us-east-1"
    profile = "strata-test"  # in ``config_dir``; a ``refused`` profile has the wrong secret

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  # the three IAM calls of start(); then auth is enforced
        return env

    def start(self) -> MotoServer:
        super().start()
        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        try:
            iam.create_user(UserName="strata")
            policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
            iam.put_user_policy(UserName="strata", PolicyName="everything", PolicyDocument=policy)
            key = iam.create_access_key(UserName="strata")["AccessKey"]
        finally:
            iam.close()
        self.access_key = str(key["AccessKeyId"])
        self.secret_key = str(key["SecretAccessKey"])
        self.config_dir = self.workdir / "aws"  # AIS_S3_CONFIG_DIR shape: ``config`` + ``credentials``
        self.config_dir.mkdir(exist_ok=True)
        (self.config_dir / "credentials").write_text(
            f"[{self.profile}]\naws_access_key_id = {self.access_key}\n"
            f"aws_secret_access_key = {self.secret_key}\n"
            f"[refused]\naws_access_key_id = {self.access_key}\naws_secret_access_key = not-the-secret\n"
        )
        (self.config_dir / "config").write_text(
            f"[profile {self.profile}]\nregion = {self.region}\n[profile refused]\nregion = {self.region}\n"
        )
        return self

    def s3(self, **overrides: Any) -> Any:
        """A boto3 S3 client of the test itself (to create buckets, write out of band)."""
        options = {
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            **overrides,
        }
        return boto3.client("s3", **options)


class GcsEmulator(EmulatorProcess):
    name = "gcp-storage-emulator"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "gcp_storage_emulator", "start",
            "--host", "127.0.0.1", "--port", str(self.port), "--in-memory",
        ]  # fmt: skip


def azurite_binary() -> Path:
    """``azurite-blob`` from the cache directory, installed there with npm when missing."""
    binary = AZURITE_HOME / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise EmulatorUnavailable("azurite needs npm (and node), which this machine does not have")
    AZURITE_HOME.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(AZURITE_HOME),
            "--no-audit",
            "--no-fund",
            f"azurite@{AZURITE_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0 or not binary.exists():
        raise EmulatorUnavailable(f"npm could not install azurite@{AZURITE_VERSION}: {result.stderr[-2000:]}")
    return binary


class Azurite(EmulatorProcess):
    name = "azurite"

    def command(self) -> list[str]:
        return [
            str(azurite_binary()),
            "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
            "--inMemoryPersistence", "--extentMemoryLimit", "512",
            "--disableTelemetry", "--silent", "--skipApiVersionCheck",
        ]  # fmt: skip

    @property
    def account_url(self) -> str:
        return f"{self.endpoint}/{AZURITE_ACCOUNT}"

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.account_url};"
        )


class _OriginHandler(http.server.SimpleHTTPRequestHandler):
    """The stock static-file handler, plus the origin behaviours ``HttpOrigin`` documents."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
        pass

    def do_HEAD(self) -> None:
        if self.path.startswith("/nohead/"):
            self.send_error(405)
            return
        if self.path.startswith("/private/"):
            self.send_error(403)
            return
        super().do_HEAD()

    def do_GET(self) -> None:
        if self.path.startswith("/private/"):
            self.send_error(403)
            return
        header = self.headers.get("Range", "")
        if not (self.path.startswith("/ranged/") and header.startswith("bytes=")):
            super().do_GET()
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        first_text, _, last_text = header.removeprefix("bytes=").partition("-")
        first = int(first_text)
        last = min(int(last_text) if last_text else len(data) - 1, len(data) - 1)
        if first >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Last-Modified", self.date_time_string(int(path.stat().st_mtime)))
        self.end_headers()
        self.wfile.write(data[first : last + 1])


class _OriginServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stops reading early (a range cut from a 200) is normal here, not news."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HttpOrigin:
    """A static HTTP origin in a thread of the test process, serving ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler: Callable[..., _OriginHandler] = lambda *args, **kwargs: _OriginHandler(  # noqa: E731
            *args, directory=str(root), **kwargs
        )
        self.server = _OriginServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="http-origin", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpOrigin:
        self.root.mkdir(parents=True, exist_ok=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class SilentPort:
    """A port that accepts connections (the kernel's backlog) and never answers: reads time out."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = int(self.socket.getsockname()[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.socket.close()
