"""``strata authn`` driven by the official SDK's ``AuthNClient``, as a user of AIStore's AuthN drives it.

Every check goes through a real process: logins, users, roles, clusters and revocations with the SDK's
managers, and the SDK's own typed errors (it classifies by status and wording); tokens are decoded and
verified here with PyJWT, independently of the server's code (HS256 with the shared secret; RS256 with
the public key and the JWKS, across a key rotation). Cluster registration talks to ``FakeCluster``,
which records what AuthN sends and verifies its tokens as a proxy would.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from aistore.sdk.authn import AuthNClient
from aistore.sdk.authn.access_attr import AccessAttr
from aistore.sdk.authn.errors import (
    AuthNError,
    ErrClusterAlreadyRegistered,
    ErrClusterNotFound,
    ErrRoleAlreadyExists,
    ErrRoleNotFound,
    ErrUserAlreadyExists,
    ErrUserInvalidCredentials,
    ErrUserNotFound,
)

from .authn_support import (
    ADMIN_PASSWORD,
    HMAC_SECRET,
    AuthnServer,
    FakeCluster,
    hmac_verifier,
    start_authn,
)

DAY = 24 * 3600
SU = str(2**64 - 1)


@pytest.fixture(scope="module")
def authn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthnServer]:
    srv = start_authn(tmp_path_factory.mktemp("authn"))
    yield srv
    srv.stop()


@pytest.fixture
def fake_cluster() -> Iterator[FakeCluster]:
    cluster_uuid = "clu" + uuid.uuid4().hex[:10]
    cluster = FakeCluster(cluster_uuid, hmac_verifier(HMAC_SECRET, cluster_uuid)).start()
    yield cluster
    cluster.stop()


def admin_client(srv: AuthnServer) -> AuthNClient:
    client = AuthNClient(srv.endpoint)
    client.login("admin", ADMIN_PASSWORD)
    return client


def claims_hs(token: str, **options: bool) -> dict:
    return jwt.decode(
        token,
        HMAC_SECRET,
        algorithms=["HS256"],
        options={"verify_aud": False, "require": ["exp", "sub"], **options},
    )


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_login_issues_hs256_tokens_with_the_ais_claims(authn: AuthnServer) -> None:
    client = AuthNClient(authn.endpoint)
    token = client.login("admin", ADMIN_PASSWORD)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = claims_hs(token)
    assert claims["sub"] == "admin" and claims["admin"] is True
    assert claims["iss"] == authn.endpoint.replace("127.0.0.1", "127.0.0.1")
    assert claims["exp"] - claims["iat"] == DAY  # auth.expiration_time's default
    assert claims["exp"] - claims["iat"] == DAY
    short = claims_hs(client.login("admin", ADMIN_PASSWORD, expires_in=3600))
    assert short["exp"] - short["iat"] == 3600
    longest = claims_hs(client.login("admin", ADMIN_PASSWORD, expires_in=0))  # 0 = max_token_age
    assert longest["exp"] - longest["iat"] == 90 * DAY
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            "another secret of at least thirty-two bytes",
            algorithms=["HS256"],
            options={"verify_aud": False},
        )


@pytest.mark.parametrize("user, password", [("admin", "wrong"), ("nobody", "whatever"), ("admin", "x" * 500)])
def test_bad_credentials_are_typed_401s(authn: AuthnServer, user: str, password: str) -> None:
    with pytest.raises(ErrUserInvalidCredentials) as caught:
        AuthNClient(authn.endpoint).login(user, password)
    assert caught.value.status_code == 401


@pytest.mark.parametrize("seconds", [10, 91 * DAY, -5])
def test_token_lifetimes_out_of_bounds_are_400(authn: AuthnServer, seconds: int) -> None:
    with pytest.raises(AuthNError) as caught:
        AuthNClient(authn.endpoint).login("admin", ADMIN_PASSWORD, expires_in=seconds)
    assert caught.value.status_code == 400


def test_users_and_roles_through_the_sdk(authn: AuthnServer, fake_cluster: FakeCluster) -> None:
    admin = admin_client(authn)
    alias = unique("c")
    info = admin.cluster_manager().register(alias, [fake_cluster.url])
    assert info.id == fake_cluster.uuid and info.alias == alias
    roles = admin.role_manager()
    guest = roles.get(f"Guest-{alias}")
    assert guest.clusters[0].id == fake_cluster.uuid and guest.clusters[0].perm == "771"
    assert roles.get(f"BucketOwner-{alias}").clusters[0].perm == "831"
    assert roles.get(f"ClusterOwner-{alias}").clusters[0].perm == SU

    role_name = unique("readers-")
    created = roles.create(role_name, "read one bucket", alias, [AccessAttr.ACCESS_RO], bucket_name="b1")
    assert created.buckets is not None and created.buckets[0].perm == "771"
    assert created.buckets[0].bck.namespace is not None
    assert created.buckets[0].bck.namespace.uuid == fake_cluster.uuid
    assert role_name in [role.name for role in roles.list()]
    with pytest.raises(ErrRoleAlreadyExists):
        roles.create(role_name, "again", alias, [AccessAttr.GET])
    with pytest.raises(ErrRoleNotFound):
        roles.get(unique("missing-"))

    users = admin.user_manager()
    name = unique("alice")
    user = users.create(name, [role_name, f"BucketOwner-{alias}"], "alice-pw")
    assert sorted(role.name for role in user.roles) == sorted([role_name, f"BucketOwner-{alias}"])
    assert name in users.list()
    with pytest.raises(ErrUserAlreadyExists):
        users.create(name, [], "other")
    with pytest.raises(ErrUserNotFound):
        users.get(unique("nobody"))
    with pytest.raises(ErrUserNotFound):
        users.delete(unique("nobody"))
    users.delete(unique("nobody"), missing_ok=True)

    # alice's token: the union of her roles' ACLs, addressed to the cluster they name
    claims = claims_hs(AuthNClient(authn.endpoint).login(name, "alice-pw"))
    assert claims["sub"] == name and claims["admin"] is False
    assert claims["aud"] == [fake_cluster.uuid]
    assert claims["clusters"] == [
        {"id": fake_cluster.uuid, "perm": "831", "alias": alias, "urls": [fake_cluster.url]}
    ]
    bucket = claims["buckets"][0]
    assert bucket["perm"] == "771"
    assert bucket["bck"] == {
        "name": "b1",
        "provider": "ais",
        "namespace": {"uuid": fake_cluster.uuid, "name": ""},
    }

    # a password change takes effect at once; roles change too
    users.update(name, password="new-pw", roles=[role_name])
    with pytest.raises(ErrUserInvalidCredentials):
        AuthNClient(authn.endpoint).login(name, "alice-pw")
    claims = claims_hs(AuthNClient(authn.endpoint).login(name, "new-pw"))
    assert "clusters" not in claims or claims["clusters"] == []
    assert [role.name for role in users.get(name).roles] == [role_name]

    roles.update(role_name, desc="changed")
    assert roles.get(role_name).desc == "changed"
    roles.delete(role_name)
    assert users.get(name).roles.root == []  # a deleted role is taken off its users
    roles.delete(role_name, missing_ok=True)
    with pytest.raises(ErrRoleNotFound):
        roles.delete(role_name)
    users.delete(name)
    with pytest.raises(ErrUserNotFound):
        users.get(name)


def test_what_a_user_may_do_to_themselves_and_others(authn: AuthnServer) -> None:
    admin = admin_client(authn)
    name, other = unique("bob"), unique("carol")
    admin.user_manager().create(name, [], "bob-pw")
    admin.user_manager().create(other, [], "carol-pw")
    bob = AuthNClient(authn.endpoint)
    bob.login(name, "bob-pw")
    assert bob.user_manager().get(name).id == name  # self
    for attempt in (
        lambda: bob.user_manager().get(other),
        lambda: bob.user_manager().list(),
        lambda: bob.user_manager().delete(other),
        lambda: bob.user_manager().update(name, roles=["Admin"]),
        lambda: bob.client.request("POST", path="roles", json={"name": unique("r"), "desc": ""}),
        lambda: bob.client.request("GET", path="daemon"),
    ):
        with pytest.raises(AuthNError) as caught:
            attempt()
        assert caught.value.status_code == 403
    bob.user_manager().update(name, password="bob-new")  # a user may change their own password
    AuthNClient(authn.endpoint).login(name, "bob-new")
    anonymous = AuthNClient(authn.endpoint)
    with pytest.raises(AuthNError) as caught:
        anonymous.user_manager().list()
    assert caught.value.status_code == 401 and "token required" in caught.value.message
    assert len(anonymous.role_manager().list()) >= 1  # roles and clusters are readable without a token
    anonymous.cluster_manager().list()


def test_the_built_in_admin_and_its_role_cannot_be_taken_apart(authn: AuthnServer) -> None:
    admin = admin_client(authn)
    for attempt in (
        lambda: admin.user_manager().delete("admin"),
        lambda: admin.user_manager().update("admin", roles=["Guest-x"] if False else ["Admin"]),
        lambda: admin.role_manager().delete("Admin"),
        lambda: admin.role_manager().update("Admin", desc="mine now"),
        lambda: admin.client.request(
            "POST", path="roles", json={"name": unique("r"), "desc": "", "admin": True}
        ),
    ):
        with pytest.raises(AuthNError) as caught:
            attempt()
        assert caught.value.status_code == 403
    assert admin.role_manager().get("Admin").admin is True


def test_cluster_registration_handshake_and_errors(authn: AuthnServer, fake_cluster: FakeCluster) -> None:
    admin = admin_client(authn)
    clusters = admin.cluster_manager()
    alias = unique("c")
    clusters.register(alias, [fake_cluster.url])
    # AuthN showed the cluster a short admin token addressed to it, which the cluster accepted
    handshake = fake_cluster.wait_for("POST", lambda call: call.path == "/v1/tokens")
    claims = jwt.decode(handshake.token, HMAC_SECRET, algorithms=["HS256"], audience=fake_cluster.uuid)
    assert claims["admin"] is True and claims["exp"] - claims["iat"] == 300
    push = fake_cluster.wait_for("DELETE", lambda call: call.path == "/v1/tokens")
    assert isinstance(push.body["tokens"], list) and push.body["version"].isdigit()

    assert clusters.get(cluster_alias=alias).id == fake_cluster.uuid
    assert clusters.get(cluster_id=fake_cluster.uuid).alias == alias
    assert fake_cluster.uuid in clusters.list().clusters
    with pytest.raises(ErrClusterAlreadyRegistered):
        clusters.register(alias + "x", [fake_cluster.url])  # same UUID
    with pytest.raises(ErrClusterNotFound):
        clusters.get(cluster_alias=unique("nope"))
    new_alias = unique("renamed")
    assert clusters.update(fake_cluster.uuid, cluster_alias=new_alias).alias == new_alias
    clusters.delete(cluster_alias=new_alias)
    with pytest.raises(ErrClusterNotFound):
        clusters.delete(cluster_id=fake_cluster.uuid)
    with pytest.raises(ErrRoleNotFound):  # its built-in roles went with it
        admin.role_manager().get(f"Guest-{new_alias}")


def test_registration_reports_a_cluster_that_refuses_our_tokens(authn: AuthnServer) -> None:
    refusing = FakeCluster("clu" + uuid.uuid4().hex[:10], lambda token: False).start()
    try:
        admin = admin_client(authn)
        response = admin.client.request(
            "POST", path="clusters", json={"id": refusing.uuid, "alias": unique("r"), "urls": [refusing.url]}
        )
        warnings = response.json()["warnings"]
        assert warnings and "401" in warnings[0] and "auth.signature" in warnings[0]
        assert admin.cluster_manager().get(cluster_id=refusing.uuid).id == refusing.uuid  # registered anyway
        # without an ID, AuthN asks the cluster map for it
        admin.cluster_manager().delete(cluster_id=refusing.uuid)
        admin.client.request("POST", path="clusters", json={"alias": unique("r"), "urls": [refusing.url]})
        assert admin.cluster_manager().get(cluster_id=refusing.uuid).urls == [refusing.url]
        admin.cluster_manager().delete(cluster_id=refusing.uuid)
    finally:
        refusing.stop()


def test_revocation_is_refused_here_and_pushed_to_clusters(
    authn: AuthnServer, fake_cluster: FakeCluster
) -> None:
    admin = admin_client(authn)
    admin.cluster_manager().register(unique("c"), [fake_cluster.url])
    name = unique("dave")
    admin.user_manager().create(name, [], "dave-pw")
    dave = AuthNClient(authn.endpoint)
    token = dave.login(name, "dave-pw")
    assert dave.user_manager().get(name).id == name
    admin.token_manager().revoke(token)
    admin.token_manager().revoke(token)  # idempotent
    pushed = fake_cluster.wait_for("DELETE", lambda call: token in (call.body or {}).get("tokens", []))
    assert jwt.decode(pushed.token, HMAC_SECRET, algorithms=["HS256"], audience=fake_cluster.uuid)["admin"]
    with pytest.raises(AuthNError) as caught:
        dave.user_manager().get(name)
    assert caught.value.status_code == 401 and "revoked" in caught.value.message
    # logout revokes the client's own token
    token2 = dave.login(name, "dave-pw")
    dave.logout()
    fake_cluster.wait_for("DELETE", lambda call: token2 in (call.body or {}).get("tokens", []))
    with pytest.raises(AuthNError) as caught:
        admin.token_manager().revoke("not.a.token")
    assert caught.value.status_code == 401
    forged = jwt.encode(
        {"sub": "admin", "exp": int(time.time()) + 60, "admin": True}, "w" * 40, algorithm="HS256"
    )
    with pytest.raises(AuthNError) as caught:
        AuthNClient(authn.endpoint, token=forged).user_manager().list()
    assert caught.value.status_code == 401


def test_daemon_config_is_masked_validated_and_kept(tmp_path: Path) -> None:
    srv = start_authn(tmp_path)
    try:
        admin = admin_client(srv)
        config = admin.client.request("GET", path="daemon").json()
        assert config["auth"]["secret"] == "**********"
        assert HMAC_SECRET not in str(config)
        assert config["auth"]["expiration_time"] == "24h0m"
        admin.client.request("PUT", path="daemon", json={"auth": {"expiration_time": "2h"}})
        claims = claims_hs(AuthNClient(srv.endpoint).login("admin", ADMIN_PASSWORD))
        assert claims["exp"] - claims["iat"] == 7200
        for bad in (
            {"auth": {"expiration_time": "soon"}},
            {"auth": {"nope": 1}},
            {"auth": {"max_token_age": "30s"}},
        ):
            with pytest.raises(AuthNError) as caught:
                admin.client.request("PUT", path="daemon", json=bad)
            assert caught.value.status_code == 400
        srv.kill()
        srv.start()
        config = admin_client(srv).client.request("GET", path="daemon").json()
        assert config["auth"]["expiration_time"] == "2h0m"
    finally:
        srv.stop()


def test_everything_survives_restart_and_kill_9(tmp_path: Path, fake_cluster: FakeCluster) -> None:
    srv = start_authn(tmp_path, secret=None)  # RS256: the key must survive too
    try:
        admin = admin_client(srv)
        admin.cluster_manager().register("keep", [fake_cluster.url])
        admin.role_manager().create("keepers", "kept", "keep", [AccessAttr.ACCESS_RW])
        admin.user_manager().create("erin", ["keepers"], "erin-pw")
        token = AuthNClient(srv.endpoint).login("erin", "erin-pw")
        revoked = AuthNClient(srv.endpoint).login("erin", "erin-pw")
        admin.token_manager().revoke(revoked)
        admin.user_manager().update("admin", password="changed-admin-pw")
        srv.kill()  # kill -9 right after the writes
        srv.start()
        again = AuthNClient(srv.endpoint)
        again.login("admin", "changed-admin-pw")  # the environment's password does not reset it
        assert [r.name for r in again.user_manager().get("erin").roles] == ["keepers"]
        assert again.cluster_manager().get(cluster_alias="keep").id == fake_cluster.uuid
        erin = AuthNClient(srv.endpoint, token=token)
        assert erin.user_manager().get("erin").id == "erin"  # same key: the old token still verifies
        with pytest.raises(AuthNError) as caught:
            AuthNClient(srv.endpoint, token=revoked).user_manager().get("erin")
        assert caught.value.status_code == 401
        srv.restart()
        AuthNClient(srv.endpoint).login("erin", "erin-pw")
    finally:
        srv.stop()


def _jwks(srv: AuthnServer) -> tuple[dict[str, jwt.PyJWK], str]:
    response = requests.get(f"{srv.endpoint}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    return {key["kid"]: jwt.PyJWK(key) for key in response.json()["keys"]}, response.headers["Cache-Control"]


def test_rs256_tokens_public_key_jwks_and_rotation(tmp_path: Path) -> None:
    srv = start_authn(tmp_path, secret=None)
    try:
        admin = admin_client(srv)
        token = AuthNClient(srv.endpoint).login("admin", ADMIN_PASSWORD)
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256" and header["kid"]
        pem = requests.get(f"{srv.endpoint}/v1/public-key", timeout=10).json()["public_key"]
        assert pem.startswith("-----BEGIN PUBLIC KEY-----")
        assert jwt.decode(token, pem, algorithms=["RS256"], options={"verify_aud": False})["sub"] == "admin"
        keys, cache_control = _jwks(srv)
        assert "max-age=" in cache_control and "public" in cache_control
        assert list(keys) == [header["kid"]]
        discovery = requests.get(f"{srv.endpoint}/.well-known/openid-configuration", timeout=10).json()
        assert discovery["issuer"] == srv.endpoint
        assert discovery["jwks_uri"] == f"{srv.endpoint}/.well-known/jwks.json"
        assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]

        rotated = admin.client.request("POST", path="rotate-key").json()
        assert rotated["kid"] != header["kid"]
        new_token = AuthNClient(srv.endpoint).login("admin", ADMIN_PASSWORD)
        assert jwt.get_unverified_header(new_token)["kid"] == rotated["kid"]
        keys, _ = _jwks(srv)
        assert set(keys) == {header["kid"], rotated["kid"]}  # the old key verifies tokens still alive
        for issued in (token, new_token):
            kid = jwt.get_unverified_header(issued)["kid"]
            jwt.decode(issued, keys[kid].key, algorithms=["RS256"], options={"verify_aud": False})
        new_pem = requests.get(f"{srv.endpoint}/v1/public-key", timeout=10).json()["public_key"]
        assert new_pem != pem
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(new_token, pem, algorithms=["RS256"], options={"verify_aud": False})
        assert AuthNClient(srv.endpoint, token=token).user_manager().list()  # still accepted by AuthN
        guest = AuthNClient(srv.endpoint, token=new_token)
        guest.user_manager().create("frank", [], "frank-pw")
        frank = AuthNClient(srv.endpoint)
        frank.login("frank", "frank-pw")
        with pytest.raises(AuthNError) as caught:
            frank.client.request("POST", path="rotate-key")
        assert caught.value.status_code == 403
    finally:
        srv.stop()


def test_hmac_mode_has_no_key_to_publish_or_rotate(authn: AuthnServer) -> None:
    admin = admin_client(authn)
    with pytest.raises(AuthNError) as caught:
        admin.client.request("POST", path="rotate-key")
    assert caught.value.status_code == 400
    assert requests.get(f"{authn.endpoint}/.well-known/jwks.json", timeout=10).json() == {"keys": []}
    assert requests.get(f"{authn.endpoint}/v1/public-key", timeout=10).status_code == 404


def test_register_a_real_strata_node(authn: AuthnServer, server_factory) -> None:  # type: ignore[no-untyped-def]
    node = server_factory()
    admin = admin_client(authn)
    alias = unique("real")
    info = admin.cluster_manager().register(alias, [node.endpoint])
    smap = requests.get(f"{node.endpoint}/v1/daemon", params={"what": "smap"}, timeout=10).json()
    assert info.id == smap["uuid"]
    admin.cluster_manager().delete(cluster_alias=alias)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would override skip_verify
        monkeypatch.delenv(name, raising=False)
    crt, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(crt)),
        ],
        check=True,
        capture_output=True,
    )
    config = tmp_path / "authn.json"
    config.write_text(
        json.dumps({"net": {"http": {"use_https": True, "server_crt": str(crt), "server_key": str(key)}}})
    )
    srv = start_authn(tmp_path, config_path=config, https=True)
    try:
        assert srv.endpoint.startswith("https://")
        client = AuthNClient(srv.endpoint, skip_verify=True)
        claims = claims_hs(client.login("admin", ADMIN_PASSWORD))
        assert claims["iss"] == srv.endpoint
        assert "admin" in client.user_manager().list()
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(
                f"{srv.endpoint}/v1/roles", timeout=10
            )  # a self-signed cert is not trusted by default
    finally:
        srv.stop()
