"""What the AuthN tests share: a real ``strata authn`` process, and a small stand-in AIS proxy.

``AuthnServer`` is ``StrataServer`` (same start, health wait, stop, ``kill -9`` and logs) running
``python -m strata authn``. ``FakeCluster`` answers the three calls AuthN makes to a cluster --
``GET /v1/daemon?what=smap`` (its UUID), ``POST /v1/tokens`` (2xx iff the Bearer token verifies with
the key it is given, as an AIS proxy does) and ``DELETE /v1/tokens`` -- and records each call, so a test
can check what AuthN sent. The cluster side of those endpoints belongs to the proxy (``strata.auth``);
this stand-in only lets the AuthN side be tested on its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt

from .server import StrataServer

ADMIN_PASSWORD = "admin-secret-pw"
HMAC_SECRET = "a-test-hmac-secret-that-is-long-enough-for-hs256"


class AuthnServer(StrataServer):
    """``python -m strata authn`` on a free port (``env``: AIS_AUTHN_SECRET_KEY, AIS_AUTHN_SU_PASS, ...)."""

    def command(self) -> list[str]:
        cmd = [*super().command()[:3], "authn", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--data", str(self.data_dir)]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return cmd


def start_authn(base: Path, *, secret: str | None = HMAC_SECRET, **kwargs: Any) -> AuthnServer:
    env = {"AIS_AUTHN_SU_PASS": ADMIN_PASSWORD}
    if secret:
        env["AIS_AUTHN_SECRET_KEY"] = secret
    env.update(kwargs.pop("env", {}))
    return AuthnServer(base / "authn-data", base / "authn.log", env=env, **kwargs).start()


@dataclass
class RecordedCall:
    method: str
    path: str
    token: str
    body: Any


@dataclass
class FakeCluster:
    """A stand-in AIS proxy on 127.0.0.1; ``verify(token)`` decides what its ``POST /v1/tokens`` answers."""

    uuid: str
    verify: Callable[[str], bool]
    calls: list[RecordedCall] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeCluster:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> RecordedCall:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                call = RecordedCall(self.command, self.path, token, json.loads(raw) if raw else None)
                cluster.calls.append(call)
                return call

            def do_GET(self) -> None:
                self._record()
                if self.path.startswith("/v1/daemon") and "what=smap" in self.path:
                    proxy = {"daemon_id": "p1", "daemon_type": "proxy"}
                    self._answer(
                        200, {"tmap": {}, "pmap": {"p1": proxy}, "proxy_si": proxy, "uuid": cluster.uuid}
                    )
                else:
                    self._answer(404, {"message": "not here"})

            def do_POST(self) -> None:
                call = self._record()
                ok = call.path == "/v1/tokens" and cluster.verify(call.token)
                self._answer(200 if ok else 401, None if ok else {"message": "invalid token"})

            def do_DELETE(self) -> None:
                call = self._record()
                self._answer(200 if cluster.verify(call.token) else 401)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(
        self, method: str, predicate: Callable[[RecordedCall], bool], timeout: float = 10.0
    ) -> RecordedCall:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in list(self.calls):
                if call.method == method and predicate(call):
                    return call
            time.sleep(0.05)
        raise AssertionError(f"no {method} call as expected; calls: {self.calls}")


def hmac_verifier(secret: str, audience: str) -> Callable[[str], bool]:
    """What an AIS proxy with ``auth.signature`` = this secret checks: signature, exp, sub, aud."""

    def verify(token: str) -> bool:
        try:
            jwt.decode(
                token, secret, algorithms=["HS256"], audience=audience, options={"require": ["exp", "sub"]}
            )
        except jwt.InvalidTokenError:
            return False
        return True

    return verify
