"""Tokens: claims from a user's roles, signed HS256 (the configured secret) or RS256 (AuthN's RSA key).

Claims (the AIS contract): ``sub``, ``iat``, ``exp``, ``iss`` (AuthN's external URL), ``aud`` (the IDs
of the clusters the ACLs name; every registered cluster for an admin), ``admin``, ``clusters``
(``[{"id", "perm": "<decimal>"}]``) and ``buckets`` (``[{"bck", "perm"}]``): the union of the roles'.
Plus ``jti``, so that two logins in one second are two tokens that can be revoked apart.

RSA keys are made here (``cryptography``) and kept in the store; ``rotate`` makes a new one that signs
from then on. A replaced key stays in the JWKS (and still verifies) while a token it signed can live
(``max_token_age``), so clusters that fetched the JWKS by ``kid`` keep accepting tokens issued before.
The JOSE work is PyJWT's; nothing here touches the cryptography beyond asking for a key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from strata.authn.config import Settings
from strata.authn.errors import Unauthorized
from strata.authn.model import Bck, User
from strata.authn.store import Database, SigningKey, Store
from strata.core.errors import InvalidRequest, NotFound

RSA_BITS = 2048
CLUSTER_CALL_SECONDS = 300  # the admin token AuthN shows a cluster when it calls it


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 key ID: SHA-256 over the required members, sorted, no whitespace."""
    canonical = json.dumps({name: jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def new_signing_key(now: int) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    kid = _thumbprint(dict(RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)))
    return SigningKey(kid=kid, private_pem=pem, created=now)


class Signer:
    """Issues and checks AuthN's tokens with the method the config says (secret set -> HS256)."""

    def __init__(self, settings: Settings, store: Store, issuer: str) -> None:
        self.settings = settings
        self.store = store
        self.issuer = issuer
        self._private: dict[str, rsa.RSAPrivateKey] = {}

    @property
    def method(self) -> str:
        return "HS256" if self.settings.secret else "RS256"

    # -- keys ----------------------------------------------------------------------------------------

    def _key(self, key: SigningKey) -> rsa.RSAPrivateKey:
        loaded = self._private.get(key.kid)
        if loaded is None:
            private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
            assert isinstance(private, rsa.RSAPrivateKey)
            loaded = self._private[key.kid] = private
        return loaded

    def _live_keys(self, data: Database) -> list[SigningKey]:
        """The signing key, then the replaced ones a live token may still carry."""
        now = int(time.time())
        oldest = now - self.settings.max_lifetime_ns // 10**9
        current = [key for key in data.keys if not key.retired]
        return current + [key for key in data.keys if key.retired and key.retired >= oldest]

    def current_key(self) -> SigningKey:
        """The RSA key that signs now; made (and stored) the first time one is needed."""
        current = next((key for key in self.store.data.keys if not key.retired), None)
        if current is None:
            with self.store.change() as data:
                current = next((key for key in data.keys if not key.retired), None)
                if current is None:
                    current = new_signing_key(int(time.time()))
                    data.keys.append(current)
        return current

    def rotate(self) -> SigningKey:
        """A new RSA key signs from now on; the one it replaces stays verifiable for ``max_token_age``."""
        if self.method != "RS256":
            raise InvalidRequest(
                "rotate-key: tokens are signed with the HMAC secret (auth.secret); only an RSA key rotates"
            )
        fresh = new_signing_key(int(time.time()))
        with self.store.change() as data:
            for key in data.keys:
                key.retired = key.retired or fresh.created
            data.keys = [*self._live_keys(data), fresh]
        return fresh

    def public_key_pem(self) -> str:
        if self.method != "RS256":
            raise NotFound("no public key: tokens are signed with the HMAC secret (auth.secret)")
        public = self._key(self.current_key()).public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem.decode()

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify live tokens (none for HMAC: a shared secret is never published)."""
        if self.method != "RS256":
            return {"keys": []}
        self.current_key()
        keys = []
        for key in self._live_keys(self.store.data):
            jwk = dict(RSAAlgorithm.to_jwk(self._key(key).public_key(), as_dict=True))
            keys.append({**jwk, "kid": key.kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    # -- tokens --------------------------------------------------------------------------------------

    def sign(self, claims: dict[str, Any]) -> str:
        if self.method == "HS256":
            return jwt.encode(claims, self.settings.secret, algorithm="HS256")
        key = self.current_key()
        return jwt.encode(claims, self._key(key), algorithm="RS256", headers={"kid": key.kid})

    def verify(self, token: str, *, check_expiry: bool = True) -> dict[str, Any]:
        """The claims of a token this AuthN signed; ``Unauthorized`` for anything else."""
        try:
            if self.method == "HS256":
                key: Any = self.settings.secret
            else:
                kid = jwt.get_unverified_header(token).get("kid")
                live = {k.kid: k for k in self._live_keys(self.store.data)}
                if kid not in live:
                    raise Unauthorized("invalid token: unknown signing key")
                key = self._key(live[kid]).public_key()
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self.method],
                options={"require": ["exp", "sub"], "verify_aud": False, "verify_exp": check_expiry},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthorized("invalid token: missing 'sub' claim")
        return claims

    def user_token(self, user: User, data: Database, lifetime_ns: int) -> str:
        return self.sign(user_claims(user, data, lifetime_ns, self.issuer))

    def cluster_call_token(self, admin_name: str, cluster_id: str) -> str:
        """A short admin token for AuthN's own calls to one cluster (``aud`` = that cluster, when known)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": admin_name,
            "iat": now,
            "exp": now + CLUSTER_CALL_SECONDS,
            "iss": self.issuer,
            "admin": True,
            "clusters": [],
        }
        if cluster_id:
            claims["aud"] = [cluster_id]
        return self.sign(claims)


def _bucket_key(bck: Bck) -> tuple[str, str, str, str]:
    return (bck.name, bck.provider, bck.namespace.uuid, bck.namespace.name)


def user_claims(user: User, data: Database, lifetime_ns: int, issuer: str) -> dict[str, Any]:
    """The union of the user's roles' ACLs as AIS claims."""
    roles = [data.roles[name] for name in user.roles if name in data.roles]
    admin = any(role.admin for role in roles)
    cluster_perms: dict[str, int] = {}
    bucket_perms: dict[tuple[str, str, str, str], tuple[Bck, int]] = {}
    for role in roles:
        for acl in role.clusters:
            cluster_perms[acl.id] = cluster_perms.get(acl.id, 0) | acl.perm
        for bacl in role.buckets:
            key = _bucket_key(bacl.bck)
            previous = bucket_perms.get(key, (bacl.bck, 0))[1]
            bucket_perms[key] = (bacl.bck, previous | bacl.perm)
    clusters = []
    for cluster_id, perm in cluster_perms.items():
        entry: dict[str, Any] = {"id": cluster_id, "perm": str(perm)}
        known = data.clusters.get(cluster_id)
        if known is not None:
            entry.update(alias=known.alias, urls=known.urls)
        clusters.append(entry)
    buckets = [
        {
            "bck": {
                "name": bck.name,
                "provider": bck.provider,
                "namespace": {"uuid": bck.namespace.uuid, "name": bck.namespace.name},
            },
            "perm": str(perm),
        }
        for bck, perm in bucket_perms.values()
    ]
    if admin:
        audience = sorted(data.clusters)
    else:
        mentioned = set(cluster_perms) | {bck.namespace.uuid for bck, _ in bucket_perms.values()}
        audience = sorted(cluster_id for cluster_id in mentioned if cluster_id)
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user.id,
        "jti": secrets.token_hex(8),  # two logins in one second are still two tokens (revoked apart)
        "iat": now,
        "exp": now + max(1, lifetime_ns // 10**9),
        "iss": issuer,
        "admin": admin,
        "clusters": clusters,
    }
    if buckets:
        claims["buckets"] = buckets
    if audience:
        claims["aud"] = audience
    return claims
