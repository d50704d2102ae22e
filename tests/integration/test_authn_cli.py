"""``strata auth ...`` against a real ``strata authn``, run as a person runs it (subprocesses).

Checks what a person looks at -- exit status, the lines printed -- and what stays behind: the token
file ``login`` writes (``$AIS_AUTHN_TOKEN_FILE``, JSON, mode 0600) and what the service then holds,
read back through the SDK.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from aistore.sdk.authn import AuthNClient

from .authn_support import ADMIN_PASSWORD, HMAC_SECRET, AuthnServer, FakeCluster, hmac_verifier, start_authn

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    url: str
    token_file: Path

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["AIS_AUTHN_URL"] = self.url
        env["AIS_AUTHN_TOKEN_FILE"] = str(self.token_file)
        env.pop("AIS_AUTHN_TOKEN", None)
        return subprocess.run(
            [sys.executable, "-m", "strata", "auth", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def fails(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode != 0, (args, result.stdout)
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("Error: ")
        return result.stderr


@pytest.fixture(scope="module")
def authn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthnServer]:
    srv = start_authn(tmp_path_factory.mktemp("authn-cli"))
    yield srv
    srv.stop()


@pytest.fixture
def cli(authn: AuthnServer, tmp_path: Path) -> Cli:
    return Cli(authn.endpoint, tmp_path / "cli" / "auth.token")


def test_login_saves_a_private_token_and_logout_revokes_it(cli: Cli, authn: AuthnServer) -> None:
    assert "Logged in" in cli.ok("login", "admin", "-p", ADMIN_PASSWORD, "--expires", "2h")
    saved = json.loads(cli.token_file.read_text())["token"]
    assert stat.S_IMODE(cli.token_file.stat().st_mode) == 0o600
    claims = jwt.decode(saved, HMAC_SECRET, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["sub"] == "admin" and claims["exp"] - claims["iat"] == 7200
    assert "admin" in cli.ok("user", "ls")
    assert "Logged out" in cli.ok("logout")
    assert not cli.token_file.exists()
    with pytest.raises(Exception) as caught:
        AuthNClient(authn.endpoint, token=saved).user_manager().list()
    assert "revoked" in str(caught.value)
    assert "token required" in cli.fails("user", "ls")
    assert "not logged in" in cli.fails("logout")
    assert "invalid credentials" in cli.fails("login", "admin", "-p", "wrong")


def test_users_roles_and_clusters_from_the_cli(cli: Cli, authn: AuthnServer) -> None:
    cluster_uuid = "clu" + uuid.uuid4().hex[:10]
    fake = FakeCluster(cluster_uuid, hmac_verifier(HMAC_SECRET, cluster_uuid)).start()
    try:
        cli.ok("login", "admin", "-p", ADMIN_PASSWORD)
        alias = "cli" + uuid.uuid4().hex[:6]
        out = cli.ok("cluster", "add", alias, fake.url)
        assert f"ID {cluster_uuid}" in out and "Warning" not in out
        assert alias in cli.ok("cluster", "ls") and fake.url in cli.ok("show", "cluster", alias)
        assert f"Guest-{alias}" in cli.ok("role", "ls")
        assert f"Cluster {alias}: ro" in cli.ok("role", "show", f"Guest-{alias}")
        assert f"Cluster {alias}: su" in cli.ok("role", "show", f"ClusterOwner-{alias}")

        role = "cli-readers-" + uuid.uuid4().hex[:6]
        cli.ok(
            "role",
            "add",
            role,
            alias,
            "GET,OBJ_HEAD",
            "OBJ_LIST",
            "--bucket",
            "ais://photos",
            "--desc",
            "pics",
        )
        shown = json.loads(cli.ok("role", "show", role, "--json"))
        assert shown["buckets"][0]["perm"] == str(1 | 2 | 512)
        assert shown["buckets"][0]["bck"]["namespace"]["uuid"] == cluster_uuid
        assert "Bucket ais://photos: GET,OBJ_HEAD,OBJ_LIST" in cli.ok("role", "show", role)
        assert "unknown permission" in cli.fails("role", "add", role + "x", alias, "fly")
        assert "already exists" in cli.fails("role", "add", role, alias, "ro")

        user = "cli-user-" + uuid.uuid4().hex[:6]
        cli.ok("user", "add", user, role, "-p", "user-pw")
        assert role in cli.ok("show", "user", user)
        cli.ok("user", "update", user, f"Guest-{alias}", "-p", "user-pw2")
        users = json.loads(cli.ok("user", "ls", "--json"))
        assert [r["name"] for r in users[user]["roles"]] == [f"Guest-{alias}"]
        AuthNClient(authn.endpoint).login(user, "user-pw2")
        assert "already exists" in cli.fails("user", "add", user, "-p", "x")

        # a user's token revoked from the CLI reaches the cluster
        token = AuthNClient(authn.endpoint).login(user, "user-pw2")
        token_path = cli.token_file.parent / "user.token"
        token_path.write_text(json.dumps({"token": token}))
        assert "Token revoked" in cli.ok("token", "revoke", str(token_path))
        fake.wait_for("DELETE", lambda call: token in (call.body or {}).get("tokens", []))

        cli.ok("user", "rm", user)
        assert "does not exist" in cli.fails("show", "user", user)
        cli.ok("role", "rm", role)
        assert "does not exist" in cli.fails("role", "show", role)
        cli.ok("cluster", "rm", alias)
        assert alias not in cli.ok("cluster", "ls")
        assert "does not exist" in cli.fails("cluster", "rm", alias)
    finally:
        fake.stop()


def test_config_and_keys_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    cli.ok("login", "admin", "-p", ADMIN_PASSWORD)
    config = json.loads(cli.ok("show", "config", "--json"))
    assert config["auth"]["secret"] == "**********"
    assert "auth.secret" in cli.ok("show", "config")  # flattened properties
    cli.ok("config", "set", "auth.max_token_age=720h")
    assert json.loads(cli.ok("show", "config", "--json"))["auth"]["max_token_age"] == "720h0m"
    assert "expected secret=" in cli.fails("config", "set", "color=blue")
    assert "shorter than 1m" in cli.fails("config", "set", "expiration_time=5s")
    assert json.loads(cli.ok("show", "jwks")) == {"keys": []}
    assert "HMAC" in cli.fails("rotate-key")
    # an RS256 service: public key, discovery and rotation
    rsa = start_authn(tmp_path / "rsa", secret=None)
    try:
        rsa_cli = Cli(rsa.endpoint, tmp_path / "rsa.token")
        rsa_cli.ok("login", "admin", "-p", ADMIN_PASSWORD)
        pem = rsa_cli.ok("show", "public-key")
        assert pem.startswith("-----BEGIN PUBLIC KEY-----")
        assert json.loads(rsa_cli.ok("show", "oidc"))["issuer"] == rsa.endpoint
        before = json.loads(rsa_cli.ok("show", "jwks"))["keys"]
        assert "New signing key" in rsa_cli.ok("rotate-key")
        after = json.loads(rsa_cli.ok("show", "jwks"))["keys"]
        assert len(before) == 1 and len(after) == 2 and rsa_cli.ok("show", "public-key") != pem
    finally:
        rsa.stop()


def test_an_unreachable_authn_fails_fast_with_one_line(tmp_path: Path) -> None:
    cli = Cli("http://127.0.0.1:1", tmp_path / "t")
    message = cli.fails("login", "admin", "-p", "x")
    assert "cannot reach" in message and len(message.strip().splitlines()) == 1
