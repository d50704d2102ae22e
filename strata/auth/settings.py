"""What the cluster config (and the environment) say about verifying tokens, parsed once per config.

The config section (``strata.config``: ``auth``) is AIStore's, read in its 4.0, 4.1 and 5.0 spellings;
here it becomes what a verifier needs: the mode (a static key, OIDC issuers, or nothing to verify
with), the key material as ``cryptography`` objects, the audiences and issuers, and the cluster-key
knobs. ``AIS_AUTHN_PUBLIC_KEY`` (an RSA public key) takes precedence over ``AIS_AUTHN_SECRET_KEY``
(an HMAC secret), and both over ``auth.signature`` -- as on an AIStore proxy.

A key that does not parse, or auth turned on with nothing to verify tokens with, is a ``ConfigError``
(400 on set-config, a refusal to start for ``strata serve``). Key material never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from strata.config.cluster import ClusterConfig, ConfigError

ENV_PUBLIC_KEY = "AIS_AUTHN_PUBLIC_KEY"
ENV_SECRET_KEY = "AIS_AUTHN_SECRET_KEY"
HMAC_METHODS = frozenset({"HMAC", "HS256", "HS384", "HS512"})
RSA_METHODS = frozenset({"RSA", "RS256", "RS384", "RS512"})
DEFAULT_ROTATION_REFRESH = 30.0
DEFAULT_BACKGROUND_REFRESH = 900.0

Mode = Literal["none", "static", "oidc"]


@dataclass(frozen=True)
class ClusterKeySettings:
    """``auth.cluster_key`` (5.0: ``intra_cluster``): signed redirects between proxies and targets."""

    enabled: bool = False
    ttl: float = 0.0  # seconds a key is used before a new one replaces it; 0 = never rotated
    nonce_window: float = 60.0  # how long a signed redirect stays valid (and its nonce remembered)
    rotation_grace: float = 60.0  # how long a replaced key still verifies


@dataclass(frozen=True)
class AuthSettings:
    """Everything the verifier and the gate need, from one config (and the environment)."""

    enabled: bool = False  # client_auth_required (4.x: enabled)
    mode: Mode = "none"
    hmac_key: bytes | None = field(default=None, repr=False)
    rsa_key: RSAPublicKey | None = field(default=None, repr=False)
    key_source: str = ""  # "auth.signature", ENV_SECRET_KEY or ENV_PUBLIC_KEY: what to tell an operator
    audiences: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    issuer_ca_bundle: str = ""
    min_rotation_refresh: float = DEFAULT_ROTATION_REFRESH
    min_background_refresh: float = DEFAULT_BACKGROUND_REFRESH
    cluster_key: ClusterKeySettings = ClusterKeySettings()

    @property
    def method(self) -> str:
        """How tokens are checked, for status displays: "HS256", "RS*", "OIDC" or "none"."""
        if self.mode == "oidc":
            return "OIDC"
        if self.rsa_key is not None:
            return "RSA"
        return "HMAC" if self.hmac_key is not None else "none"


def auth_settings(config: ClusterConfig, environ: Mapping[str, str] | None = None) -> AuthSettings:
    """Parse ``config.auth`` with the environment's key overrides; ``ConfigError`` when it cannot work."""
    env = os.environ if environ is None else environ
    auth = config.auth
    intra = auth.intra_cluster
    cluster_key = (
        ClusterKeySettings(intra.request_auth, intra.ttl, intra.nonce_window, intra.rotation_grace)
        if intra is not None
        else ClusterKeySettings()
    )
    audiences = tuple(auth.required_claims.aud) if auth.required_claims is not None else ()
    oidc = auth.oidc
    issuers = tuple(oidc.allowed_iss) if oidc is not None else ()  # a token's iss must equal one exactly
    base = AuthSettings(enabled=auth.client_auth_required, audiences=audiences, cluster_key=cluster_key)
    public_pem, secret = env.get(ENV_PUBLIC_KEY, ""), env.get(ENV_SECRET_KEY, "")
    if public_pem:
        rsa_key = parse_rsa_public_key(public_pem, ENV_PUBLIC_KEY)
        return replace(base, mode="static", rsa_key=rsa_key, key_source=ENV_PUBLIC_KEY)
    if secret:
        return replace(base, mode="static", hmac_key=secret.encode(), key_source=ENV_SECRET_KEY)
    signature = auth.signature
    if signature is not None and signature.method and signature.key:
        if signature.method.upper() in RSA_METHODS:
            rsa_key = parse_rsa_public_key(signature.key, "auth.signature.key")
            return replace(base, mode="static", rsa_key=rsa_key, key_source="auth.signature")
        return replace(base, mode="static", hmac_key=signature.key.encode(), key_source="auth.signature")
    if issuers:
        assert oidc is not None
        cache = oidc.jwks_cache
        return replace(
            base,
            mode="oidc",
            issuers=issuers,
            issuer_ca_bundle=oidc.issuer_ca_bundle,
            min_rotation_refresh=cache.min_rotation_refresh if cache else DEFAULT_ROTATION_REFRESH,
            min_background_refresh=cache.min_background_refresh if cache else DEFAULT_BACKGROUND_REFRESH,
            key_source="auth.oidc",
        )
    if auth.client_auth_required:
        raise ConfigError(
            "auth is enabled but there is nothing to verify tokens with: set auth.signature {key, method} "
            f"or auth.oidc.allowed_iss, or {ENV_SECRET_KEY} / {ENV_PUBLIC_KEY} in the environment"
        )
    return base


def parse_rsa_public_key(text: str, where: str) -> RSAPublicKey:
    """An RSA public key as PEM, or as base64 DER (how AIStore's docs pass it in an env var)."""
    data = text.strip().encode()
    key: object
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(base64.b64decode(data, validate=False))
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"{where}: not an RSA public key in PEM or base64 DER ({type(exc).__name__})"
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"{where}: the public key is not an RSA key")
    return key
