"""Serving a request as its principal: what both fronts (``/v1`` and S3) wrap their exchanges in.

The gate (``strata.auth.Gate``) says who a request acts for; ``acting`` runs the front's dispatch and
every later step of the exchange -- body chunks, the handler, a coroutine the handler returned --
with that principal as ``strata.auth.CURRENT``, so that the object service's bucket check
(``ObjectService.bucket``) and ``Node.authorize`` see it wherever they are reached from. With no
principal (auth off, or the cluster's own calls) the exchange is returned as it is: no cost. An
exchange that declares ``one_bucket = True`` (GET/HEAD of an object: the front checked its bucket
before ``begin`` returned) is not wrapped either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from strata.auth import CURRENT, Principal, await_as
from strata.server.http import Exchange, FixedExchange, Response


def acting(principal: Principal | None, begin: Callable[[], Exchange]) -> Exchange:
    """``begin()`` and then the exchange it returns, run as ``principal``."""
    if principal is None:
        return begin()
    token = CURRENT.set(principal)
    try:
        exchange = begin()
    finally:
        CURRENT.reset(token)
    if isinstance(exchange, FixedExchange) or getattr(exchange, "one_bucket", False):
        # an answer already made (a redirect, an error), or an object read whose one bucket the front
        # has checked for this principal: nothing later reaches another bucket (the hot path stays lean)
        return exchange
    if hasattr(exchange, "set_flow_control"):
        return _ActingWithFlow(exchange, principal)
    return _Acting(exchange, principal)


class _Acting:
    __slots__ = ("inner", "principal")

    def __init__(self, inner: Exchange, principal: Principal) -> None:
        self.inner = inner
        self.principal = principal

    def feed(self, data: bytes) -> None:
        token = CURRENT.set(self.principal)
        try:
            self.inner.feed(data)
        finally:
            CURRENT.reset(token)

    def finish(self) -> Response | Awaitable[Response]:
        token = CURRENT.set(self.principal)
        try:
            result = self.inner.finish()
        finally:
            CURRENT.reset(token)
        if isinstance(result, Response):
            return result
        return await_as(self.principal, result)

    def abort(self) -> None:
        self.inner.abort()


class _ActingWithFlow(_Acting):
    """For exchanges that relay a body elsewhere and may hold the client back (the server asks)."""

    __slots__ = ()

    def set_flow_control(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self.inner.set_flow_control(pause, resume)  # type: ignore[attr-defined]
