"""The rest of AuthN's API: revoking tokens, its config, its keys and the OIDC discovery documents.

- ``DELETE /v1/tokens {"token"}``: the token's signature must be this AuthN's (401 otherwise); expiry does
  not matter (revoking an expired token is a no-op). Idempotent. Every registered cluster then gets the
  list of live revoked tokens (``remote.push_revoked``), after the answer.
- ``GET``/``PUT /v1/daemon`` (admin): the config (``config.Settings``).
- ``GET /v1/public-key`` -> ``{"public_key": PEM}``; ``POST /v1/rotate-key`` (admin, RSA only).
- ``GET /.well-known/openid-configuration`` and ``/.well-known/jwks.json`` (cacheable for a while:
  verifiers refresh on an unknown ``kid`` anyway, so a rotation is picked up at once).
"""

from __future__ import annotations

import time

from strata.authn.context import Call
from strata.authn.model import TokenIn, decode
from strata.core.errors import InvalidRequest, MethodNotAllowed
from strata.server.http import Response
from strata.server.responses import empty_response, json_response

JWKS_MAX_AGE_SECONDS = 300


def _only(call: Call, *methods: str) -> None:
    if call.method not in methods or call.segments:
        raise MethodNotAllowed(f"{call.method} is not supported here (expected {' or '.join(methods)})")


def tokens(call: Call) -> Response:
    _only(call, "DELETE")
    message: TokenIn = decode(call.body, TokenIn, "revoke token")
    if not message.token:
        raise InvalidRequest("revoke token: no token given")
    service = call.service
    claims = service.signer.verify(message.token, check_expiry=False)
    expiry = int(claims.get("exp", 0))
    if message.token not in service.store.data.revoked:
        with service.store.change() as data:
            now_live = {token: exp for token, exp in data.revoked.items() if exp > int(time.time())}
            if expiry > int(time.time()):
                now_live[message.token] = expiry
            data.revoked = now_live
            data.revocation_version += 1
        service.push_revocations()
    return empty_response(200)


def daemon(call: Call) -> Response:
    _only(call, "GET", "PUT")
    call.require_admin()
    settings = call.service.settings
    if call.method == "PUT":
        settings.update(call.body)
        return empty_response(200)
    return json_response(settings.shown())


def public_key(call: Call) -> Response:
    _only(call, "GET")
    return json_response({"public_key": call.service.signer.public_key_pem()})


def rotate_key(call: Call) -> Response:
    _only(call, "POST")
    call.require_admin()
    signer = call.service.signer
    key = signer.rotate()
    return json_response({"kid": key.kid, "public_key": signer.public_key_pem()})


def well_known(call: Call, document: str) -> Response:
    _only(call, "GET")
    signer = call.service.signer
    issuer = signer.issuer
    if document == "openid-configuration":
        return json_response(
            {
                "issuer": issuer,
                "token_endpoint": f"{issuer}/v1/users",
                "userinfo_endpoint": f"{issuer}/v1/users",
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": [signer.method],
            }
        )
    return json_response(
        signer.jwks(), headers=[("Cache-Control", f"max-age={JWKS_MAX_AGE_SECONDS}, public")]
    )
