"""Bad input to ``strata authn`` gets a clear 4xx in AIS's error JSON, never a 5xx.

The SDK retries 5xx for about 90 seconds, so a malformed body or header answered with a 500 would hang
a client for a minute and a half. Each case below is sent raw (``requests``) to a real process, with
the admin's token where the endpoint needs one, and must come back 4xx with a ``message``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aistore.sdk.authn import AuthNClient

from .authn_support import ADMIN_PASSWORD, AuthnServer, start_authn


@pytest.fixture(scope="module")
def authn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthnServer]:
    srv = start_authn(tmp_path_factory.mktemp("authn-bad"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def admin_token(authn: AuthnServer) -> str:
    return AuthNClient(authn.endpoint).login("admin", ADMIN_PASSWORD)


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


BODIES: list[tuple[str, str, bytes | None, int]] = [
    ("POST", "/v1/users/admin", b"", 400),
    ("POST", "/v1/users/admin", b"{not json", 400),
    ("POST", "/v1/users/admin", b'{"password": 5}', 400),
    ("POST", "/v1/users/admin", b'{"password": "x", "expires_in": "1h"}', 400),
    ("POST", "/v1/users/admin", b'{"password": "x", "expires_in": true}', 400),
    ("POST", "/v1/users/admin", b'{"password": ""}', 401),
    ("POST", "/v1/users/admin", b"[]", 400),
    ("POST", "/v1/users", b'{"id": "", "pass": "x"}', 400),
    ("POST", "/v1/users", b'{"id": "bad name", "pass": "x"}', 400),
    ("POST", "/v1/users", b'{"id": "nopass"}', 400),
    ("POST", "/v1/users", b'{"id": "u1", "pass": "x", "roles": "Admin"}', 400),
    ("PUT", "/v1/users/admin", b"{}", 400),
    ("PUT", "/v1/users/nobody", b'{"pass": "x"}', 404),
    ("POST", "/v1/roles", b'{"name": "r1", "clusters": [{"id": "c", "perm": "lots"}]}', 400),
    (
        "POST",
        "/v1/roles",
        b'{"name": "r1", "clusters": [{"id": "c", "perm": "99999999999999999999999"}]}',
        400,
    ),
    ("POST", "/v1/roles", b'{"name": "r1", "clusters": [{"id": "c", "perm": -1}]}', 400),
    ("POST", "/v1/roles", b'{"name": "r1", "buckets": [{"bck": {"name": ""}, "perm": "1"}]}', 400),
    (
        "POST",
        "/v1/roles",
        b'{"name": "r1", "buckets": [{"bck": {"name": "b", "provider": "xyz"}, "perm": "1"}]}',
        400,
    ),
    ("POST", "/v1/roles", b'{"name": "../etc"}', 400),
    ("PUT", "/v1/roles/nothere", b'{"name": "nothere"}', 404),
    ("POST", "/v1/clusters", b'{"id": "x1", "urls": []}', 400),
    ("POST", "/v1/clusters", b'{"id": "x1", "urls": ["ftp://host"]}', 400),
    ("POST", "/v1/clusters", b'{"id": "x1", "urls": ["http://127.0.0.1:1"], "alias": "has space"}', 400),
    ("POST", "/v1/clusters", b'{"urls": ["http://127.0.0.1:1"]}', 424),  # no ID, and nobody to ask
    ("PUT", "/v1/clusters/nothere", b'{"alias": "a"}', 404),
    ("DELETE", "/v1/tokens", b"{}", 400),
    ("DELETE", "/v1/tokens", b'{"token": "a.b.c"}', 401),
    ("DELETE", "/v1/tokens", b'{"token": 7}', 400),
    ("PUT", "/v1/daemon", b'{"auth": {"expiration_time": 5}}', 400),
    ("PUT", "/v1/daemon", b'{"log": {"level": "5"}}', 400),
    ("PUT", "/v1/daemon", b"null", 400),
    ("GET", "/v1/users/a/b", None, 404),
    ("GET", "/v1/nothing", None, 404),
    ("GET", "/v1/users/%ff", None, 400),
    ("GET", "/elsewhere", None, 404),
    ("PATCH", "/v1/users", None, 405),
    ("POST", "/v1/daemon", b"{}", 405),
    ("GET", "/v1/tokens", None, 405),
]


@pytest.mark.parametrize(
    "method, path, body, status", BODIES, ids=[f"{m} {p} {b!r}"[:80] for m, p, b, _ in BODIES]
)
def test_bad_bodies_and_paths_are_4xx(
    authn: AuthnServer, admin_token: str, method: str, path: str, body: bytes | None, status: int
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    response = requests.request(method, authn.endpoint + path, data=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["message"]


BAD_HEADERS = [
    "",
    "Bearer",
    "Bearer ",
    "bearer abc",
    "Basic YWRtaW46YWRtaW4=",
    "Bearer garbage",
    "Bearer a.b.c",
    "Bearer " + _b64({"alg": "none"}) + "." + _b64({"sub": "admin", "admin": True, "exp": 2**40}) + ".",
    "Bearer " + _b64({"alg": "HS384"}) + "." + _b64({"sub": "admin", "admin": True, "exp": 2**40}) + ".AAAA",
    "Bearer " + _b64({"alg": "RS256", "kid": "../../x"}) + "." + _b64({"sub": "admin"}) + ".AAAA",
    "Bearer " + "A" * 10_000,
]


@pytest.mark.parametrize("header", BAD_HEADERS, ids=[h[:40] for h in BAD_HEADERS])
def test_bad_tokens_are_401(authn: AuthnServer, header: str) -> None:
    response = requests.get(f"{authn.endpoint}/v1/users", headers={"Authorization": header}, timeout=30)
    assert response.status_code == 401, response.text
    assert "token" in response.json()["message"]


def test_an_oversized_body_is_413(authn: AuthnServer, admin_token: str) -> None:
    body = b'{"id": "big", "pass": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {"Authorization": f"Bearer {admin_token}"}
    response = requests.post(f"{authn.endpoint}/v1/users", data=body, headers=headers, timeout=30)
    assert response.status_code == 413


def test_a_long_password_and_unicode_names_work(authn: AuthnServer, admin_token: str) -> None:
    client = AuthNClient(authn.endpoint, token=admin_token)
    client.user_manager().create("long.pass-user", [], "p" * 1000 + "\u00e9\u4e2d")
    AuthNClient(authn.endpoint).login("long.pass-user", "p" * 1000 + "\u00e9\u4e2d")
    client.user_manager().delete("long.pass-user")
