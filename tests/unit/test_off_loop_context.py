"""Work sent off the event loop runs as the request it serves: the request's context (``strata.auth.CURRENT``,
the principal the object service checks a bucket's access for) goes to the thread with it. Without it,
a copy into another bucket done in a thread would be checked for no one -- a side door."""

from __future__ import annotations

import asyncio
import contextvars

from strata.objects.compression import iterate_off_loop, off_loop
from strata.objects.remote import off_loop_backend

REQUEST = contextvars.ContextVar[str]("request", default="nobody")


def test_off_loop_helpers_carry_the_request_context() -> None:
    async def serve() -> tuple[str, str, list[str]]:
        REQUEST.set("alice")
        codec = await off_loop(REQUEST.get)
        backend = await off_loop_backend(REQUEST.get)
        pieces = [piece async for piece in iterate_off_loop(REQUEST.get() for _ in range(2))]
        return codec, backend, pieces

    assert asyncio.run(serve()) == ("alice", "alice", ["alice", "alice"])
