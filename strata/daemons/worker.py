"""One worker process: its own event loop, node and application, serving the shared socket."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from strata.config.cluster import ClusterConfig, ConfigError
from strata.daemons.app import NodeApp
from strata.roles.node import Node
from strata.server.http import ConnectionTimeouts, HttpProtocol, close_idle_connections

DRAIN_SECONDS = 10.0
SENDFILE_THREADS = 32


def tls_context(config: ClusterConfig) -> ssl.SSLContext | None:
    """The server's TLS context when ``net.http.use_https`` is on (AIStore's switch and files)."""
    http = config.net.http
    if not http.use_https:
        return None
    if not http.server_crt or not http.server_key:
        raise ConfigError("config: net.http.use_https needs net.http.server_crt and net.http.server_key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(http.server_crt, http.server_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"config: cannot load net.http.server_crt/server_key: {exc}") from None
    return context


def worker_main(sock: socket.socket, make_node: Callable[[], Node]) -> int:
    """One worker process: its own event loop, node view and app, serving the shared socket."""
    import uvloop

    node = make_node()
    app = NodeApp(node)
    executor = ThreadPoolExecutor(SENDFILE_THREADS, thread_name_prefix="sendfile")
    tls = tls_context(node.meta.config())

    def connection() -> HttpProtocol:
        # the limits are read per connection, so a set-config applies to the next connections
        timeouts = ConnectionTimeouts(*node.meta.config().net.http.server_timeouts())
        return HttpProtocol(app, executor, tls=tls is not None, timeouts=timeouts)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(connection, sock=sock, backlog=2048, ssl=tls)
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        await done.wait()
        # a stop that hangs past the drain still ends the worker (SIGALRM's default action): after a
        # supervisor's death nobody else would
        signal.alarm(int(DRAIN_SECONDS) + 5)
        server.close()
        deadline = loop.time() + DRAIN_SECONDS
        while close_idle_connections() and loop.time() < deadline:
            await asyncio.sleep(0.05)

    uvloop.run(main())
    executor.shutdown(wait=False, cancel_futures=True)
    return 0
