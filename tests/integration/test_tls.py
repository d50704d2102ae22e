"""HTTPS (net.http.use_https): the SDK works over TLS, large bodies included (no sendfile under TLS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from aistore.sdk import Client

from .server import StrataServer

pytestmark = pytest.mark.timeout(120)


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
    urllib3.disable_warnings()
    server = StrataServer(tmp_path / "data", tmp_path / "server.log", config_path=config, https=True).start()
    try:
        yield server.endpoint
    finally:
        server.stop()


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
