"""``strata serve``: one supervisor process and N worker processes sharing one listening socket.

Why processes: Python runs one thread of bytecode at a time, so using both cores of a node for
the data path means two interpreters. The supervisor binds the socket, prepares the data
directory (sweeps work files a crash left behind), then forks the workers; the kernel hands each
new connection to one of them. Metadata changes reach every worker through the ``MetaStore``.
SIGTERM/SIGINT: workers stop accepting, finish in-flight requests (bounded), and exit. A worker
whose supervisor dies (``kill -9``, OOM killer) gets that same SIGTERM from the kernel and exits too.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from strata.api.node import Node, jobs_dir, load_node_id
from strata.api.router import AisApp
from strata.cluster.metastore import LocalMetaStore
from strata.config.cluster import ClusterConfig, ConfigError, load_cluster_config
from strata.jobs.registry import JobStore
from strata.server.http import ConnectionTimeouts, HttpProtocol, close_idle_connections
from strata.storage.mountpaths import Mountpaths

log = logging.getLogger("strata")

DRAIN_SECONDS = 10.0
WORKER_SLOT_ENV = "STRATA_WORKER_SLOT"
SENDFILE_THREADS = 32


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s",
    )


def default_data_dir() -> str:
    return os.environ.get("STRATA_DATA") or os.path.join(os.path.expanduser("~"), ".strata")


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def serve(
    *,
    host: str,
    port: int,
    data_dir: str | None,
    mountpaths: list[str],
    config_path: str | None,
    workers: int,
) -> int:
    setup_logging()
    # 1. directories, config and metadata (fails fast with a clear message)
    data_dir = os.path.abspath(data_dir or default_data_dir())
    meta_dir = os.path.join(data_dir, "meta")
    roots = mountpaths or [os.path.join(data_dir, "mp")]
    try:
        if config_path is not None:
            load_cluster_config(config_path)
        meta = LocalMetaStore(meta_dir, config_path)
        tls_context(meta.config())  # a TLS misconfiguration stops here, not in every worker
        mounts = Mountpaths(roots)
    except ConfigError as exc:
        print(f"strata: invalid config: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"strata: cannot prepare data directory {data_dir}: {exc}", file=sys.stderr)
        return 2
    swept = mounts.clean_work_dirs(meta.bmd().refs())
    mounts.empty_trash()
    mounts.reset_indexes()
    node_id = load_node_id(meta_dir)
    interrupted = JobStore(jobs_dir(data_dir), node_id).settle_after_restart()
    if interrupted:
        log.warning("%d job(s) were running when the node stopped; they are recorded as aborted", interrupted)
    # 2. the socket, shared by all workers
    try:
        sock = listen(host, port)
    except OSError as exc:
        print(f"strata: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    count = workers if workers > 0 else (os.cpu_count() or 1)
    log.info(
        "serving on http://%s:%d with %d worker(s); node %s; data in %s; mountpaths %s%s",
        host,
        port,
        count,
        node_id,
        data_dir,
        ", ".join(m.root for m in mounts.all),
        f"; swept {swept} stale work file(s)" if swept else "",
    )
    # 3. workers, supervised until a signal says stop

    def make_node() -> Node:
        meta = LocalMetaStore(meta_dir)  # its own mapping of the shared version counters
        return Node(
            node_id=node_id, host=host, port=port, meta=meta, mountpaths=Mountpaths(roots), data_dir=data_dir
        )

    return supervise(sock, count, lambda: worker_main(sock, make_node))


def supervise(
    sock: socket.socket, count: int, run_worker: Callable[[], int], on_stop: Callable[[], None] | None = None
) -> int:
    """Fork ``count`` workers, restart any that dies, and stop them all on SIGTERM/SIGINT."""
    children: dict[int, int] = {}
    stopping = False
    supervisor = os.getpid()

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            # the supervisor's own SIGTERM handler must not run here: until the worker's loop installs
            # its handler, a SIGTERM (a stop, or the supervisor's death) just ends the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            die_with_parent(supervisor)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when workers stop
            os.environ[WORKER_SLOT_ENV] = str(slot)  # the worker's row in shared per-node counters
            code = 1
            try:
                code = run_worker()
            except BaseException:
                log.exception("worker failed")
            finally:
                os._exit(code)
        children[pid] = slot

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if on_stop is not None:
            on_stop()
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(count):
        spawn(slot)
    sock.close()  # the workers hold it now
    last_restart = 0.0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        slot = children.pop(pid)
        if stopping:
            continue
        log.error("worker %d exited unexpectedly (status %d); restarting it", pid, status)
        if time.monotonic() - last_restart < 1.0:
            time.sleep(1.0)
        last_restart = time.monotonic()
        spawn(slot)
    log.info("stopped")
    return 0


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """In a freshly forked worker: have the kernel send SIGTERM when the supervisor dies.

    Without it a worker outlives a ``kill -9`` of its supervisor, still serving on the shared socket
    with nobody to restart or stop it. SIGTERM (not SIGKILL) runs the worker's normal graceful stop.
    The signal is tied to the thread that forked, so the supervisor forks from its main thread only.
    If the supervisor died before this call the worker was already re-parented and would never get
    the signal: it exits at once instead. Not on Linux (no prctl), nothing is armed.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return
    if prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:
        os._exit(1)


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
    app = AisApp(node)
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
