"""AuthN's HTTP application: route by path, run the handler in a thread, answer errors as AIS JSON.

Handlers are plain functions (password hashing, RSA signing and file writes are blocking work), so each
request runs on the thread pool and the event loop only moves bytes. Request bodies are small JSON
documents: more than ``MAX_BODY`` is refused before it is read.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import msgspec

from strata.authn import clusters, roles, service_api, users
from strata.authn.context import Call, Service
from strata.core.errors import InvalidRequest, NotFound, PayloadTooLarge, StrataError
from strata.core.wire import ErrorBody, json_encode
from strata.server.http import Exchange, Request, Response
from strata.server.responses import JSON, empty_response

log = logging.getLogger("strata.authn")
MAX_BODY = 1024 * 1024
Handler = Callable[[Call], Response]

_ROUTES: dict[str, Handler] = {
    "users": users.handle,
    "roles": roles.handle,
    "clusters": clusters.handle,
    "tokens": service_api.tokens,
    "daemon": service_api.daemon,
    "public-key": service_api.public_key,
    "rotate-key": service_api.rotate_key,
    "health": lambda call: empty_response(200),
}
_WELL_KNOWN = {
    "/.well-known/openid-configuration": "openid-configuration",
    "/.well-known/jwks.json": "jwks.json",
}


class _SmallBody:
    """Collects a body of at most ``MAX_BODY`` bytes, then runs the request on the thread pool."""

    __slots__ = ("app", "chunks", "request", "size")

    def __init__(self, app: AuthnApp, request: Request) -> None:
        self.app = app
        self.request = request
        self.chunks: list[bytes] = []
        self.size = 0

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_BODY:
            raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
        self.chunks.append(data)

    def finish(self) -> Awaitable[Response]:
        self.request.body = b"".join(self.chunks)
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.app.executor, self.app.dispatch, self.request)

    def abort(self) -> None:
        self.chunks = []


class AuthnApp:
    def __init__(self, service: Service, executor: ThreadPoolExecutor) -> None:
        self.service = service
        self.executor = executor

    def begin(self, request: Request) -> Exchange:
        length = request.content_length
        if length is not None and length > MAX_BODY:
            raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
        return _SmallBody(self, request)

    def dispatch(self, request: Request) -> Response:
        """Runs on the thread pool."""
        path = request.path
        document = _WELL_KNOWN.get(path)
        if document is not None:
            call = Call(self.service, request.method, [], request.query, request.headers, request.body)
            return service_api.well_known(call, document)
        if not path.startswith("/v1/"):
            raise NotFound(f'invalid path "{path}": the AuthN API lives under /v1/')
        try:
            parts = [unquote(part, errors="strict") for part in path[4:].split("/") if part]
        except UnicodeDecodeError:
            raise InvalidRequest(f'invalid path "{path}": not UTF-8') from None
        handler = _ROUTES.get(parts[0]) if parts else None
        if handler is None:
            raise NotFound(f'invalid path "{path}": unknown AuthN resource')
        return handler(
            Call(self.service, request.method, parts[1:], request.query, request.headers, request.body)
        )

    def error_response(self, request: Request, exc: BaseException) -> Response:
        if isinstance(exc, StrataError):
            status, message = exc.status, exc.message
        elif isinstance(exc, (msgspec.DecodeError, msgspec.ValidationError)):
            status, message = 400, f"invalid request body: {exc}"
        else:
            status, message = 500, f"internal error: {type(exc).__name__}"
            log.error("unhandled error on %s %s\n%s", request.method, request.path, traceback.format_exc())
        body = ErrorBody(
            message=message,
            method=request.method,
            url_path=request.path,
            remote_addr=request.remote_addr,
            caller="",
            node="authn",
            status=status,
        )
        return Response(status, [JSON], json_encode(body))
