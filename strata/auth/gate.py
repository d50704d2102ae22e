"""The gate: a request's credentials -> its ``Principal`` (or None), under the config in force now.

One ``Gate`` per worker process (``strata.roles.node.Node.gate``); both fronts ask it first, before any
work: the AIS front (``authenticate_ais``: ``Authorization: Bearer``) and the S3 front
(``authenticate_s3``: the Bearer header or the JWT in ``X-Amz-Security-Token``, else the SigV4 user).
What it decides, in order:

1. Inside a cluster (when any auth or the cluster key is on): a call signed by a peer node
   (``Ais-Caller-*`` headers) is the cluster's own work; a redirected request at a target (``pid`` and
   ``utm`` in the query) was authorized by the proxy that redirected it -- with ``cluster_key``
   enabled its signature must verify, be fresh and unused, and a client's direct write to a target is
   refused; without it an unsigned redirect is trusted (an open front, reported by ``open_fronts``).
2. With ``auth.enabled``: a valid, unexpired, unrevoked token is required (401 otherwise; S3 answers
   403), and becomes a ``TokenPrincipal``.
3. With S3 users but no token auth: the S3 user whose signature verified, or the anonymous principal
   (what canned ACLs grant) -- on ``/v1`` too, so the AIS API cannot do what S3 would refuse.
4. Nothing configured: None, and only the buckets' ``access`` bits apply.

The settings are parsed once per config object (configs are immutable; a set-config makes a new one),
and the token cache goes with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from strata.auth import cluster_key
from strata.auth.cluster_key import KeyRing, NonceLedger, NonceSource
from strata.auth.principals import (
    AnonymousPrincipal,
    OwnerLookup,
    Principal,
    S3UserPrincipal,
    TokenPrincipal,
)
from strata.auth.revoked import NoRevocations, RevokedTokens
from strata.auth.settings import AuthSettings, auth_settings
from strata.auth.tokens import (
    AUTHORIZATION,
    CACHE_SIZE,
    Claims,
    InvalidToken,
    TokenRequired,
    TokenVerifier,
    bearer_token,
)
from strata.config.cluster import ClusterConfig, ConfigError
from strata.core.errors import Unauthorized

log = logging.getLogger("strata.auth")

AMZ_SECURITY_TOKEN = "X-Amz-Security-Token"
_READS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class _State:
    config: ClusterConfig
    settings: AuthSettings
    verifier: TokenVerifier
    s3_users: bool
    error: str = ""  # the settings do not parse (e.g. auth on, no key on this node): refuse every token
    # token -> its principal, resolved for this cluster once (the verifier still checks expiry and
    # revocation on every request); dropped with the settings
    principals: dict[str, TokenPrincipal] = field(default_factory=dict)
    # the whole Authorization header -> its principal: a request with a token seen before skips the
    # parsing and the verifier's cache (expiry and revocation are still checked every time)
    by_header: dict[str, TokenPrincipal] = field(default_factory=dict)

    @property
    def guards_cluster(self) -> bool:
        """Must calls and redirects between nodes be checked?"""
        return self.settings.enabled or self.s3_users or self.settings.cluster_key.enabled


class Gate:
    def __init__(
        self,
        config: Callable[[], ClusterConfig],
        cluster_uuid: Callable[[], str],
        revoked: RevokedTokens | None = None,
        *,
        node_id: str = "",
        in_cluster: bool = False,
        is_target: bool = False,
        keyring: Callable[[], KeyRing] | None = None,
        nonces: NonceLedger | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._cluster_uuid = cluster_uuid
        self.revoked: RevokedTokens = revoked if revoked is not None else NoRevocations()
        self.node_id = node_id
        self.in_cluster = in_cluster
        self.is_target = is_target
        self._keyring = keyring
        self._nonces = nonces
        self._nonce_source = NonceSource()
        self._environ = environ
        self._clock = clock
        self._state: _State | None = None
        self._open_config: ClusterConfig | None = None  # the config last seen, if it needs no checks
        self._uuid = ""
        self.owners: OwnerLookup = lambda name: None  # the S3 front installs its bucket records

    # -- settings ------------------------------------------------------------------------------

    def state(self) -> _State:
        config = self._config()
        state = self._state
        if state is not None and state.config is config:
            return state
        error = ""
        try:
            settings = auth_settings(config, self._environ)
        except ConfigError as exc:
            error = exc.message
            log.error("auth cannot verify tokens on this node, refusing them all: %s", error)
            settings = AuthSettings(enabled=True)
        previous = state.verifier if state is not None else None
        if previous is not None and previous.settings == settings:
            verifier = previous  # same keys and rules (another section changed): keep the cache
        else:
            verifier = TokenVerifier(settings, revoked=self.revoked.is_revoked, clock=self._clock)
            if verifier.oidc is not None:
                verifier.oidc.preload_in_background()
        s3 = config.s3
        state = _State(config, settings, verifier, bool(s3 is not None and s3.users), error)
        self._state = state
        # a config under which no /v1 request has a principal or a check to pass (see authenticate_ais)
        self._open_config = config if not (state.guards_cluster or settings.enabled) else None
        return state

    @property
    def active(self) -> bool:
        """Is any authentication configured (tokens or S3 users)?"""
        state = self.state()
        return state.settings.enabled or state.s3_users

    # -- the two fronts ------------------------------------------------------------------------------

    def authenticate_ais(
        self, method: str, path: str, raw_query: str, headers: Mapping[str, str]
    ) -> Principal | None:
        if self._config() is self._open_config:  # nothing configured: the hot path's one question
            return None
        state = self.state()
        if (
            self.in_cluster
            and state.guards_cluster
            and self._cluster_trust(state, method, path, raw_query, headers)
        ):
            return None
        if state.settings.enabled:
            value = headers.get("authorization") or ""
            known = state.by_header.get(value)  # the hot path: a token seen before
            if known is not None:
                state.verifier.still_valid(known.claims, AUTHORIZATION)
                return known
            principal = self._token_principal(state, value, AUTHORIZATION)
            if len(state.by_header) >= CACHE_SIZE:
                state.by_header.clear()
            state.by_header[value] = principal
            return principal
        if state.s3_users:
            return AnonymousPrincipal(self.owners)
        return None

    def s3_token(self, headers: Mapping[str, str], query_token: str = "") -> tuple[str, str] | None:
        """``(token, header name)`` when token auth is on and the request carries a JWT for it: the
        Bearer header, else ``X-Amz-Security-Token`` (a header, or ``query_token``: the same parameter
        in a presigned URL's query)."""
        if not self.state().settings.enabled:
            return None
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer"):
            return bearer_token(authorization), AUTHORIZATION
        security_token = headers.get("x-amz-security-token", "") or query_token
        if security_token:
            return security_token, AMZ_SECURITY_TOKEN
        return None

    def authenticate_s3(
        self,
        method: str,
        path: str,
        raw_query: str,
        headers: Mapping[str, str],
        *,
        token: tuple[str, str] | None,
        user: tuple[str, bool] | None,
    ) -> Principal | None:
        """``token`` from ``s3_token``; ``user``: (name, admin) of the S3 user whose signature verified."""
        state = self.state()
        if self.in_cluster and state.guards_cluster:
            self._cluster_trust(state, method, path, raw_query, headers)  # a forwarded call: the channel
        if token is not None:
            return self._token_principal(state, token[0], token[1], raw=True)
        if state.settings.enabled:
            raise TokenRequired()
        if user is not None:
            return S3UserPrincipal(user[0], user[1], self.owners)
        if state.s3_users:
            return AnonymousPrincipal(self.owners)
        return None

    def _token_principal(
        self, state: _State, value: str | None, header: str, raw: bool = False
    ) -> TokenPrincipal:
        if not value:
            raise TokenRequired()
        token = value if raw else bearer_token(value)
        if state.error:
            raise InvalidToken(header, "auth is misconfigured on this node (see its log)")
        claims = state.verifier.verify(token, header)  # cached: expiry and revocation checked every time
        principal = state.principals.get(token)
        if principal is None or principal.claims is not claims:
            if len(state.principals) >= CACHE_SIZE:
                state.principals.clear()
            principal = state.principals[token] = TokenPrincipal(claims, self.cluster_uuid())
        return principal

    def cluster_uuid(self) -> str:
        """The cluster's UUID (tokens name the cluster by it); read once it is known: it never changes."""
        uuid = self._uuid
        if not uuid:
            uuid = self._uuid = self._cluster_uuid()
        return uuid

    def _cluster_trust(
        self, state: _State, method: str, path: str, raw_query: str, headers: Mapping[str, str]
    ) -> bool:
        """True for a peer's verified call or a target's verified (or, without the key, unsigned)
        redirect; raises for a bad signature, and for a client's direct write to a target when the
        cluster key is on."""
        if cluster_key.CALLER_SIG in headers:
            cluster_key.verify_call(
                headers, method, path, self._verifying_keys(state), time.time_ns(),
                state.settings.cluster_key.nonce_window,
            )  # fmt: skip
            return True
        if not self.is_target:
            return False
        params = cluster_key.redirect_params(raw_query) if raw_query else None
        signing = state.settings.cluster_key.enabled
        if params is not None:
            if signing:
                length = headers.get("content-length", "")
                cluster_key.verify_redirect(
                    params, method=method, path=path, content_length=_length(length),
                    keys=self._verifying_keys(state), now_ns=time.time_ns(),
                    window_s=state.settings.cluster_key.nonce_window, nonces=self._ledger(),
                )  # fmt: skip
            return True  # signed and verified, or unsigned while the cluster key is off (an open front)
        if signing and method not in _READS:
            raise cluster_key.direct_access_denied()
        return False

    def _verifying_keys(self, state: _State) -> list[bytes]:
        ring = self._keyring() if self._keyring is not None else KeyRing()
        keys = ring.verifying(time.time_ns(), state.settings.cluster_key.rotation_grace)
        if not keys:
            raise Unauthorized("the cluster has no key to verify signatures with yet")
        return keys

    def _ledger(self) -> NonceLedger:
        if self._nonces is None:
            raise Unauthorized("this node keeps no nonce ledger: signed redirects cannot be accepted")
        return self._nonces

    # -- redirects -------------------------------------------------------------------------------

    def redirect_location(
        self, location: str, *, method: str, path: str, headers: Mapping[str, str], map_version: int
    ) -> str:
        """A proxy's 307 ``Location``: the redirect marker always (``pid``, ``utm``), the signature when
        ``cluster_key`` is enabled."""
        if not self.in_cluster:
            return location
        state = self.state()
        now = time.time_ns()
        ring = self._keyring() if self._keyring is not None else KeyRing()
        current = ring.current
        if not state.settings.cluster_key.enabled or current is None:
            separator = "&" if "?" in location else "?"
            return f"{location}{separator}pid={self.node_id}&utm={cluster_key.base36(now)}"
        length = headers.get("content-length", "")
        return cluster_key.sign_redirect(
            location, method=method, path=path, proxy_id=self.node_id, map_version=map_version,
            content_length=_length(length), key=current.secret,
            nonce=self._nonce_source.next(), now_ns=now,
        )  # fmt: skip

    # -- tokens endpoints and config changes ----------------------------------------------------------

    def valid_token(self, headers: Mapping[str, str]) -> Claims:
        """``POST /v1/tokens``: the Bearer token's claims if it is valid now (401 otherwise)."""
        state = self.state()
        value = headers.get("authorization")
        if not value:
            raise TokenRequired()
        return state.verifier.verify(bearer_token(value))

    def revoke(self, tokens: list[str]) -> int:
        """Record tokens as revoked (those whose signature verifies and that have not expired);
        returns how many were recorded."""
        verifier = self.state().verifier
        now = self._clock()
        entries = []
        for token in tokens:
            try:
                claims = verifier.check_signature(token)
            except Unauthorized:
                continue  # not one of ours: it is refused anyway
            if claims.expires > now:
                entries.append((claims.digest, claims.expires))
        if entries:
            self.revoked.revoke(entries)
        return len(entries)

    def vet_config(self, headers: Mapping[str, str], old: ClusterConfig, new: ClusterConfig) -> None:
        """A set-config: the new auth settings must work (400), and turning token auth on needs a valid
        admin token under the new settings in the same request (401)."""
        settings = auth_settings(new, self._environ)
        if old.auth.client_auth_required or not new.auth.client_auth_required:
            return
        value = headers.get("authorization")
        if not value:
            raise Unauthorized(
                "turning auth on needs a valid admin token in the same request: token required"
            )
        verifier = TokenVerifier(settings, revoked=self.revoked.is_revoked, clock=self._clock)
        claims = verifier.verify(bearer_token(value))
        if not claims.admin:
            raise Unauthorized(
                f"turning auth on needs an admin token; user `{claims.subject}` is not an admin"
            )

    # -- what an operator must know --------------------------------------------------------------

    def open_fronts(self) -> list[str]:
        """Fronts that serve requests the configured auth would refuse (said at start and in
        ``strata show cluster``)."""
        state = self.state()
        found = (
            [f"auth is misconfigured on this node and refuses every token: {state.error}"]
            if state.error
            else []
        )
        return found + open_fronts(state.config, in_cluster=self.in_cluster)

    def describe(self) -> dict[str, object]:
        """The auth status (no key material): mode, key source, audiences, issuers, open fronts."""
        state = self.state()
        settings = state.settings
        return {
            "enabled": settings.enabled,
            "method": settings.method,
            "key_source": settings.key_source,
            "audiences": list(settings.audiences),
            "issuers": list(settings.issuers),
            "s3_users": state.s3_users,
            "cluster_key": settings.cluster_key.enabled,
            "open_fronts": self.open_fronts(),
        }


def _length(header: str) -> int:
    """A Content-Length header as signed: its number, 0 when absent (chunked) or not ASCII digits."""
    return int(header) if header.isascii() and header.isdigit() else 0


def open_fronts(config: ClusterConfig, *, in_cluster: bool) -> list[str]:
    """What a config leaves open while it configures authentication (empty: nothing)."""
    s3 = config.s3
    if not (config.auth.client_auth_required or (s3 is not None and s3.users)):
        return []
    intra = config.auth.intra_cluster
    if in_cluster and not (intra is not None and intra.request_auth):
        return [
            "targets trust unsigned redirects (auth.cluster_key is off): a client that reaches a target "
            "directly with pid= and utm= in the query bypasses authentication; enable auth.cluster_key"
        ]
    return []
