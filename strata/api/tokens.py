"""``/v1/tokens``: the two calls an AuthN service makes to a cluster it registers (wave-2 contract 1.7).

- ``POST /v1/tokens``: 200 when the request's own Bearer token is valid here (signature, expiry,
  audience, revocation), 401 otherwise -- how AuthN checks that it and the cluster share a key.
- ``DELETE /v1/tokens`` ``{"tokens": [jwt, ...], "version": "<n>"}`` (ADMIN; ``{"token": jwt}`` too):
  the tokens join the cluster's revocation list (``strata.auth.revoked``: a file shared by the workers
  embedded, etcd in a cluster); expired ones and ones that are not this cluster's are dropped.
"""

from __future__ import annotations

import msgspec

from strata.core.errors import InvalidRequest, MethodNotAllowed
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import empty_response


class _Revocation(msgspec.Struct, kw_only=True):
    tokens: list[str] = msgspec.field(default_factory=list)
    token: str = ""
    version: str | int = ""


_decode = msgspec.json.Decoder(_Revocation).decode


def route_tokens(node: Node, request: Request, rest: str) -> Response:
    if rest:
        raise InvalidRequest(f'invalid path "/v1/tokens/{rest}"')
    if request.method == "POST":
        node.gate.valid_token(request.headers)
        return empty_response()
    if request.method == "DELETE":
        try:
            revocation = _decode(request.body or b"{}")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidRequest(
                f'invalid revocation: {exc} (expected {{"tokens": ["<jwt>", ...]}})'
            ) from None
        tokens = revocation.tokens + ([revocation.token] if revocation.token else [])
        node.gate.revoke(tokens)
        return empty_response()
    raise MethodNotAllowed(f"{request.method} is not allowed on /v1/tokens")
