"""End to end: ``strata authn`` issues the tokens, a ``strata serve`` with auth on trusts them.

The official SDK's ``AuthNClient`` registers the cluster (AuthN checks the cluster's ``POST /v1/tokens``
with a token of its own), makes a role with read-only access to one bucket and a user in it; the user's
token then works on the cluster as the role says, until AuthN revokes it and pushes the revocation
(``DELETE /v1/tokens``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.authn import AuthNClient
from aistore.sdk.authn.access_attr import AccessAttr
from aistore.sdk.errors import AISError

from . import auth_support as support
from .authn_support import ADMIN_PASSWORD, HMAC_SECRET, AuthnServer, start_authn
from .helpers import CLIENT_TIMEOUT
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[StrataServer, AuthnServer]]:
    config = support.auth_config(
        tmp_path / "config.json", {"enabled": True, "signature": {"key": HMAC_SECRET, "method": "HS256"}}
    )
    cluster = StrataServer(tmp_path / "data", tmp_path / "server.log", config_path=config, workers=2).start()
    authn = start_authn(tmp_path)
    try:
        yield cluster, authn
    finally:
        authn.stop()
        cluster.stop()


def test_tokens_from_strata_authn(pair: tuple[StrataServer, AuthnServer]) -> None:
    cluster, authn = pair
    admin = AuthNClient(authn.endpoint)
    admin_token = admin.login("admin", ADMIN_PASSWORD)
    alias = f"c{uuid.uuid4().hex[:6]}"
    admin.cluster_manager().register(alias, [cluster.endpoint])
    # the AuthN admin administers the cluster
    as_admin = Client(cluster.endpoint, token=admin_token, timeout=CLIENT_TIMEOUT)
    readable, other = f"r-{uuid.uuid4().hex[:6]}", f"o-{uuid.uuid4().hex[:6]}"
    for name in (readable, other):
        bucket = as_admin.bucket(name).create()
        bucket.object("obj").get_writer().put_content(b"data")
    # a role with read-only access to one bucket, a user in it, the user's token
    role = f"readers-{uuid.uuid4().hex[:6]}"
    admin.role_manager().create(role, "read one bucket", alias, [AccessAttr.ACCESS_RO], bucket_name=readable)
    user = f"u{uuid.uuid4().hex[:6]}"
    admin.user_manager().create(user, [role], "user-pw")
    token = AuthNClient(authn.endpoint).login(user, "user-pw")
    as_user = Client(cluster.endpoint, token=token, timeout=CLIENT_TIMEOUT)
    assert as_user.bucket(readable).object("obj").get_reader().read_all() == b"data"
    for denied in (
        lambda: as_user.bucket(readable).object("new").get_writer().put_content(b"x"),
        lambda: as_user.bucket(other).object("obj").get_reader().read_all(),
    ):
        with pytest.raises(AISError) as info:
            denied()
        assert info.value.status_code == 403
    # AuthN revokes it and pushes the revocation to the registered cluster
    admin.token_manager().revoke(token)
    deadline = time.monotonic() + 10
    while True:
        answer = requests.get(
            f"{cluster.endpoint}/v1/objects/{readable}/obj", headers=support.bearer(token), timeout=10
        )
        if answer.status_code == 401:
            break
        assert time.monotonic() < deadline, answer.status_code
        time.sleep(0.1)
    assert "token revoked" in answer.json()["message"]
    assert as_admin.bucket(readable).object("obj").get_reader().read_all() == b"data"
