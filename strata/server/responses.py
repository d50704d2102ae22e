"""Responses with a typed body: JSON, msgpack, text, or none (the AIS wire's everyday answers)."""

from __future__ import annotations

from typing import Any

from strata.core.wire import json_encode
from strata.server.http import Response

JSON = ("Content-Type", "application/json")
MSGPACK = ("Content-Type", "application/msgpack")
TEXT = ("Content-Type", "text/plain; charset=utf-8")


def json_response(value: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = value if isinstance(value, bytes) else json_encode(value)
    return Response(status, [JSON, *(headers or [])], body)


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, [TEXT], text.encode())


def empty_response(status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, headers or [])


