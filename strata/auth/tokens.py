"""JWT verification as an AIStore proxy does it (wave-2 contract 1.2-1.3), with PyJWT doing the crypto.

What is accepted: ``alg`` RS256, RS384, RS512 or HS256 -- HS384/HS512 are refused even when the
configured method is an HMAC one (the method says how to parse the key, not which algorithm to trust);
an HMAC token needs an HMAC key and an RSA token an RSA key (no algorithm confusion). ``sub`` and
``exp`` are required (4.1's ``username`` and RFC 3339 ``expires`` are read when they are missing);
``aud`` must hold one of ``required_claims.aud`` when that is set; in OIDC mode ``iss`` must equal an
allowed issuer and the key comes from its JWKS by ``kid``.

A token's signature is verified once: the decoded claims are cached per token string (bounded), and
a hit only re-checks ``exp`` and the revocation list. The cache is dropped whenever the settings
change (a new key, other audiences), so a key rotation cannot leave tokens of the old key trusted.

Messages name the header and the reason, never the token.
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from strata.auth.oidc import OidcKeys, check_kid
from strata.auth.settings import AuthSettings
from strata.core.errors import InvalidName, Unauthorized
from strata.core.names import normalize_provider

ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "HS256")
CACHE_SIZE = 4096
AUTHORIZATION = "Authorization"

warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)  # the operator chose the secret
_DECODER = jwt.PyJWT(
    options={
        "verify_signature": True,
        "verify_exp": False,  # checked here, also on every cache hit (and 4.1's "expires")
        "verify_aud": False,  # checked here against required_claims.aud
        "verify_iss": False,  # checked here against allowed_iss (OIDC only)
        "verify_iat": False,
        "verify_nbf": True,
        "verify_sub": False,
        "verify_jti": False,
        "require": [],
    }
)


class TokenRequired(Unauthorized):
    def __init__(self) -> None:
        super().__init__("token required")


class InvalidToken(Unauthorized):
    def __init__(self, header: str, reason: str) -> None:
        super().__init__(f'invalid token from header "{header}": invalid token [err: {reason}]')


class TokenRevoked(Unauthorized):
    def __init__(self, header: str) -> None:
        super().__init__(f'invalid token from header "{header}": token revoked')


@dataclass(frozen=True, slots=True)
class BucketGrant:
    """One ``buckets`` entry of a token: the permissions on one bucket of one cluster."""

    cluster: str  # the bucket's namespace uuid: the cluster it belongs to
    provider: str
    name: str
    perm: int


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says, decoded once."""

    subject: str
    expires: float  # seconds since the epoch
    admin: bool = False
    clusters: tuple[tuple[str, int], ...] = ()  # (cluster id, perm); "" applies to any cluster
    buckets: tuple[BucketGrant, ...] = ()
    audience: tuple[str, ...] = ()
    issuer: str = ""
    digest: str = ""  # SHA-256 of the token: what revocation lists hold (never the token itself)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(value: str) -> str:
    """The token of an ``Authorization: Bearer <jwt>`` value (exactly "Bearer" and one space)."""
    if not value.startswith("Bearer ") or len(value) == 7:
        raise TokenRequired()
    return value[7:]


class TokenVerifier:
    """Verifies tokens under one ``AuthSettings``; thread-safe; cached per token string."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        revoked: Callable[[str], bool] = lambda digest: False,
        oidc: OidcKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._revoked = revoked
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, Claims] = {}
        self.verifications = 0  # signatures checked (the benchmark and tests look at it)
        if settings.mode == "oidc" and oidc is None:
            oidc = OidcKeys(
                settings.issuers,
                settings.issuer_ca_bundle,
                min_rotation_refresh=settings.min_rotation_refresh,
                min_background_refresh=settings.min_background_refresh,
            )
        self.oidc = oidc

    def verify(self, token: str, header: str = AUTHORIZATION) -> Claims:
        """The token's claims, or ``Unauthorized`` (401) saying why it is refused."""
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token, header)
            with self._lock:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)))  # the oldest entry
                self._cache[token] = claims
        return self.still_valid(claims, header)

    def still_valid(self, claims: Claims, header: str = AUTHORIZATION) -> Claims:
        """Claims verified earlier, checked again for what changes with time: 401 once the token has
        expired or been revoked (every request, however its claims were found)."""
        if claims.expires <= self._clock():
            raise InvalidToken(header, "token expired")
        if self._revoked(claims.digest):
            raise TokenRevoked(header)
        return claims

    def check_signature(self, token: str, header: str = AUTHORIZATION) -> Claims:
        """The claims of a token whose signature verifies, expired or not (revocation requests)."""
        return self._decode(token, header)

    # -- decoding --------------------------------------------------------------------------------

    def _decode(self, token: str, header: str) -> Claims:
        settings = self.settings
        if settings.mode == "none":
            raise InvalidToken(header, "no key to verify tokens with (auth.signature or auth.oidc)")
        try:
            head = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(header, _reason(exc)) from None
        algorithm = head.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise InvalidToken(header, f"unsupported signing algorithm {str(algorithm)[:16]!r}")
        key = self._key(token, head, str(algorithm), header)
        self.verifications += 1
        try:
            payload = _DECODER.decode(token, key, algorithms=[str(algorithm)])
        except jwt.PyJWTError as exc:
            raise InvalidToken(header, _reason(exc)) from None
        claims = _claims(payload, header)
        if settings.audiences and not set(claims.audience) & set(settings.audiences):
            raise InvalidToken(header, "token audience does not match required_claims.aud")
        if settings.mode == "oidc" and claims.issuer not in settings.issuers:
            raise InvalidToken(header, "token issuer is not allowed")
        return Claims(
            claims.subject, claims.expires, claims.admin, claims.clusters, claims.buckets,
            claims.audience, claims.issuer, token_digest(token),
        )  # fmt: skip

    def _key(self, token: str, head: dict[str, Any], algorithm: str, header: str) -> Any:
        settings = self.settings
        if settings.mode == "static":
            if algorithm == "HS256":
                if settings.hmac_key is None:
                    raise InvalidToken(header, "HS256 token, but the cluster verifies RSA signatures")
                return settings.hmac_key
            if settings.rsa_key is None:
                raise InvalidToken(header, f"{algorithm} token, but the cluster verifies HMAC signatures")
            return settings.rsa_key
        # OIDC: the issuer's key by kid (the issuer is read before the signature is checked, to pick it)
        if algorithm == "HS256":
            raise InvalidToken(header, "HS256 tokens are not accepted from OIDC issuers")
        try:
            kid = check_kid(head.get("kid"))
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(header, _reason(exc)) from None
        except Unauthorized as exc:
            raise InvalidToken(header, exc.message) from None
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in settings.issuers:
            raise InvalidToken(header, "token issuer is not allowed")
        assert self.oidc is not None
        try:
            return self.oidc.key(issuer, kid).key
        except Unauthorized as exc:
            raise InvalidToken(header, exc.message) from None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def _claims(payload: dict[str, Any], header: str) -> Claims:
    subject = payload.get("sub") or payload.get("username")  # 4.1 read the legacy "username" too
    if not isinstance(subject, str) or not subject:
        raise InvalidToken(header, "missing 'sub' claim")
    expires = _expiry(payload, header)
    admin = payload.get("admin", False)
    if isinstance(admin, str):  # AIStore's docs show "true"; Go decodes a JSON bool
        admin = admin.lower() == "true"
    if not isinstance(admin, bool):
        raise InvalidToken(header, "'admin' claim must be a boolean")
    audience = payload.get("aud", ())
    if isinstance(audience, str):
        audience = (audience,)
    if not isinstance(audience, (list, tuple)) or not all(isinstance(aud, str) for aud in audience):
        raise InvalidToken(header, "'aud' claim must be a string or a list of strings")
    issuer = payload.get("iss", "")
    if not isinstance(issuer, str):
        raise InvalidToken(header, "'iss' claim must be a string")
    return Claims(
        subject, expires, admin, _cluster_grants(payload.get("clusters"), header),
        _bucket_grants(payload.get("buckets"), header), tuple(audience), issuer,
    )  # fmt: skip


def _expiry(payload: dict[str, Any], header: str) -> float:
    exp = payload.get("exp")
    if exp is None and isinstance(payload.get("expires"), str):  # 4.1's legacy RFC 3339 claim
        try:
            return datetime.fromisoformat(payload["expires"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise InvalidToken(header, "'expires' claim is not an RFC 3339 time") from None
    if exp is None:
        raise InvalidToken(header, "missing 'exp' claim")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise InvalidToken(header, "'exp' claim must be a number of seconds")
    return float(exp)


def _perm(value: object, header: str) -> int:
    """A permission set: a decimal string as AIStore sends it (an integer is read too)."""
    if isinstance(value, bool):
        raise InvalidToken(header, "a 'perm' must be a decimal string")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif value is None or value == "":
        number = 0
    else:
        raise InvalidToken(header, "a 'perm' must be a decimal string")
    if number >= 1 << 64:
        raise InvalidToken(header, "a 'perm' is not a uint64")
    return number


def _cluster_grants(raw: object, header: str) -> tuple[tuple[str, int], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidToken(header, "'clusters' claim must be a list")
    grants = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("id", ""), str):
            raise InvalidToken(header, "a 'clusters' entry must be an object with a string 'id'")
        grants.append((str(entry.get("id", "")), _perm(entry.get("perm"), header)))
    return tuple(grants)


def _bucket_grants(raw: object, header: str) -> tuple[BucketGrant, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidToken(header, "'buckets' claim must be a list")
    grants = []
    for entry in raw:
        bck = entry.get("bck") if isinstance(entry, dict) else None
        if not isinstance(bck, dict) or not isinstance(bck.get("name"), str):
            raise InvalidToken(header, "a 'buckets' entry must have a 'bck' with a 'name'")
        namespace = bck.get("namespace") or {}
        cluster = namespace.get("uuid", "") if isinstance(namespace, dict) else ""
        provider = bck.get("provider") or "ais"
        if not isinstance(cluster, str) or not isinstance(provider, str):
            raise InvalidToken(header, "a 'buckets' entry has a malformed 'bck'")
        try:
            provider = normalize_provider(provider)
        except InvalidName:
            raise InvalidToken(
                header, f"a 'buckets' entry names an unknown provider {provider[:16]!r}"
            ) from None
        grants.append(BucketGrant(cluster, provider, bck["name"], _perm(entry.get("perm"), header)))
    return tuple(grants)
