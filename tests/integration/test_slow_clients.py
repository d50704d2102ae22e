"""Slowloris: connections that hold a worker's socket without using it are cut; real work never is.

The server runs with ``net.http.server_read_header_time`` = 1 s (a request's line and headers must be
in within it) and ``net.http.server_idle_conn_time`` = 3 s (a kept-alive connection with no request
started). Raw sockets play the bad clients; ``http.client``, ``requests`` and the official SDK the good
ones, including a body that trickles in and a response read slowly, both for longer than either limit.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest
import requests

from .conftest import _register
from .helpers import fast_client, pattern
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

HEADER_S = 1.0
IDLE_S = 3.0
SLACK_S = 3.0  # a busy 2-core box may run the server's timer late, never early
CONFIG = {"net": {"http": {"server_read_header_time": "1s", "server_idle_conn_time": "3s"}}}
HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    base = tmp_path_factory.mktemp("slow-clients")
    config = base / "config.json"
    config.write_text(json.dumps(CONFIG))
    srv = StrataServer(base / "data", base / "server.log", workers=1, config_path=config).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _attach_output(request: pytest.FixtureRequest, slow_server: StrataServer) -> None:
    _register(request.node, slow_server)


def connect(srv: StrataServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=HEADER_S + IDLE_S + SLACK_S)


def wait_closed(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Read until the server closes; the seconds that took and whatever it sent before closing."""
    start = time.monotonic()
    received = b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for over {limit:.0f} s (got {received!r})")
    return time.monotonic() - start, received


def read_response(sock: socket.socket) -> bytes:
    """One complete response with a Content-Length body, read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line[15:]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_connection_that_sends_nothing_is_closed(slow_server: StrataServer) -> None:
    with connect(slow_server) as sock:
        elapsed, received = wait_closed(sock, HEADER_S + SLACK_S)
    assert received == b""
    assert elapsed >= HEADER_S * 0.8, f"closed after {elapsed:.2f} s, before the limit"


def test_half_a_header_block_is_closed(slow_server: StrataServer) -> None:
    with connect(slow_server) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        elapsed, received = wait_closed(sock, HEADER_S + SLACK_S)
    assert received == b""
    assert elapsed >= HEADER_S * 0.8


def test_trickled_header_does_not_extend_the_deadline(slow_server: StrataServer) -> None:
    """The classic slowloris: a header byte every 200 ms keeps the head 'in progress' forever."""
    request = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"
    with connect(slow_server) as sock:
        start = time.monotonic()
        for i in range(len(request)):
            try:
                sock.send(request[i : i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable and sock.recv(65536) == b"":
                break
        elapsed = time.monotonic() - start
    assert elapsed < HEADER_S + SLACK_S, f"a trickling header held the connection for {elapsed:.1f} s"


def test_kept_alive_connection_serves_past_the_header_limit_then_idles_out(
    slow_server: StrataServer,
) -> None:
    conn = HTTPConnection("127.0.0.1", slow_server.port, timeout=10)
    try:
        for _ in range(3):  # each pause is longer than the header limit, shorter than the idle one
            conn.request("GET", "/v1/health")
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
            time.sleep(HEADER_S * 1.5)
        conn.request("GET", "/v1/health")
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
        assert conn.sock is not None
        elapsed, received = wait_closed(conn.sock, IDLE_S + SLACK_S)
    finally:
        conn.close()
    assert received == b""
    assert elapsed >= IDLE_S * 0.8, f"an idle kept-alive connection was closed after {elapsed:.2f} s"


def test_clients_reconnect_after_an_idle_close(slow_server: StrataServer, tmp_path: Path) -> None:
    """The SDK's and requests' pools notice the closed connection and open a new one: no error."""
    client = fast_client(slow_server.endpoint)
    bucket = client.bucket("idle-pool").create(exist_ok=True)
    bucket.object("a").get_writer().put_content(b"first")
    with requests.Session() as session:
        assert session.get(f"{slow_server.endpoint}/v1/health", timeout=10).status_code == 200
        time.sleep(IDLE_S + 1.0)
        assert session.get(f"{slow_server.endpoint}/v1/health", timeout=10).status_code == 200
    bucket.object("b").get_writer().put_content(b"second")
    assert bucket.object("a").get_reader().read_all() == b"first"
    assert bucket.object("b").get_reader().read_all() == b"second"


def test_slow_body_upload_is_not_cut(slow_server: StrataServer) -> None:
    """A PUT whose body trickles in for longer than both limits completes."""
    fast_client(slow_server.endpoint).bucket("slow-put").create(exist_ok=True)
    chunks = [pattern(f"chunk{i}", 4096) for i in range(8)]
    body = b"".join(chunks)
    head = (
        f"PUT /v1/objects/slow-put/obj?provider=ais HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    with connect(slow_server) as sock:
        sock.sendall(head)
        start = time.monotonic()
        for chunk in chunks:
            time.sleep(0.6)
            sock.sendall(chunk)
        assert time.monotonic() - start > IDLE_S + HEADER_S
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200"), response[:300]
    got = fast_client(slow_server.endpoint).bucket("slow-put").object("obj").get_reader().read_all()
    assert got == body


def test_slowly_read_response_is_not_cut(slow_server: StrataServer) -> None:
    """A GET whose client reads for longer than both limits gets every byte."""
    size = 32 * 1024 * 1024
    data = pattern("big", size)
    bucket = fast_client(slow_server.endpoint).bucket("slow-get").create(exist_ok=True)
    bucket.object("big").get_writer().put_content(data)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # the server's send stays blocked
    sock.settimeout(30)
    with sock:
        sock.connect(("127.0.0.1", slow_server.port))
        sock.sendall(b"GET /v1/objects/slow-get/big?provider=ais HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        start = time.monotonic()
        received = bytearray()
        next_pause = 1 << 20
        while True:
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            received += chunk
            if len(received) >= next_pause:
                next_pause += 1 << 20
                time.sleep(0.13)
            if b"\r\n\r\n" in received[:4096] and len(received) - received.index(b"\r\n\r\n") - 4 >= size:
                break
        elapsed = time.monotonic() - start
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:300]
    assert elapsed > IDLE_S + HEADER_S
    assert len(body) == size and body == data
