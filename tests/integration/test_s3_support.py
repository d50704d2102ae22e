"""Shared pieces of the S3 tests (no tests here): a server with S3 users, clients, a raw SigV4 signer.

Each S3 test module binds ``s3_server`` as its own module-scoped fixture:

    s3_server = pytest.fixture(scope="module", name="s3_server")(support.s3_server)

The raw signer is written from AWS's documentation, independently of the server's code, so the
``aws-chunked`` tests check the server against the spec rather than against itself.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
from botocore.config import Config

from .server import StrataServer

USERS = {
    "alice": {"access_key": "AKIAALICE0000000", "secret_key": "alice-secret-key"},
    "bob": {"access_key": "AKIABOB000000000", "secret_key": "bob-secret-key"},
    "root": {"access_key": "AKIAROOT00000000", "secret_key": "root-secret-key", "admin": True},
}
REGION = "us-east-1"
DOMAIN = "s3.strata.test"


def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    """A server whose config has three S3 users and a virtual-host domain."""
    base = tmp_path_factory.mktemp("s3-server")
    config = base / "config.json"
    config.write_text(json.dumps({"s3": {"users": USERS, "virtual_host_domain": DOMAIN}}))
    srv = StrataServer(base / "data", base / "server.log", config_path=config).start()
    yield srv
    srv.stop()


def client(server: StrataServer, user: str = "alice", **config: Any) -> Any:
    """boto3 with path-style addressing at ``/s3``, retries off (an error reaches the test as it came)."""
    keys = USERS[user]
    return boto3.client(
        "s3",
        endpoint_url=f"{server.endpoint}/s3",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=keys["secret_key"],
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


def new_bucket(s3: Any, stem: str = "b") -> str:
    name = f"{stem}-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def error_code(exc: Any) -> str:
    return str(exc.response["Error"]["Code"])


# -- a raw SigV4 signer (AWS docs: "Signature Version 4 signing process", "aws-chunked") --------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (REGION, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def sign_headers(
    method: str,
    url_path: str,
    host: str,
    headers: dict[str, str],
    payload: str,
    user: str = "alice",
    when: datetime.datetime | None = None,
    query: str = "",
) -> tuple[dict[str, str], bytes, str, str]:
    """Headers with ``Authorization``; also the signing key, the scope and the seed signature."""
    keys = USERS[user]
    now = when or datetime.datetime.now(datetime.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    all_headers = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload, **headers}
    names = sorted(k.lower() for k in all_headers)
    canonical_headers = "".join(f"{n}:{all_headers[n].strip()}\n" for n in names)
    canonical = "\n".join([method, url_path, query, canonical_headers, ";".join(names), payload])
    scope = f"{date}/{REGION}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = signing_key(keys["secret_key"], date)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    all_headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={keys['access_key']}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return all_headers, key, f"{amz_date}\n{scope}", signature


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def aws_chunked_signed(
    data: bytes, chunk: int, key: bytes, date_scope: str, seed: str, *, tamper: bool = False
) -> bytes:
    """``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` framing with chained chunk signatures."""
    out = bytearray()
    previous = seed
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for index, piece in enumerate(pieces):
        to_sign = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{date_scope}\n{previous}\n{EMPTY_SHA256}\n"
            f"{hashlib.sha256(piece).hexdigest()}"
        )
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        sent = piece
        if tamper and index == 0:
            sent = bytes([piece[0] ^ 1]) + piece[1:]
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
    return bytes(out)


def aws_chunked_unsigned(data: bytes, chunk: int, trailers: dict[str, str]) -> bytes:
    """``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` framing, as boto3 sends it over HTTPS."""
    out = bytearray()
    for i in range(0, len(data), chunk):
        piece = data[i : i + chunk]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n"
    for name, value in trailers.items():
        out += f"{name}:{value}\r\n".encode()
    return bytes(out + b"\r\n")


def raw_put(
    server: StrataServer, path: str, body: bytes, headers: dict[str, str], payload: str, user: str = "alice"
) -> requests.Response:
    host = server.endpoint.removeprefix("http://")
    signed, *_ = sign_headers("PUT", quote(path), host, headers, payload, user)
    return requests.put(server.endpoint + quote(path), data=body, headers=signed, timeout=30)


def write(path: Path, size: int, seed: int = 0) -> bytes:
    data = bytes((i * 31 + seed) & 0xFF for i in range(251)) * (size // 251 + 1)
    data = data[:size]
    path.write_bytes(data)
    return data
