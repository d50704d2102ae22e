"""The peer client: the HTTP implementation against a local ``http.server`` (timeouts from the cluster
config, unreachable peers, pool reuse per process, TLS settings, streamed bodies) and the in-process
``FakePeerClient`` (fan-out, recorded calls, nodes marked down), with GetBatch's routing over it."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import ssl
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from strata.cluster.peers import (
    CallKind,
    FakePeerClient,
    HttpPeerClient,
    PeerCall,
    PeerResponse,
    timeouts,
)
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.config.cluster import ClusterConfig
from strata.core.errors import PeerUnreachable, ServiceUnavailable
from strata.core.names import BucketRef
from strata.getbatch.assembler import Assembler, SoftErrorLimit
from strata.getbatch.model import Entry, MossIn, MossReq, plan_request
from strata.getbatch.remote import RoutingSource
from strata.getbatch.sources import Payload
from strata.s3.errors import to_s3_error

BCK = BucketRef.parse("b")


def _config(**timeout: float) -> ClusterConfig:
    base = ClusterConfig()
    return msgspec.structs.replace(base, timeout=msgspec.structs.replace(base.timeout, **timeout))


def _with_http(config: ClusterConfig, **http: Any) -> ClusterConfig:
    net = msgspec.structs.replace(config.net, http=msgspec.structs.replace(config.net.http, **http))
    return msgspec.structs.replace(config, net=net)


# -- a tiny peer --------------------------------------------------------------------------------


class _Peer(BaseHTTPRequestHandler):
    """Answers by path: /echo (method, query, body), /sleep?s=N, /broken (cut mid-body), /port."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[int, str, dict[str, str], bytes]]

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _answer(self, status: int, body: bytes, extra: str = "") -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
        self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stall between head and body

    def _handle(self) -> None:
        body = self._body()
        path, _, query = self.path.partition("?")
        self.seen.append((self.client_address[1], self.path, dict(self.headers.items()), body))
        if path == "/sleep":
            time.sleep(float(query.split("=")[1]))
            self._answer(200, b"slept")
        elif path == "/broken":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
            self.wfile.flush()
            self.close_connection = True
        elif path == "/headers":
            self._answer(200, b"", "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n")
        else:
            reply = msgspec.json.encode(
                {"method": self.command, "query": query, "body": body.decode("latin-1")}
            )
            self._answer(200 if path == "/echo" else 404, reply, "Content-Type: application/json\r\n")

    do_GET = do_PUT = do_POST = do_DELETE = _handle

    def do_HEAD(self) -> None:
        self.seen.append((self.client_address[1], self.path, dict(self.headers.items()), b""))
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server:
    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        handler = type("Handler", (_Peer,), {"seen": []})
        self.seen: list[tuple[int, str, dict[str, str], bytes]] = handler.seen
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def node(self, node_id: str = "t1", scheme: str = "http") -> NodeInfo:
        return NodeInfo(node_id, "target", "127.0.0.1", self.port, scheme=scheme)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    peer = _Server()
    yield peer
    peer.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- over HTTP ------------------------------------------------------------------------------------


def test_calls_reuse_one_pool_and_its_connections(server: _Server) -> None:
    client = HttpPeerClient(_config)
    node = server.node()
    first = client.request("GET", node, "/echo", query={"provider": "ais", "prefix": "a b"})
    assert first.status == 200 and first.node_id == "t1"
    assert first.json() == {"method": "GET", "query": "provider=ais&prefix=a+b", "body": ""}
    sent = client.request_json("POST", node, "/echo", {"action": "list"}, query="raw=1&x")
    assert sent.json() == {"method": "POST", "query": "raw=1&x", "body": '{"action":"list"}'}
    assert client.request("GET", node, "/missing").status == 404  # an answer, not an error
    ports = {port for port, *_ in server.seen}
    assert len(ports) == 1  # one keep-alive connection served all three
    assert client.pools_made == 1
    assert server.seen[1][2]["Content-Type"] == "application/json"


def test_a_streamed_answer_frees_its_connection_when_read_through(server: _Server) -> None:
    client = HttpPeerClient(_config)
    node = server.node()
    assert b"".join(client.request("GET", node, "/echo", stream=True).iter_chunks(3)).startswith(b"{")
    assert client.request("GET", node, "/echo", stream=True).content.startswith(b"{")
    with client.request("GET", node, "/echo", stream=True) as partial:
        partial.read(2)  # left unread: its connection cannot be reused and is closed
    client.request("GET", node, "/echo")
    first, second, third, fourth = (port for port, *_ in server.seen)
    assert first == second == third != fourth


def test_repeated_headers_stay_separate_lines(server: _Server) -> None:
    answer = HttpPeerClient(_config).request("GET", server.node(), "/headers")
    cookies = [value for name, value in answer.header_items() if name.lower() == "set-cookie"]
    assert cookies == ["a=1", "b=2"]


def test_read_timeout_comes_from_the_config_by_kind_of_call(server: _Server) -> None:
    config = _config(max_host_busy=0.2)
    client = HttpPeerClient(lambda: config)
    node = server.node()
    started = time.monotonic()
    with pytest.raises(PeerUnreachable) as info:
        client.request("GET", node, "/sleep", query="s=1.5", kind=CallKind.CONTROL)
    assert time.monotonic() - started < 1.2
    assert info.value.node_id == "t1" and info.value.status == 503
    assert "ReadTimeoutError" in info.value.message
    # a data call has timeout.send_file_time, and a caller may set its own bound
    assert client.request("GET", node, "/sleep", query="s=0.4", kind=CallKind.DATA).content == b"slept"
    with pytest.raises(PeerUnreachable):
        client.request("GET", node, "/sleep", query="s=1.5", kind=CallKind.DATA, read_timeout=0.2)
    assert timeouts(config, CallKind.PROBE) == (2.0, 2.0)
    assert timeouts(config, CallKind.CONTROL) == (5.0, 0.2)
    assert timeouts(config, CallKind.LIST) == (5.0, config.client.list_timeout)
    assert timeouts(config, CallKind.DATA) == (5.0, config.timeout.send_file_time)


def test_a_node_that_does_not_listen_is_unreachable_never_not_found() -> None:
    node = NodeInfo("gone", "target", "127.0.0.1", _closed_port())
    with pytest.raises(PeerUnreachable) as info:
        HttpPeerClient(_config).request("HEAD", node, "/v1/objects/b/o", kind=CallKind.PROBE)
    assert isinstance(info.value, ServiceUnavailable) and info.value.status == 503
    assert info.value.node_id == "gone" and "gone" in info.value.message
    s3 = to_s3_error(info.value)
    assert (s3.code, s3.status) == ("ServiceUnavailable", 503)


def test_an_answer_broken_off_mid_body_is_unreachable(server: _Server) -> None:
    client = HttpPeerClient(_config)
    with pytest.raises(PeerUnreachable):
        client.request("GET", server.node(), "/broken")  # read whole before returning
    streamed = client.request("GET", server.node(), "/broken", stream=True)
    assert streamed.status == 200
    with pytest.raises(PeerUnreachable):
        list(streamed.iter_chunks(4096))


def test_streamed_bodies_go_out_sized_or_chunked(server: _Server) -> None:
    client = HttpPeerClient(_config)
    data = os.urandom(300_000)
    sized = client.request(
        "PUT",
        server.node(),
        "/echo",
        headers={"Content-Length": str(len(data))},
        body=io.BytesIO(data),
        kind=CallKind.DATA,
    )
    assert sized.status == 200
    chunked = client.request("PUT", server.node(), "/echo", body=iter([b"ab", b"cd"]))
    assert chunked.json()["body"] == "abcd"
    (_, _, sized_headers, sized_body), (_, _, chunked_headers, _) = server.seen
    assert sized_body == data and "Transfer-Encoding" not in sized_headers
    assert chunked_headers["Transfer-Encoding"] == "chunked"


def test_a_forked_process_makes_its_own_pool(server: _Server) -> None:
    client = HttpPeerClient(_config)
    assert client.request("GET", server.node(), "/echo").status == 200
    pid = os.fork()
    if pid == 0:  # the child: the inherited pool's sockets are the parent's, never used here
        try:
            ok = client.request("GET", server.node(), "/echo").status == 200 and client.pools_made == 2
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.request("GET", server.node(), "/echo").status == 200
    assert client.pools_made == 1
    parent, child, parent_again = (port for port, *_ in server.seen)
    assert parent == parent_again != child


def test_tls_settings_come_from_the_config(tmp_path: Path) -> None:
    crt, key = tmp_path / "node.crt", tmp_path / "node.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=node",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    peer = _Server(context)
    try:
        node = peer.node(scheme="https")
        config = _config()
        client = HttpPeerClient(lambda: config)
        with pytest.raises(PeerUnreachable, match="SSL"):  # verified against the system's CAs
            client.request("GET", node, "/echo")
        config = _with_http(config, client_ca_tls=str(crt))  # the CA that signs the nodes
        assert client.request("GET", node, "/echo").status == 200
        config = _with_http(_config(), skip_verify=True)
        assert client.request("GET", node, "/echo").status == 200
        assert client.pools_made == 3  # each change of TLS settings made a new pool
    finally:
        peer.close()


# -- the fake and fan-out -------------------------------------------------------------------------


def _targets(*ids: str) -> list[NodeInfo]:
    return [NodeInfo(i, "target", "127.0.0.1", 1) for i in ids]


def test_fan_out_runs_concurrently_and_keys_answers_by_node() -> None:
    fake = FakePeerClient()
    nodes = _targets("a", "b", "c")
    barrier = threading.Barrier(3, timeout=5)  # passes only if all three calls run at once

    def handler(call: PeerCall) -> PeerResponse:
        barrier.wait()
        return PeerResponse.of_json(
            200, {"node": call.node_id, "query": call.query, "body": call.body.decode()}
        )

    for node in nodes:
        fake.serve(node.id, handler)
    answers = asyncio.run(fake.fan_out("GET", nodes, "/v1/x", query={"what": "y"}, body=b"hi"))
    assert list(answers) == ["a", "b", "c"]
    assert [a.json() for a in answers.values()] == [
        {"node": n, "query": "what=y", "body": "hi"} for n in ("a", "b", "c")
    ]
    assert sorted(c.node_id for c in fake.calls) == ["a", "b", "c"]
    assert fake.map(lambda n: n.id * 2, nodes) == ["aa", "bb", "cc"]


def test_fan_out_with_a_node_down_raises_peer_unreachable() -> None:
    fake = FakePeerClient()
    nodes = _targets("a", "b")
    for node in nodes:
        fake.serve(node.id, lambda call: PeerResponse.of(200, b"ok"))
    fake.set_unreachable("b")
    with pytest.raises(PeerUnreachable) as info:
        asyncio.run(fake.fan_out("GET", nodes, "/v1/x"))
    assert info.value.node_id == "b" and info.value.status == 503
    fake.set_unreachable("b", False)
    assert len(asyncio.run(fake.fan_out("GET", nodes, "/v1/x"))) == 2


# -- GetBatch over the fake: an owner that is down ---------------------------------------------------


class _Local:
    def fetch(self, entry: Entry) -> Payload:
        data = entry.name.encode()
        return Payload(len(data), data, False, None)

    def warm(self, entry: Entry) -> None:
        pass

    def close(self) -> None:
        pass


def _names_owned(cmap: ClusterMap, owner: str, count: int) -> list[str]:
    names = (f"o{i}" for i in range(10_000))
    return [n for n in names if (t := cmap.target_for(BCK, n)) is not None and t.id == owner][:count]


def _batch(fake: FakePeerClient, names: list[str], cmap: ClusterMap, *, coer: bool) -> list[str]:
    plan = plan_request(MossReq(entries=[MossIn(objname=n) for n in names], coer=coer), BCK)
    source = RoutingSource(_Local(), plan.entries, lambda: cmap, "me", max_wait=1.0, peers=fake)  # type: ignore[arg-type]
    items = Assembler(plan, source, max_soft_errs=1, keep_metadata=False).items()
    data = b"".join(item for item in items if isinstance(item, bytes))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.name for m in tf]


def test_getbatch_entries_of_a_down_owner_are_soft_errors_with_coer_and_503_without() -> None:
    cmap = ClusterMap(1, "u", _targets("me", "down", "spare"), {})
    mine, lost = _names_owned(cmap, "me", 1), _names_owned(cmap, "down", 2)
    fake = FakePeerClient()
    fake.set_unreachable("down")
    held: set[str] = set()

    def spare(call: PeerCall) -> PeerResponse:  # a neighbour: holds what ``held`` names
        name = call.path.rsplit("/", 1)[1]
        if name not in held:
            return PeerResponse.of(404)
        return PeerResponse.of(200, b"" if call.method == "HEAD" else name.encode() + b"!")

    fake.serve("me", lambda call: PeerResponse.of(404))
    fake.serve("spare", spare)
    # with coer: the down owner's entry is a soft error, the batch goes on
    assert _batch(fake, [mine[0], lost[0]], cmap, coer=True) == [f"b/{mine[0]}", f"__404__/b/{lost[0]}"]
    # without coer: 503, never 404 (the object may exist on the target that is down)
    with pytest.raises(PeerUnreachable) as info:
        _batch(fake, [mine[0], lost[0]], cmap, coer=False)
    assert info.value.status == 503 and info.value.node_id == "down"
    # past max_soft_errs the request fails with the last soft error's 503
    with pytest.raises(SoftErrorLimit) as limit:
        _batch(fake, lost, cmap, coer=True)
    assert limit.value.status == 503
    # get-from-neighbour: a neighbour that holds the entry serves it
    held.add(lost[0])
    assert _batch(fake, [lost[0]], cmap, coer=False) == [f"b/{lost[0]}"]
    probes = [c for c in fake.calls if c.method == "HEAD"]
    assert probes and all(c.kind is CallKind.PROBE for c in probes)
