"""The AuthN service's pieces in-process: claims from roles, the store's all-or-nothing changes, keys.

The REST API is tested against a real process (tests/integration/test_authn*.py); these pin the rules
that are easiest to see one at a time: how roles add up into a token, that a failed change leaves the
stored data untouched, and that a rotated-out key keeps verifying while a key it never made does not.
"""

from __future__ import annotations

import os
from pathlib import Path

import jwt
import pytest

from strata.authn.config import Settings
from strata.authn.errors import Unauthorized
from strata.authn.model import Bck, BucketACL, Cluster, ClusterACL, Namespace, Role, User, parse_perm
from strata.authn.passwords import hash_password, verify_password
from strata.authn.store import Store
from strata.authn.tokens import Signer, user_claims
from strata.core.errors import Conflict, InvalidRequest

HOUR_NS = 3600 * 10**9


def _data(store: Store) -> None:
    with store.change() as data:
        data.clusters["u1"] = Cluster("u1", "one", ["http://a"])
        data.clusters["u2"] = Cluster("u2", "two", ["http://b"])
        bck = Bck("pics", "ais", Namespace("u2", ""))
        data.roles["reader"] = Role("reader", clusters=[ClusterACL("u1", 771)], buckets=[BucketACL(bck, 1)])
        data.roles["writer"] = Role("writer", clusters=[ClusterACL("u1", 60)], buckets=[BucketACL(bck, 4)])
        data.roles["Admin"] = Role("Admin", admin=True)
        data.users["ann"] = User("ann", "x", ["reader", "writer", "gone"])
        data.users["root"] = User("root", "x", ["Admin"])


def test_a_token_is_the_union_of_the_roles(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    _data(store)
    data = store.data
    claims = user_claims(data.users["ann"], data, HOUR_NS, "http://authn")
    assert claims["clusters"] == [{"id": "u1", "perm": str(771 | 60), "alias": "one", "urls": ["http://a"]}]
    assert claims["buckets"] == [
        {"bck": {"name": "pics", "provider": "ais", "namespace": {"uuid": "u2", "name": ""}}, "perm": "5"}
    ]
    assert claims["aud"] == ["u1", "u2"] and claims["admin"] is False
    assert claims["exp"] - claims["iat"] == 3600 and claims["iss"] == "http://authn"
    root = user_claims(data.users["root"], data, HOUR_NS, "http://authn")
    assert root["admin"] is True and root["aud"] == ["u1", "u2"]  # every registered cluster


def test_a_failed_change_leaves_the_data_as_it_was(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    _data(store)
    before = (tmp_path / "authn.db.json").read_bytes()
    with pytest.raises(Conflict), store.change() as data:
        data.users.clear()
        raise Conflict("user ann already exists")
    assert "ann" in store.data.users
    assert (tmp_path / "authn.db.json").read_bytes() == before
    assert oct(os.stat(tmp_path / "authn.db.json").st_mode & 0o777) == "0o600"
    assert Store(str(tmp_path)).data == store.data  # what a restart reads back


def test_rsa_keys_rotate_and_foreign_keys_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIS_AUTHN_SECRET_KEY", raising=False)
    store = Store(str(tmp_path))
    signer = Signer(Settings.load(str(tmp_path / "authn.json")), store, "http://authn")
    assert signer.method == "RS256"
    first = signer.sign({"sub": "a", "exp": 2**33})
    signer.rotate()
    second = signer.sign({"sub": "a", "exp": 2**33})
    assert jwt.get_unverified_header(first)["kid"] != jwt.get_unverified_header(second)["kid"]
    assert signer.verify(first)["sub"] == signer.verify(second)["sub"] == "a"
    other = Signer(Settings.load(str(tmp_path / "x.json")), Store(str(tmp_path / "other")), "http://x")
    with pytest.raises(Unauthorized, match="unknown signing key"):
        signer.verify(other.sign({"sub": "a", "exp": 2**33}))
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(signer.sign({"sub": "a", "exp": 1}))
    with pytest.raises(Unauthorized, match="sub"):
        signer.verify(signer.sign({"exp": 2**33}))


def test_hmac_refuses_other_algorithms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s" * 64
    monkeypatch.setenv("AIS_AUTHN_SECRET_KEY", secret)
    signer = Signer(Settings.load(str(tmp_path / "authn.json")), Store(str(tmp_path)), "http://authn")
    assert signer.verify(jwt.encode({"sub": "a", "exp": 2**33}, secret, algorithm="HS256"))["sub"] == "a"
    with pytest.raises(Unauthorized):
        signer.verify(jwt.encode({"sub": "a", "exp": 2**33}, secret, algorithm="HS384"))
    with pytest.raises(InvalidRequest):
        signer.rotate()


@pytest.mark.parametrize("value, expected", [("771", 771), (5, 5), (str(2**64 - 1), 2**64 - 1)])
def test_permissions_parse(value: str | int, expected: int) -> None:
    assert parse_perm(value) == expected


@pytest.mark.parametrize("value", ["", "ro", "-1", str(2**64), -1, "1.5"])
def test_bad_permissions_are_400(value: str | int) -> None:
    with pytest.raises(InvalidRequest):
        parse_perm(value)


def test_passwords() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong", stored)
    assert not verify_password("correct horse", None)
    assert not verify_password("x", "garbage")
    assert hash_password("same") != hash_password("same")  # salted
