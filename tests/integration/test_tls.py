"""HTTPS (net.http.use_https): the SDK works over TLS, large bodies included (no sendfile under TLS)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from aistore.sdk import Client

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[str]:
    crt, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
    )
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"net": {"http": {"use_https": True, "server_crt": str(crt), "server_key": str(key)}}})
    )
    port = _free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "strata",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            str(tmp_path / "data"),
            "--config",
            str(config),
        ],
        stdout=log,
        stderr=log,
    )
    url = f"https://127.0.0.1:{port}"
    urllib3.disable_warnings()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/v1/health", verify=False, timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::urllib3.exceptions.InsecureRequestWarning")
def test_sdk_over_https(tls_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override a session's verify=False: clear them for the test
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    client = Client(tls_server, skip_verify=True)
    bucket = client.bucket("tls").create()
    small, large = b"s" * 1000, os.urandom(3 * 1024 * 1024)
    bucket.object("small").get_writer().put_content(small)
    bucket.object("large").get_writer().put_content(large)
    assert bucket.object("small").get_reader().read_all() == small
    assert (
        bucket.object("large").get_reader().read_all() == large
    )  # would be garbage if sendfile bypassed TLS
    assert bucket.object("large").get_reader(byte_range="bytes=100-2000099").read_all() == large[100:2000100]
    smap = client.cluster().get_info()
    assert next(iter(smap.tmap.values())).public_net.direct_url.startswith("https://")
    assert bucket.object("large").get_reader(direct=True).read_all() == large


def test_bad_tls_config_fails_fast(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"net": {"http": {"use_https": True, "server_crt": "/nope.crt", "server_key": "/nope"}}})
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "strata",
            "serve",
            "--port",
            "0",
            "--data",
            str(tmp_path / "d"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "server_crt" in done.stderr
