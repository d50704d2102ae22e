"""The auth package on its own: config to settings, token verification and its cache, the permission
order of token claims, S3 principals, signed redirects and node-to-node calls, the nonce ledger."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from strata.auth.cluster_key import (
    KeyRing,
    NonceLedger,
    NonceSource,
    redirect_params,
    sign_call,
    sign_redirect,
    verify_call,
    verify_redirect,
)
from strata.auth.oidc import IssuerKeys, KeyUnavailable, check_kid
from strata.auth.principals import AnonymousPrincipal, S3UserPrincipal, TokenPrincipal, require
from strata.auth.revoked import RECHECK_S, FileRevokedTokens
from strata.auth.settings import auth_settings
from strata.auth.tokens import Claims, TokenVerifier, token_digest
from strata.config.access import ACCESS_ADMIN, ACCESS_CREATE_BUCKET, ACCESS_GET, ACCESS_PUT, ACCESS_RO
from strata.config.cluster import ConfigError, default_cluster_config, update_cluster_config
from strata.core.errors import Forbidden, InvalidRequest, Unauthorized
from strata.core.names import BucketRef

SECRET = "unit-secret-long-enough-for-hs256-0123456789"


def _settings(auth: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    return auth_settings(update_cluster_config(default_cluster_config(), {"auth": auth}), environ or {})


def _token(**claims: Any) -> str:
    claims.setdefault("sub", "u")
    claims.setdefault("exp", int(time.time()) + 600)
    return jwt.encode(claims, SECRET, algorithm="HS256")


# -- settings -----------------------------------------------------------------------------------


def test_the_three_config_forms_give_the_same_settings() -> None:
    v40 = _settings({"enabled": True, "secret": SECRET})
    v41 = _settings({"enabled": True, "signature": {"key": SECRET, "method": "hs256"}})
    v50 = _settings({"client_auth_required": True, "signature": {"key": SECRET, "method": "HMAC"}})
    assert v40.hmac_key == v41.hmac_key == v50.hmac_key == SECRET.encode()
    assert v40.enabled and v41.enabled and v50.enabled
    keyed = _settings(
        {"enabled": True, "cluster_key": {"enabled": True, "ttl": "2h", "nonce_window": "30s"}},
        {"AIS_AUTHN_SECRET_KEY": SECRET},
    )
    assert (
        keyed.cluster_key.enabled and keyed.cluster_key.ttl == 7200 and keyed.cluster_key.nonce_window == 30
    )
    assert keyed.key_source == "AIS_AUTHN_SECRET_KEY"


def test_auth_on_needs_something_to_verify_with() -> None:
    with pytest.raises(ConfigError, match="nothing to verify tokens with"):
        _settings({"enabled": True})
    assert _settings({"enabled": True}, {"AIS_AUTHN_SECRET_KEY": "x" * 40}).mode == "static"
    with pytest.raises(ConfigError, match="not an RSA public key"):
        _settings({"enabled": True, "signature": {"key": "garbage", "method": "RS256"}})
    assert _settings({"enabled": False}).mode == "none"


def test_secret_is_not_in_the_settings_repr() -> None:
    assert SECRET not in repr(_settings({"enabled": True, "secret": SECRET}))


# -- tokens -------------------------------------------------------------------------------------


def test_signature_verified_once_then_expiry_rechecked() -> None:
    now = [time.time()]
    verifier = TokenVerifier(_settings({"enabled": True, "secret": SECRET}), clock=lambda: now[0])
    token = _token(exp=int(now[0]) + 10)
    for _ in range(5):
        assert verifier.verify(token).subject == "u"
    assert verifier.verifications == 1
    now[0] += 11
    with pytest.raises(Unauthorized, match="token expired"):
        verifier.verify(token)


def test_revoked_tokens_are_refused_even_when_cached(tmp_path: Path) -> None:
    revoked = FileRevokedTokens(str(tmp_path))
    verifier = TokenVerifier(_settings({"enabled": True, "secret": SECRET}), revoked=revoked.is_revoked)
    token = _token()
    verifier.verify(token)
    FileRevokedTokens(str(tmp_path)).revoke([(token_digest(token), time.time() + 600)])  # another worker
    time.sleep(RECHECK_S + 0.01)  # this one looks at the shared list again within RECHECK_S
    with pytest.raises(Unauthorized, match="token revoked"):
        verifier.verify(token)
    assert token not in (tmp_path / "auth" / "revoked.json").read_text()


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "other"}, "audience"),
        ({"admin": 5}, "admin"),
        ({"buckets": [{"bck": {"name": 1}}]}, "buckets"),
        ({"clusters": [{"id": "", "perm": "rw"}]}, "perm"),
        ({"exp": "tomorrow"}, "exp"),
    ],
)
def test_malformed_claims_are_401(claims: dict[str, Any], reason: str) -> None:
    verifier = TokenVerifier(
        _settings({"enabled": True, "secret": SECRET, "required_claims": {"aud": ["a"]}})
    )
    claims.setdefault("aud", "a")
    with pytest.raises(Unauthorized, match=reason):
        verifier.verify(_token(**claims))


def test_legacy_username_and_expires_claims() -> None:
    verifier = TokenVerifier(_settings({"enabled": True, "secret": SECRET}))
    token = jwt.encode({"username": "old", "expires": "2999-01-01T00:00:00Z"}, SECRET, algorithm="HS256")
    assert verifier.verify(token).subject == "old"


# -- permissions ---------------------------------------------------------------------------------


def _principal(**claims: Any) -> TokenPrincipal:
    base = {"subject": "u", "expires": time.time() + 60}
    base.update(claims)
    return TokenPrincipal(Claims(**base), "cluster-1")


def test_token_permission_order() -> None:
    from strata.auth.tokens import BucketGrant

    b, other = BucketRef.parse("b", "ais"), BucketRef.parse("other", "ais")
    admin = _principal(admin=True)
    assert admin.allows(ACCESS_ADMIN | ACCESS_PUT, b)
    cluster_rw = _principal(clusters=(("cluster-1", ACCESS_RO | ACCESS_PUT),))
    assert cluster_rw.allows(ACCESS_PUT, other)
    assert not cluster_rw.allows(ACCESS_CREATE_BUCKET, None)
    # a bucket entry decides alone, even against a broader cluster entry
    narrow = _principal(
        clusters=(("", ACCESS_RO),), buckets=(BucketGrant("cluster-1", "ais", "b", ACCESS_PUT),)
    )
    assert narrow.allows(ACCESS_PUT, b) and not narrow.allows(ACCESS_GET, b)
    assert narrow.allows(ACCESS_GET, other)  # the "" cluster entry applies to any cluster
    foreign = _principal(buckets=(BucketGrant("cluster-2", "ais", "b", ACCESS_RO),))
    assert not foreign.allows(ACCESS_GET, b)
    with pytest.raises(Forbidden, match=r"user `u` has insufficient permissions: \[GET\]"):
        require(foreign, ACCESS_GET, b)


class _Record:
    def __init__(self, owner: str, acl: str) -> None:
        self.owner, self.acl = owner, acl


def test_s3_principals_follow_owners_and_canned_acls() -> None:
    records = {
        "alices": _Record("alice", "private"),
        "public": _Record("alice", "public-read"),
        "shared": None,
    }
    lookup = records.get
    b = BucketRef.parse
    alice, bob = S3UserPrincipal("alice", False, lookup), S3UserPrincipal("bob", False, lookup)  # type: ignore[arg-type]
    anonymous = AnonymousPrincipal(lookup)  # type: ignore[arg-type]
    assert alice.allows(ACCESS_PUT, b("alices", "ais")) and not bob.allows(ACCESS_GET, b("alices", "ais"))
    assert bob.allows(ACCESS_GET, b("public", "ais")) and not bob.allows(ACCESS_PUT, b("public", "ais"))
    assert bob.allows(ACCESS_PUT, b("shared", "ais")) and not anonymous.allows(ACCESS_GET, b("shared", "ais"))
    assert anonymous.allows(ACCESS_GET, b("public", "ais")) and not anonymous.allows(
        ACCESS_PUT, b("public", "ais")
    )
    assert bob.allows(ACCESS_CREATE_BUCKET, None) and not anonymous.allows(ACCESS_CREATE_BUCKET, None)
    assert not bob.allows(ACCESS_ADMIN, None) and S3UserPrincipal("root", True, lookup).allows(
        ACCESS_ADMIN, None
    )  # type: ignore[arg-type]


# -- signed redirects and calls ------------------------------------------------------------------------


def test_signed_redirect_verifies_once_and_refuses_tampering(tmp_path: Path) -> None:
    ring = KeyRing().rotated(time.time_ns(), 60)
    key = ring.current.secret  # type: ignore[union-attr]
    now = time.time_ns()
    ledger = NonceLedger(str(tmp_path / "nonces.sqlite"))
    url = sign_redirect(
        "http://t:1/v1/objects/b/o?provider=ais",
        method="PUT",
        path="/v1/objects/b/o",
        proxy_id="p1",
        map_version=7,
        content_length=5,
        key=key,
        nonce=42,
        now_ns=now,
    )
    params = redirect_params(url.partition("?")[2])
    assert params is not None and len(params["u"]) == 43

    def check(**changes: Any) -> None:
        args: dict[str, Any] = {
            "method": "PUT",
            "path": "/v1/objects/b/o",
            "content_length": 5,
            "keys": ring.verifying(now, 60),
            "now_ns": now,
            "window_s": 60,
            "nonces": ledger,
        }
        given = dict(params)  # type: ignore[arg-type]
        given.update(changes.pop("params", {}))
        args.update(changes)
        verify_redirect(given, **args)

    for tampered in (
        {"path": "/v1/objects/b/other"},
        {"method": "DELETE"},
        {"content_length": 6},
        {"params": {"pid": "p2"}},
        {"params": {"x": "43"}},
        {"params": {"utm": "1"}},
    ):
        with pytest.raises(Unauthorized, match="mismatch"):
            check(**tampered)
    with pytest.raises(InvalidRequest):
        check(params={"u": "short"})
    with pytest.raises(Unauthorized, match="expired"):
        check(now_ns=now + 61 * 10**9)
    check()
    with pytest.raises(Unauthorized, match="replayed"):
        check()
    with pytest.raises(Unauthorized, match="not signed"):
        check(params={"u": ""})


def test_key_rotation_keeps_the_old_key_for_the_grace() -> None:
    start = time.time_ns()
    ring = KeyRing().rotated(start, 60)
    old = ring.current.secret  # type: ignore[union-attr]
    rotated = ring.rotated(start + 10**9, 60)
    assert rotated.current.secret != old and rotated.current.version == 2  # type: ignore[union-attr]
    assert old in rotated.verifying(start + 30 * 10**9, 60)
    assert old not in rotated.verifying(start + 62 * 10**9, 60)
    assert len(rotated.rotated(start + 200 * 10**9, 60).keys) == 2  # past-grace keys are dropped


def test_signed_calls() -> None:
    key, now = b"k" * 16, time.time_ns()
    headers = sign_call("GET", "/v1/daemon", "t1", key, NonceSource(3).next(), now)
    assert verify_call(headers, "GET", "/v1/daemon", [key], now, 60) == "t1"
    with pytest.raises(Unauthorized):
        verify_call(headers, "GET", "/v1/other", [key], now, 60)
    with pytest.raises(Unauthorized):
        verify_call({**headers, "ais-caller-id": "t2"}, "GET", "/v1/daemon", [key], now, 60)
    with pytest.raises(Unauthorized):
        verify_call(headers, "GET", "/v1/daemon", [key], now + 120 * 10**9, 60)


def test_nonces_are_unique_across_worker_slots() -> None:
    first, second = NonceSource(0), NonceSource(1)
    seen = {first.next() for _ in range(1000)} | {second.next() for _ in range(1000)}
    assert len(seen) == 2000


# -- OIDC key sets --------------------------------------------------------------------------------------


def test_issuer_keys_refresh_on_a_miss_at_most_once_per_interval() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published: dict[str, Any] = {"keys": []}
    calls: list[str] = []
    clock = [0.0]

    def fetch(url: str) -> Any:
        calls.append(url)
        if url.endswith("openid-configuration"):
            return {"jwks_uri": "https://issuer/jwks"}
        return published

    keys = IssuerKeys(
        "https://issuer/", fetch, min_rotation_refresh=30, min_background_refresh=900, clock=lambda: clock[0]
    )
    with pytest.raises(KeyUnavailable):
        keys.key("k1")
    entry = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    published["keys"] = [{**entry, "kid": "k1", "use": "sig"}]
    with pytest.raises(KeyUnavailable):
        keys.key("k1")  # within the interval: no new fetch
    assert calls == ["https://issuer/.well-known/openid-configuration", "https://issuer/jwks"]
    clock[0] = 31
    assert keys.key("k1") is not None
    assert len(calls) == 3
    for bad in ("", "a/b", "x" * 257, 5):
        with pytest.raises(KeyUnavailable):
            check_kid(bad)
