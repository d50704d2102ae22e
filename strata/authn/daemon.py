"""``strata authn``: one process, one event loop, the handlers on a thread pool.

AuthN serves people and CLIs logging in, not data, so a single process is plenty -- and it keeps the
data in one place without cross-process locking. At start it makes sure the built-in ``Admin`` role and
the admin user exist (``AIS_AUTHN_SU_NAME``, default ``admin``; ``AIS_AUTHN_SU_PASS``, used only when the
user is created), that an RSA key exists when no HMAC secret is set, and re-sends the revoked tokens to
every registered cluster (a push missed while AuthN was down is healed here).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import jwt

from strata.authn.app import AuthnApp
from strata.authn.config import Settings
from strata.authn.context import Service
from strata.authn.model import ADMIN_ROLE, Role, User
from strata.authn.passwords import hash_password
from strata.authn.store import Store, StoreError
from strata.authn.tokens import Signer
from strata.core.errors import InvalidRequest
from strata.server.http import ConnectionTimeouts, HttpProtocol, close_idle_connections

log = logging.getLogger("strata.authn")
ADMIN_NAME_ENV = "AIS_AUTHN_SU_NAME"
ADMIN_PASS_ENV = "AIS_AUTHN_SU_PASS"
DATA_ENV = "STRATA_AUTHN_DATA"
HANDLER_THREADS = 8
DRAIN_SECONDS = 5.0


def default_data_dir() -> str:
    return os.environ.get(DATA_ENV) or os.path.join(os.path.expanduser("~"), ".strata-authn")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _tls(settings: Settings) -> ssl.SSLContext | None:
    http = settings.config.net.http
    if not http.use_https:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(http.server_crt, http.server_key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidRequest(f"cannot load net.http.server_crt/server_key: {exc}") from None
    return context


def bootstrap(store: Store, admin_name: str, admin_password: str) -> None:
    """The built-in ``Admin`` role and admin user, when missing (an existing admin keeps its password)."""
    data = store.data
    if ADMIN_ROLE in data.roles and admin_name in data.users:
        return
    password_hash = hash_password(admin_password)
    with store.change() as draft:
        draft.roles.setdefault(ADMIN_ROLE, Role(name=ADMIN_ROLE, desc="AuthN administrator", admin=True))
        if admin_name not in draft.users:
            draft.users[admin_name] = User(id=admin_name, password_hash=password_hash, roles=[ADMIN_ROLE])


def serve_authn(*, host: str, port: int | None, data_dir: str | None, config_path: str | None) -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    data_dir = os.path.abspath(data_dir or default_data_dir())
    try:
        store = Store(data_dir)
        settings = Settings.load(config_path or os.path.join(data_dir, "authn.json"))
        tls = _tls(settings)
    except (InvalidRequest, StoreError) as exc:
        print(f"strata authn: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"strata authn: cannot use data directory {data_dir}: {exc}", file=sys.stderr)
        return 2
    admin_name = os.environ.get(ADMIN_NAME_ENV) or "admin"
    admin_password = os.environ.get(ADMIN_PASS_ENV) or ""
    if not admin_password:
        admin_password = "admin"
        if admin_name not in store.data.users:
            log.warning(
                "%s is not set: the admin user %s gets the password 'admin'", ADMIN_PASS_ENV, admin_name
            )
    port = settings.config.net.http.port if port is None else port
    try:
        sock = _listen(host, port)
    except OSError as exc:
        print(f"strata authn: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    shown_host = "localhost" if host in ("", "0.0.0.0", "::") else host
    issuer = settings.config.net.external_url.rstrip("/") or f"{scheme}://{shown_host}:{port}"
    signer = Signer(settings, store, issuer)
    bootstrap(store, admin_name, admin_password)
    if signer.method == "RS256":
        signer.current_key()
    elif len(settings.secret.encode()) < 32:
        log.warning("auth.secret is shorter than 32 bytes: HS256 tokens are only as strong as the secret")
    # said once above, not on every token PyJWT signs with it
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    service = Service(settings, store, signer, admin_name)
    if store.data.clusters:
        service.push_revocations()
    log.info(
        "AuthN serving on %s://%s:%d; tokens %s; issuer %s; data in %s",
        scheme,
        host,
        port,
        signer.method,
        issuer,
        data_dir,
    )
    executor = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="authn")
    app = AuthnApp(service, executor)
    import uvloop

    uvloop.run(_run(app, executor, sock, tls))
    executor.shutdown(wait=True, cancel_futures=True)
    service.background.shutdown(wait=False, cancel_futures=True)
    log.info("AuthN stopped")
    return 0


async def _run(
    app: AuthnApp, executor: ThreadPoolExecutor, sock: socket.socket, tls: ssl.SSLContext | None
) -> None:
    loop = asyncio.get_running_loop()
    timeouts = ConnectionTimeouts(10.0, 120.0)
    server = await loop.create_server(
        lambda: HttpProtocol(app, executor, tls=tls is not None, timeouts=timeouts), sock=sock, ssl=tls
    )
    done = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, done.set)
    await done.wait()
    server.close()
    deadline = loop.time() + DRAIN_SECONDS
    while close_idle_connections() and loop.time() < deadline:
        await asyncio.sleep(0.05)
