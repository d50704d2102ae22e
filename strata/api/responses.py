"""Building responses: JSON/msgpack bodies, the query string, and errors in AIStore's shape."""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import parse_qs

import msgspec

from strata.api.wire import ErrorBody, json_encode
from strata.errors import InvalidRequest, RangeNotSatisfiable, StrataError, TooManyRequests
from strata.server.http import Request, Response

log = logging.getLogger("strata.api")

JSON = ("Content-Type", "application/json")
MSGPACK = ("Content-Type", "application/msgpack")
TEXT = ("Content-Type", "text/plain; charset=utf-8")


_AIS_ONLY = {"provider": ["ais"]}


class Query:
    """The query string, parsed on first use (most GETs and PUTs carry only ``provider=ais``)."""

    __slots__ = ("_params",)

    def __init__(self, raw: str) -> None:
        if raw == "provider=ais":  # what nearly every SDK data request carries
            self._params = _AIS_ONLY
            return
        try:
            self._params = parse_qs(raw, keep_blank_values=True, errors="strict") if raw else {}
        except UnicodeDecodeError:
            raise InvalidRequest("query string is not valid UTF-8") from None

    def get(self, name: str, default: str = "") -> str:
        values = self._params.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        return self.get(name).lower() in ("true", "1", "yes", "y", "on")

    def __contains__(self, name: str) -> bool:
        return name in self._params


def json_response(value: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = value if isinstance(value, bytes) else json_encode(value)
    return Response(status, [JSON, *(headers or [])], body)


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, [TEXT], text.encode())


def empty_response(status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, headers or [])


def error_response(request: Request, exc: BaseException, node_id: str) -> Response:
    """AIStore's error JSON; HEAD gets it in ``Hdr-Error`` since HEAD responses have no body."""
    if isinstance(exc, StrataError):
        status, message = exc.status, exc.message
    elif isinstance(exc, (msgspec.DecodeError, msgspec.ValidationError)):
        status, message = 400, f"invalid request body: {exc}"
    else:
        status, message = 500, f"internal error: {type(exc).__name__}: {exc}"
        log.error("unhandled error on %s %s\n%s", request.method, request.path, traceback.format_exc())
    body = json_encode(
        ErrorBody(
            message=message,
            method=request.method,
            url_path=request.path,
            remote_addr=request.remote_addr,
            caller="",
            node=node_id,
            status=status,
        )
    )
    headers = [JSON]
    if isinstance(exc, TooManyRequests):
        headers.append(("Retry-After", str(exc.retry_after)))
    if isinstance(exc, RangeNotSatisfiable):
        headers.append(("Content-Range", f"bytes */{exc.size}"))
    if request.method == "HEAD":
        headers.append(("Hdr-Error", body.decode()))
        return Response(status, headers, b"", content_length=0)
    return Response(status, headers, body)
