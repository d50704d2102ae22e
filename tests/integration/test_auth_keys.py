"""Tokens signed with RSA keys: a static public key (config or ``AIS_AUTHN_PUBLIC_KEY``) and OIDC issuers
(discovery + JWKS over HTTPS with a test CA, key rotation, the refresh rate limit). Also the S3-users-only
config: ``/v1`` refuses what S3 refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from . import auth_support as support
from .auth_support import bearer, mint, public_pem
from .oidc_issuer import Issuer
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)


def _hs256_by_hand(claims: dict[str, object], secret: str) -> str:
    """An HS256 token made without PyJWT (which refuses a PEM public key as an HMAC secret)."""

    def encode(part: bytes) -> bytes:
        return base64.urlsafe_b64encode(part).rstrip(b"=")

    signing_input = encode(b'{"alg":"HS256","typ":"JWT"}') + b"." + encode(json.dumps(claims).encode())
    signature = encode(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


def _get(server: StrataServer, token: str | None, path: str = "/v1/buckets") -> requests.Response:
    return requests.get(server.endpoint + path, headers=bearer(token) if token else {}, timeout=15)


# -- a static RSA public key -------------------------------------------------------------------------


def test_rsa_public_key_from_the_environment(tmp_path: Path) -> None:
    key = support.rsa_private_key()
    config = support.auth_config(tmp_path / "config.json", {"enabled": True})  # the key comes from the env
    server = StrataServer(
        tmp_path / "data", tmp_path / "server.log", config_path=config, workers=1,
        env={"AIS_AUTHN_PUBLIC_KEY": public_pem(key)},
    ).start()  # fmt: skip
    try:
        for algorithm in ("RS256", "RS384", "RS512"):
            token = mint("admin", admin=True, audience=None, key=key, algorithm=algorithm)
            assert _get(server, token).status_code == 200, algorithm
        other = support.rsa_private_key()
        forged = _get(server, mint("admin", admin=True, audience=None, key=other, algorithm="RS256"))
        assert forged.status_code == 401 and "Signature verification failed" in forged.json()["message"]
        # algorithm confusion: an HS256 token "signed" with the public key as its secret
        confused = _hs256_by_hand(
            {"sub": "admin", "admin": True, "exp": int(time.time()) + 600}, public_pem(key)
        )
        assert _get(server, confused).status_code == 401
        shown = _get(server, mint("admin", admin=True, audience=None, key=key, algorithm="RS256"),
                     "/v1/daemon?what=auth").json()  # fmt: skip
        assert shown["method"] == "RSA" and shown["key_source"] == "AIS_AUTHN_PUBLIC_KEY"
    finally:
        server.stop()


def test_rsa_public_key_in_the_config_and_a_bad_one(tmp_path: Path) -> None:
    key = support.rsa_private_key()
    config = support.auth_config(
        tmp_path / "config.json", {"enabled": True, "signature": {"key": public_pem(key), "method": "rsa"}}
    )
    server = StrataServer(tmp_path / "data", tmp_path / "server.log", config_path=config, workers=1).start()
    try:
        admin = mint("admin", admin=True, audience=None, key=key, algorithm="RS256")
        assert _get(server, admin).status_code == 200
        assert _get(server, mint("admin", admin=True, audience=None)).status_code == 401  # HS256: no HMAC key
        bad = {
            "action": "set-config",
            "value": {"auth": {"signature": {"key": "not a key", "method": "RS256"}}},
        }
        answer = requests.put(f"{server.endpoint}/v1/cluster", json=bad, headers=bearer(admin), timeout=15)
        assert answer.status_code == 400 and "not an RSA public key" in answer.json()["message"]
        assert _get(server, admin).status_code == 200  # the old key still in force
    finally:
        server.stop()


# -- OIDC ------------------------------------------------------------------------------------------------


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    server = Issuer(tmp_path)
    yield server
    server.close()


def _oidc_token(issuer: Issuer, kid: str, subject: str = "oidc-admin", **claims: object) -> str:
    claims.setdefault("iss", issuer.url)
    return mint(subject, admin=True, audience=None, key=issuer.keys[kid], algorithm="RS256",
                headers={"kid": kid}, **claims)  # fmt: skip


def test_oidc_discovery_jwks_rotation_and_the_refresh_limit(tmp_path: Path, issuer: Issuer) -> None:
    issuer.add_key("k1")
    config = support.auth_config(
        tmp_path / "config.json",
        {
            "enabled": True,
            "oidc": {
                "allowed_iss": [issuer.url],
                "issuer_ca_bundle": str(issuer.ca_bundle),
                "jwks_cache": {"min_rotation_refresh": "2s"},
            },
        },
    )
    server = StrataServer(tmp_path / "data", tmp_path / "server.log", config_path=config, workers=1).start()
    try:
        first = _oidc_token(issuer, "k1")
        assert _get(server, first).status_code == 200, _get(server, first).text
        # refusals: another issuer, no kid, a malformed kid, an HS256 token, an unknown kid
        wrong_iss = _oidc_token(issuer, "k1", iss="https://elsewhere.example")
        assert "issuer is not allowed" in _get(server, wrong_iss).json()["message"]
        no_kid = mint(
            "x", admin=True, audience=None, key=issuer.keys["k1"], algorithm="RS256", iss=issuer.url
        )
        assert "kid" in _get(server, no_kid).json()["message"]
        bad_kid = mint("x", admin=True, audience=None, key=issuer.keys["k1"], algorithm="RS256",
                       iss=issuer.url, headers={"kid": "../etc"})  # fmt: skip
        assert _get(server, bad_kid).status_code == 401
        hmac_token = mint("x", admin=True, audience=None, iss=issuer.url, headers={"kid": "k1"})
        assert _get(server, hmac_token).status_code == 401
        # rotation: the issuer replaces k1 by k2; a token with k2 makes the node fetch the set again
        time.sleep(2.1)
        issuer.keys.clear()
        issuer.add_key("k2")
        fetches = issuer.fetches
        second = _oidc_token(issuer, "k2")
        assert _get(server, second).status_code == 200
        assert issuer.fetches == fetches + 1
        assert _get(server, first).status_code == 200  # verified before: its claims are cached until exp
        # a burst of unknown kids refreshes at most once per min_rotation_refresh
        fetches = issuer.fetches
        issuer.add_key("k3")
        unknown = [_oidc_token(issuer, "k3", subject=f"u{i}") for i in range(3)]
        issuer.keys.pop("k3")  # published never again: k3 tokens keep missing
        for token in unknown * 3:
            assert _get(server, token).status_code == 401
        assert issuer.fetches <= fetches + 1
    finally:
        server.stop()


def test_oidc_issuer_with_an_untrusted_certificate_is_refused(tmp_path: Path, issuer: Issuer) -> None:
    issuer.add_key("k1")
    config = support.auth_config(
        tmp_path / "config.json", {"enabled": True, "oidc": {"allowed_iss": [issuer.url]}}
    )
    server = StrataServer(tmp_path / "data", tmp_path / "server.log", config_path=config, workers=1).start()
    try:  # no issuer_ca_bundle: the system's store does not know the test CA
        answer = _get(server, _oidc_token(issuer, "k1"))
        assert answer.status_code == 401
        assert issuer.fetches == 0
    finally:
        server.stop()


# -- S3 users and no token auth: the side door is shut ------------------------------------------------


def test_s3_users_only_v1_refuses_what_s3_refuses(tmp_path: Path) -> None:
    users = {"alice": {"access_key": "AKIAALICE0000000", "secret_key": "alice-secret-key"}}
    config = support.auth_config(tmp_path / "config.json", {}, s3={"users": users})
    server = StrataServer(tmp_path / "data", tmp_path / "server.log", config_path=config, workers=1).start()
    try:
        import boto3
        from botocore.config import Config

        alice = boto3.client(
            "s3", endpoint_url=f"{server.endpoint}/s3", aws_access_key_id="AKIAALICE0000000",
            aws_secret_access_key="alice-secret-key", region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )  # fmt: skip
        private, public = f"priv-{uuid.uuid4().hex[:8]}", f"pub-{uuid.uuid4().hex[:8]}"
        alice.create_bucket(Bucket=private)
        alice.create_bucket(Bucket=public, ACL="public-read")
        for name in (private, public):
            alice.put_object(Bucket=name, Key="k", Body=b"v")
        v1 = f"{server.endpoint}/v1"
        # anonymous /v1: no create, no destroy, no overwrite, no read of a private bucket
        assert (
            requests.post(f"{v1}/buckets/new-bucket", json={"action": "create-bck"}, timeout=15).status_code
            == 403
        )
        assert requests.delete(f"{v1}/buckets/{private}", timeout=15).status_code == 403
        assert requests.put(f"{v1}/objects/{private}/k", data=b"x", timeout=15).status_code == 403
        assert requests.get(f"{v1}/objects/{private}/k", timeout=15).status_code == 403
        assert requests.get(f"{v1}/buckets", timeout=15).status_code == 403
        assert requests.put(f"{v1}/objects/{public}/k", data=b"x", timeout=15).status_code == 403
        # what S3 grants everyone, /v1 grants too
        assert requests.get(f"{v1}/objects/{public}/k", timeout=15).content == b"v"
        assert requests.get(f"{server.endpoint}/s3/{public}/k", timeout=15).content == b"v"
        assert alice.get_object(Bucket=private, Key="k")["Body"].read() == b"v"
        assert requests.get(f"{v1}/health", timeout=15).status_code == 200
    finally:
        server.stop()
