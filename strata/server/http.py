"""A lean HTTP/1.1 server: uvloop transports, the httptools parser, zero-copy file bodies.

Why not a framework: on this machine a framework's per-request stack costs 4-10x the work of a small
GET (see ARCHITECTURE.md), and none of the asyncio servers does real ``sendfile`` under uvloop.
Here a request costs a handful of parser callbacks, one handler call and one ``transport.write``;
large file bodies go socket-ward with ``os.sendfile`` and never pass through Python.

Contract with the application (``Application``):
- ``begin(request)`` is called once the headers are in. It returns an ``Exchange`` that receives
  the body (``feed``) and produces the response (``finish``). Streaming PUTs write each chunk to
  disk as it arrives; everything else buffers a bounded JSON body.
- ``finish()`` returns a ``Response``, or an awaitable of one for handlers that must wait.
- An exchange with ``set_flow_control(pause, resume)`` gets two callables (event loop only) that stop
  and restart reading the client's body, for exchanges that pass it on slower than it arrives.
- Responses go out strictly in request order, even when the client pipelines.

Clients that hold a connection without using it (slowloris) are cut by two deadlines per connection
(``ConnectionTimeouts``): the request line and headers must arrive within ``read_header`` seconds, and
a kept-alive connection with no request started is closed after ``idle`` seconds. A body upload or a
response in progress is never cut by them. Both run on one timer handle per connection, re-armed only
when it fires: a request costs one ``loop.time()`` per phase change, no timer or task of its own.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import errno
import logging
import os
import select
import socket
from collections.abc import AsyncIterator, Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Protocol

import httptools
import msgspec

from strata.core.errors import PayloadTooLarge

log = logging.getLogger("strata.http")
json_encode = msgspec.json.Encoder().encode
SMALL_FILE = 64 * 1024  # below this a pread + write beats the sendfile hand-off
MAX_BUFFERED_BODY = 256 * 1024 * 1024
SEND_TIMEOUT_S = 60.0
_PIPELINE_LIMIT = 16

_REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Payload Too Large",
    416: "Range Not Satisfiable",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}


def http_date(ns: int) -> str:
    """An RFC 7231 date (``Last-Modified``) from nanoseconds since the epoch."""
    return email.utils.formatdate(ns / 1e9, usegmt=True)


class Request:
    """One parsed request. ``path`` is the raw (still percent-encoded) path; ``query`` the raw query."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "query", "remote_addr")

    def __init__(self, method: str, path: str, query: str, headers: dict[str, str], remote_addr: str) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.remote_addr = remote_addr
        self.keep_alive = True
        self.body = b""

    @property
    def content_length(self) -> int | None:
        """The body's declared length (None when chunked or not a number)."""
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None


class FileBody:
    """A byte range of an open file to send; the server closes ``fd`` when done."""

    __slots__ = ("count", "fd", "offset")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count


class FileRegionLike(Protocol):
    """A byte range of a file a stream wants sent zero-copy (its producer keeps the fd open)."""

    @property
    def fd(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def count(self) -> int: ...


StreamItem = bytes | bytearray | memoryview | FileRegionLike
Stream = AsyncIterator[StreamItem] | Iterator[StreamItem]


class Response:
    """Status, headers and one body: bytes, a ``FileBody`` (zero-copy), or a stream of chunks.

    A stream is sent with chunked transfer encoding unless ``content_length`` is given. For HEAD,
    ``content_length`` states the size and no body is sent.
    """

    __slots__ = ("body", "content_length", "file", "headers", "raw", "status", "stream")

    def __init__(
        self,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        *,
        file: FileBody | None = None,
        stream: Stream | None = None,
        content_length: int | None = None,
        raw: bytes | None = None,
    ) -> None:
        self.raw = raw  # a complete keep-alive response, already serialized (the hot cache's)
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body
        self.file = file
        self.stream = stream
        self.content_length = content_length


class Exchange(Protocol):
    def feed(self, data: bytes) -> None: ...
    def finish(self) -> Response | Awaitable[Response]: ...
    def abort(self) -> None: ...


class Application(Protocol):
    def begin(self, request: Request) -> Exchange: ...
    def error_response(self, request: Request, exc: BaseException) -> Response: ...


class BufferedExchange:
    """Collects a (bounded) body, then calls the handler with the complete request."""

    __slots__ = ("chunks", "handler", "request", "size")

    def __init__(self, request: Request, handler: HandlerFn) -> None:
        self.request = request
        self.handler = handler
        self.chunks: list[bytes] = []
        self.size = 0

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_BUFFERED_BODY:
            raise PayloadTooLarge(f"request body over {MAX_BUFFERED_BODY} bytes")
        self.chunks.append(data)

    def finish(self) -> Response | Awaitable[Response]:
        if self.chunks:
            self.request.body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        return self.handler(self.request)

    def abort(self) -> None:
        self.chunks = []


class HandlerFn(Protocol):
    def __call__(self, request: Request, /) -> Response | Awaitable[Response]: ...


class FixedExchange:
    """An answer decided at the headers (an error, a redirect): any body is drained and dropped."""

    __slots__ = ("response",)

    def __init__(self, response: Response) -> None:
        self.response = response

    def feed(self, data: bytes) -> None:
        pass

    def finish(self) -> Response:
        return self.response

    def abort(self) -> None:
        pass


def waits_for_answer(request: Request) -> bool:
    """A request announcing a body it will only send after our answer (Connection: close)."""
    if request.headers.get("connection", "").lower() != "close":
        return False
    length = request.headers.get("content-length", "")
    return length.isdigit() and int(length) > 0


_STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n" for code, reason in _REASONS.items()}


def serialize_head(
    status: int, headers: list[tuple[str, str]], content_length: int | None, keep_alive: bool
) -> bytes:
    """The status line and headers; non-ASCII values go out as UTF-8, as Go's server sends them."""
    parts = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n"]
    for name, value in headers:
        parts.append(f"{name}: {value}\r\n")
    parts.append(
        f"Content-Length: {content_length}\r\n"
        if content_length is not None
        else "Transfer-Encoding: chunked\r\n"
    )
    parts.append("\r\n" if keep_alive else "Connection: close\r\n\r\n")
    return "".join(parts).encode()


class ConnectionTimeouts(NamedTuple):
    """Seconds a connection may spend on a request's head, and idle between requests.

    The daemon takes them from the cluster config (``net.http.server_read_header_time`` and
    ``server_idle_conn_time``); the transport knows no config.
    """

    read_header: float
    idle: float


DEFAULT_TIMEOUTS = ConnectionTimeouts(16.0, 60.0)  # net.http's defaults, for a server built without config
CONNECTIONS: set[HttpProtocol] = set()  # open connections of this worker, for a graceful stop


def close_idle_connections() -> int:
    """Close connections with nothing in flight; returns how many are still busy."""
    busy = 0
    for protocol in list(CONNECTIONS):
        if protocol.idle:
            if protocol.transport is not None:
                protocol.transport.close()
        else:
            busy += 1
    return busy


class HttpProtocol(asyncio.Protocol):
    """One client connection: parse requests, hand them to the app, write responses in order."""

    def __init__(
        self,
        app: Application,
        executor: ThreadPoolExecutor,
        *,
        tls: bool = False,
        timeouts: ConnectionTimeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        self.app = app
        self.timeouts = timeouts
        self.executor = executor
        # under TLS the socket carries ciphertext: bodies go through the transport, never sendfile
        self.zero_copy = not tls
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.remote_addr = ""
        self.outbox: collections.deque[tuple[Request, Response | asyncio.Future[Response]]] = (
            collections.deque()
        )
        self.busy = False  # a response is being written asynchronously
        self.closed = False
        self.reading_paused = False
        self.write_ready = asyncio.Event()
        self.write_ready.set()
        # per-request parse state
        self._url = b""
        self._headers: dict[str, str] = {}
        self._request: Request | None = None
        self._exchange: Exchange | None = None
        # deadlines (loop time): the current request head must be in by ``_head_deadline`` (0.0 when no
        # head is being read); an idle connection counts from ``_idle_since``. ``_timer`` checks them.
        self._head_deadline = 0.0
        self._idle_since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport
        CONNECTIONS.add(self)
        peer = transport.get_extra_info("peername")
        self.remote_addr = f"{peer[0]}:{peer[1]}" if peer else ""
        # a fresh connection is expected to send its request at once: its head deadline runs from now
        # (as Go's server does), so a connection that sends nothing is cut after ``read_header``
        self._head_deadline = self.loop.time() + self.timeouts.read_header
        self._timer = self.loop.call_at(self._head_deadline, self._check_deadlines)

    @property
    def idle(self) -> bool:
        return not self.busy and not self.outbox and self._exchange is None

    def connection_lost(self, exc: Exception | None) -> None:
        CONNECTIONS.discard(self)
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.write_ready.set()
        if self._exchange is not None:
            self._exchange.abort()
            self._exchange = None
        for _request, item in self.outbox:
            if isinstance(item, asyncio.Future):
                item.cancel()
            else:
                _release(item)
        self.outbox.clear()

    def pause_writing(self) -> None:
        self.write_ready.clear()

    def resume_writing(self) -> None:
        self.write_ready.set()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fatal(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._fatal(400, f"malformed HTTP request: {exc}")

    def _check_deadlines(self) -> None:
        """The connection's timer: close it when a deadline passed, else re-arm for the next check.

        The hot path only moves the deadlines; this runs at most every ``read_header`` seconds (so a
        head started after the last arming is still caught on time) and computes the exact next one.
        """
        self._timer = None
        if self.closed or self.transport is None:
            return
        now = self.loop.time()
        if self._head_deadline and not self.reading_paused:  # a request head is arriving
            deadline = self._head_deadline
            what = "request headers"
        elif self.idle and not self._head_deadline:  # nothing started since the last response
            deadline = self._idle_since + self.timeouts.idle
            what = "a new request"
        else:  # a request in flight (body, handler, response) or reading held back by us: not timed
            deadline = now + self.timeouts.read_header
            what = ""
        if what and now >= deadline:
            log.debug("closing %s: no %s in time", self.remote_addr, what)
            self.closed = True
            self.transport.close()
            return
        self._timer = self.loop.call_at(min(deadline, now + self.timeouts.read_header), self._check_deadlines)

    def _fatal(self, status: int, message: str) -> None:
        if self._exchange is not None:
            self._exchange.abort()
            self._exchange = None
        if self.transport is not None and not self.closed:
            body = json_encode({"message": message, "status": status})
            head = serialize_head(status, [("Content-Type", "application/json")], len(body), False)
            if not self.busy:
                self.transport.write(head + body)
            self.transport.close()
        self.closed = True

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        if not self._head_deadline:  # a fresh connection's deadline already runs from its accept
            self._head_deadline = self.loop.time() + self.timeouts.read_header

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self._head_deadline = 0.0
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        request = Request(
            self.parser.get_method().decode("latin-1"), path, query, self._headers, self.remote_addr
        )
        request.keep_alive = self.parser.should_keep_alive()
        self._request = request
        try:
            self._exchange = self.app.begin(request)
        except Exception as exc:
            response = self.app.error_response(request, exc)
            if request.headers.get("expect", "").lower() == "100-continue":
                # the client waits for our go-ahead: answer now, never invite the body, close after
                request.keep_alive = False
                self._request = None
                self._exchange = FixedExchange(response)
                self.outbox.append((request, response))
                self._pump()
                return
            # otherwise drain the body (clients like requests send it all before reading), then answer
            self._exchange = FixedExchange(response)
            return
        if isinstance(self._exchange, FixedExchange) and waits_for_answer(request):
            # the official SDK over HTTPS sends a PUT's headers with Connection: close and no body,
            # and expects the redirect right away: answer now, never read a body, close after
            request.keep_alive = False
            self.outbox.append((request, self._exchange.response))
            self._request = self._exchange = None
            self._pump()
            return
        flow = getattr(self._exchange, "set_flow_control", None)
        if flow is not None:  # an exchange that relays the body elsewhere may hold back the client
            flow(self._pause_body, self._resume_body)
        if request.headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        exchange = self._exchange
        if exchange is None:
            return
        try:
            exchange.feed(body)
        except Exception as exc:
            assert self._request is not None
            exchange.abort()
            self._exchange = FixedExchange(self.app.error_response(self._request, exc))

    def on_message_complete(self) -> None:
        request, exchange = self._request, self._exchange
        self._request = self._exchange = None
        if request is None or exchange is None:
            return
        try:
            result = exchange.finish()
        except Exception as exc:
            exchange.abort()
            result = self.app.error_response(request, exc)
        if isinstance(result, Response):
            if not self.outbox and not self.busy and not self.closed:  # the common case: write now
                try:
                    self._write(request, result)
                except Exception:
                    log.exception("failed writing the response to %s %s", request.method, request.path)
                    _release(result)
                    self._broken()
                self._idle_since = self.loop.time()
                return
            self.outbox.append((request, result))
        else:
            future = asyncio.ensure_future(self._await_response(request, result))
            future.add_done_callback(lambda _f: self._pump())
            self.outbox.append((request, future))
        if len(self.outbox) > _PIPELINE_LIMIT and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._pump()

    async def _await_response(self, request: Request, awaitable: Awaitable[Response]) -> Response:
        try:
            return await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self.app.error_response(request, exc)

    def _pause_body(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def _resume_body(self) -> None:
        if self.transport is not None and not self.closed and not self.reading_paused:
            self.transport.resume_reading()

    # -- writing -------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Write queued responses in order until one needs to go out asynchronously."""
        while self.outbox and not self.busy and not self.closed:
            request, item = self.outbox[0]
            if isinstance(item, asyncio.Future):
                if not item.done():
                    return
                if item.cancelled():
                    self.outbox.popleft()
                    continue
                response = item.result()
            else:
                response = item
            self.outbox.popleft()
            try:
                self._write(request, response)
            except Exception:
                log.exception("failed writing the response to %s %s", request.method, request.path)
                _release(response)
                self._broken()
        if self.reading_paused and len(self.outbox) <= _PIPELINE_LIMIT // 2 and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
            if self._head_deadline:  # a head cut off by our pause gets its full time again
                self._head_deadline = self.loop.time() + self.timeouts.read_header
        if not self.outbox and not self.busy:
            self._idle_since = self.loop.time()

    def _finished(self, request: Request) -> None:
        self.busy = False
        if not request.keep_alive:
            if self.transport is not None:
                self.transport.close()
            self.closed = True
            return
        self._pump()

    def _write(self, request: Request, response: Response) -> None:
        transport = self.transport
        assert transport is not None
        keep_alive = request.keep_alive
        if response.raw is not None and keep_alive:
            transport.write(response.raw)
            return
        head_only = request.method == "HEAD"
        file = response.file
        if file is not None:
            head = serialize_head(response.status, response.headers, file.count, keep_alive)
            if head_only or file.count == 0:
                os.close(file.fd)
                transport.write(head)
            elif file.count <= SMALL_FILE:
                try:
                    data = os.pread(file.fd, file.count, file.offset)
                finally:
                    os.close(file.fd)
                transport.write(head + data)
            elif self.zero_copy and transport.get_write_buffer_size() == 0:
                self.busy = True
                self._sendfile(request, head, file)
                return
            else:
                self.busy = True
                self.loop.create_task(self._copy_file(request, head, file))
                return
        elif response.stream is not None:
            head = serialize_head(response.status, response.headers, response.content_length, keep_alive)
            transport.write(head)
            if head_only:
                _close_stream(response.stream)
            else:
                self.busy = True
                self.loop.create_task(self._send_stream(request, response))
                return
        else:
            length = response.content_length if response.content_length is not None else len(response.body)
            head = serialize_head(response.status, response.headers, length, keep_alive)
            transport.write(head if head_only else head + response.body)
        if not keep_alive:
            transport.close()
            self.closed = True

    def _sendfile(self, request: Request, head: bytes, file: FileBody) -> None:
        """Zero-copy: header and file bytes go straight from the kernel to the socket.

        uvloop owns the socket and has nothing queued (checked by the caller), so we write on a
        duplicate of its descriptor: first without blocking here; if the socket fills up, a pool
        thread waits for it (poll) and continues, then hands the connection back.
        """
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        job = _SendfileJob(socket.socket(fileno=os.dup(sock.fileno())), head, file)
        try:
            done = job.step()
        except OSError:
            job.close()
            self._broken()
            return
        if done:
            job.close()
            self._finished(request)
            return
        future = self.loop.run_in_executor(self.executor, job.run_blocking)

        def _done(f: asyncio.Future[bool]) -> None:
            job.close()
            if f.cancelled() or f.exception() is not None or not f.result():
                self._broken()
            else:
                self._finished(request)

        future.add_done_callback(_done)

    async def _copy_file(self, request: Request, head: bytes, file: FileBody) -> None:
        """Fallback when bytes are still queued on the transport: read in chunks and write."""
        assert self.transport is not None
        try:
            self.transport.write(head)
            offset, remaining = file.offset, file.count
            while remaining > 0 and not self.closed:
                data = os.pread(file.fd, min(remaining, 1 << 20), offset)
                if not data:
                    break
                self.transport.write(data)
                offset += len(data)
                remaining -= len(data)
                await self.write_ready.wait()
        finally:
            os.close(file.fd)
        if remaining > 0:
            self._broken()
        else:
            self._finished(request)

    async def _send_stream(self, request: Request, response: Response) -> None:
        """Write a stream's items in order: bytes as they come, file regions zero-copy."""
        assert self.transport is not None and response.stream is not None
        chunked = response.content_length is None
        stream = response.stream
        try:
            if isinstance(stream, Iterator):
                for item in stream:
                    if self.closed:
                        break
                    await self._emit(item, chunked)
            else:
                async for item in stream:
                    if self.closed:
                        break
                    await self._emit(item, chunked)
            if chunked and not self.closed:
                self.transport.write(b"0\r\n\r\n")
        except Exception:  # an error after the first byte can only truncate the stream
            log.warning("stream for %s %s cut short", request.method, request.path, exc_info=True)
            self._broken()
            return
        finally:
            _close_stream(stream)
        self._finished(request)

    async def _emit(self, item: StreamItem, chunked: bool) -> None:
        if isinstance(item, (bytes, bytearray, memoryview)):
            self._write_chunk(bytes(item) if not isinstance(item, bytes) else item, chunked)
            if not self.write_ready.is_set():
                await self.write_ready.wait()
        elif item.count > 0:
            await self._send_region(item, chunked)

    async def _send_region(self, region: FileRegionLike, chunked: bool) -> None:
        """A file range inside a stream: sendfile when nothing is queued, else read and write."""
        assert self.transport is not None
        prefix = b"%x\r\n" % region.count if chunked else b""
        if self.zero_copy and self.transport.get_write_buffer_size() == 0:
            sock = self.transport.get_extra_info("socket")
            body = FileBody(region.fd, region.offset, region.count)
            job = _SendfileJob(socket.socket(fileno=os.dup(sock.fileno())), prefix, body, own_file=False)
            try:
                done = job.step() or await self.loop.run_in_executor(self.executor, job.run_blocking)
            finally:
                job.close()
            if not done:
                raise OSError(errno.ETIMEDOUT, "client stopped reading")
        else:
            if prefix:
                self.transport.write(prefix)
            offset, remaining = region.offset, region.count
            while remaining > 0:
                data = os.pread(region.fd, min(remaining, 1 << 20), offset)
                if not data:
                    raise OSError(errno.EIO, "file shorter than expected")
                self.transport.write(data)
                offset += len(data)
                remaining -= len(data)
                if not self.write_ready.is_set():
                    await self.write_ready.wait()
        if chunked:
            self.transport.write(b"\r\n")

    def _write_chunk(self, chunk: bytes, chunked: bool) -> None:
        assert self.transport is not None
        if not chunk:
            return
        if chunked:
            self.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
        else:
            self.transport.write(chunk)

    def _broken(self) -> None:
        self.busy = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _SendfileJob:
    """State of one zero-copy send: the header bytes, then the file range."""

    __slots__ = ("file", "head", "out", "own_file")

    def __init__(self, out: socket.socket, head: bytes, file: FileBody, *, own_file: bool = True) -> None:
        self.out = out  # a duplicate of the connection's descriptor, non-blocking like it
        self.head = memoryview(head)
        self.file = file
        self.own_file = own_file  # a whole-file response closes its fd; a stream's regions belong to it

    def step(self) -> bool:
        """Send as much as the socket takes now; True when everything is out."""
        try:
            while self.head:
                self.head = self.head[self.out.send(self.head, socket.MSG_MORE) :]
            while self.file.count > 0:
                sent = os.sendfile(self.out.fileno(), self.file.fd, self.file.offset, self.file.count)
                if sent == 0:
                    raise OSError(errno.EIO, "file shorter than expected")
                self.file.offset += sent
                self.file.count -= sent
        except BlockingIOError:
            return False
        return True

    def run_blocking(self) -> bool:
        poller = select.poll()
        poller.register(self.out.fileno(), select.POLLOUT)
        while not self.step():
            if not poller.poll(SEND_TIMEOUT_S * 1000):
                return False
        return True

    def close(self) -> None:
        self.out.close()
        if self.own_file and self.file.fd >= 0:
            os.close(self.file.fd)
            self.file.fd = -1


def _release(response: Response) -> None:
    if response.file is not None:
        try:
            os.close(response.file.fd)
        except OSError:
            pass
    if response.stream is not None:
        _close_stream(response.stream)


def _close_stream(stream: Stream) -> None:
    close = getattr(stream, "close", None)
    if close is not None and not asyncio.iscoroutinefunction(close):
        try:
            close()
        except Exception:
            pass
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        _BACKGROUND.add(task := asyncio.ensure_future(aclose()))
        task.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[asyncio.Future[None]] = set()
