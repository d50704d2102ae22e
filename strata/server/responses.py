"""Responses with a typed body: JSON, msgpack, text, or none (the AIS wire's everyday answers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from strata.core.wire import json_encode
from strata.server.http import Response

T = TypeVar("T")

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




def answer_when(done: T | Awaitable[T], answer: Callable[[T], Response]) -> Response | Awaitable[Response]:
    """``answer`` the result of work that finished already or finishes later (a write committed in the
    codec threads): the response at once, or an awaitable of it for the server to wait on."""
    if isinstance(done, Awaitable):
        return _answer_later(done, answer)
    return answer(done)


async def _answer_later(done: Awaitable[T], answer: Callable[[T], Response]) -> Response:
    return answer(await done)
