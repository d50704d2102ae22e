"""Token auth on a real server (HS256, a required audience, two workers): every front, every refusal.

Tokens are minted here with PyJWT (``auth_support.mint``); the clients are the official SDK (``token=``
and ``AIS_AUTHN_TOKEN``), boto3 with the JWT as its session token, and plain requests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError

from . import auth_support as support
from .auth_support import ACCESS_RO, ACCESS_RW, AUDIENCE, SECRET, bearer, mint
from .helpers import CLIENT_TIMEOUT, fast_client
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)


@dataclass
class Setup:
    server: StrataServer
    uuid: str
    admin: str  # token
    reader: str  # read-only on ``readable``, nothing else
    readable: str  # buckets
    other: str

    @property
    def url(self) -> str:
        return self.server.endpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("auth")
    config = support.auth_config(
        base / "config.json",
        {
            "enabled": True,
            "signature": {"key": SECRET, "method": "HS256"},
            "required_claims": {"aud": [AUDIENCE]},
        },
    )
    server = StrataServer(base / "data", base / "server.log", config_path=config, workers=2).start()
    try:
        admin = mint("admin", admin=True)
        uuid_ = support.cluster_uuid(server.endpoint, admin)
        readable = support.create_bucket(server.endpoint, admin)
        other = support.create_bucket(server.endpoint, admin)
        for name in (readable, other):
            answer = requests.put(
                f"{server.endpoint}/v1/objects/{name}/obj", data=b"data", headers=bearer(admin)
            )
            assert answer.status_code == 200, answer.text
        reader = mint("reader", buckets=[(readable, ACCESS_RO)], cluster_uuid=uuid_)
        yield Setup(server, uuid_, admin, reader, readable, other)
    finally:
        server.stop()


def _v1(setup: Setup, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers.update(bearer(token))
    return requests.request(method, f"{setup.url}/v1/{path}", headers=headers, timeout=10, **kwargs)


def _bad_tokens(setup: Setup) -> dict[str, tuple[str, str]]:
    """name -> (token, what the 401 says)."""
    other_key = "some-other-secret-that-is-long-enough-for-every-hmac-0123456789abcdef"
    return {
        "garbage": ("garbage", "invalid token"),
        "expired": (mint("admin", admin=True, expires_in=-10), "token expired"),
        "wrong aud": (mint("admin", admin=True, audience=["someone-else"]), "audience"),
        "no aud": (mint("admin", admin=True, audience=None), "audience"),
        "bad signature": (mint("admin", admin=True, key=other_key), "Signature verification failed"),
        "HS384": (mint("admin", admin=True, algorithm="HS384"), "unsupported signing algorithm"),
        "HS512": (mint("admin", admin=True, algorithm="HS512"), "unsupported signing algorithm"),
        "alg none": (mint("admin", admin=True, key=None, algorithm="none"), "unsupported signing algorithm"),
        "no sub": (mint("", admin=True), "missing 'sub' claim"),
        "no exp": (
            support.jwt.encode({"sub": "a", "admin": True, "aud": [AUDIENCE]}, SECRET),
            "missing 'exp'",
        ),
    }


# -- /v1 -------------------------------------------------------------------------------------------


def test_no_token_is_401_token_required(setup: Setup) -> None:
    for method, path in (
        ("GET", "buckets"),
        ("GET", f"objects/{setup.readable}/obj"),
        ("DELETE", f"buckets/{setup.other}"),
    ):
        answer = _v1(setup, method, path)
        assert answer.status_code == 401, (method, path, answer.text)
        assert "token required" in answer.text
    head = _v1(setup, "HEAD", f"objects/{setup.readable}/obj")
    assert head.status_code == 401 and "token required" in head.headers.get("Hdr-Error", "")
    for scheme in ("bearer", "Basic", "Bearer", "Bearer  "):  # exactly "Bearer " and a token
        answer = _v1(setup, "GET", "buckets", headers={"Authorization": f"{scheme} "})
        assert answer.status_code == 401, scheme


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "expired",
        "wrong aud",
        "no aud",
        "bad signature",
        "HS384",
        "HS512",
        "alg none",
        "no sub",
        "no exp",
    ],
)
def test_bad_tokens_are_401_with_the_reason(setup: Setup, case: str) -> None:
    token, reason = _bad_tokens(setup)[case]
    for method, path in (
        ("GET", "buckets"),
        ("GET", f"objects/{setup.readable}/obj"),
        ("PUT", f"objects/{setup.other}/x"),
    ):
        answer = _v1(setup, method, path, token, data=b"x" if method == "PUT" else None)
        assert answer.status_code == 401, (case, method, answer.text)
        message = answer.json()["message"]
        assert 'invalid token from header "Authorization"' in message and reason in message, message
        assert token not in answer.text or case == "garbage"  # never echoed back
    assert (
        requests.get(f"{setup.url}/s3/{setup.readable}/obj", headers=bearer(token), timeout=10).status_code
        == 403
    )


def test_sdk_with_token_and_with_the_environment(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(setup.url, token=setup.admin, timeout=CLIENT_TIMEOUT)
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    bucket = client.bucket(name).create()
    bucket.object("a").get_writer().put_content(b"through the SDK")
    assert bucket.object("a").get_reader().read_all() == b"through the SDK"
    assert [entry.name for entry in bucket.list_all_objects()] == ["a"]
    monkeypatch.setenv("AIS_AUTHN_TOKEN", setup.reader)
    as_reader = fast_client(setup.url)  # no token= : the SDK reads AIS_AUTHN_TOKEN
    assert as_reader.bucket(setup.readable).object("obj").get_reader().read_all() == b"data"
    with pytest.raises(AISError) as denied:
        as_reader.bucket(name).object("a").get_reader().read_all()
    assert denied.value.status_code == 403
    monkeypatch.delenv("AIS_AUTHN_TOKEN")
    with pytest.raises(AISError) as anonymous:
        fast_client(setup.url).bucket(name).object("a").get_reader().read_all()
    assert anonymous.value.status_code == 401
    bucket.delete()


def test_read_only_user_on_one_bucket(setup: Setup) -> None:
    reader, readable, other = setup.reader, setup.readable, setup.other
    assert _v1(setup, "GET", f"objects/{readable}/obj", reader).content == b"data"
    assert _v1(setup, "HEAD", f"objects/{readable}/obj", reader).status_code == 200
    listed = _v1(setup, "GET", f"buckets/{readable}", reader, json={"action": "list", "value": {}})
    assert listed.status_code == 200
    assert _v1(setup, "HEAD", f"buckets/{readable}", reader).status_code == 200
    refused = _v1(setup, "PUT", f"objects/{readable}/new", reader, data=b"x")
    assert refused.status_code == 403 and "user `reader` has insufficient permissions" in refused.text
    assert _v1(setup, "DELETE", f"objects/{readable}/obj", reader).status_code == 403
    assert _v1(setup, "GET", f"objects/{other}/obj", reader).status_code == 403
    assert _v1(setup, "HEAD", f"buckets/{other}", reader).status_code == 403
    assert _v1(setup, "GET", "buckets", reader).status_code == 403  # no LIST-BUCKETS
    assert _v1(setup, "DELETE", f"buckets/{readable}", reader).status_code == 403
    assert _v1(setup, "GET", f"objects/{readable}/obj", setup.admin).content == b"data"  # untouched


def test_cluster_permissions_decide_without_a_bucket_entry(setup: Setup) -> None:
    viewer = mint("viewer", cluster_uuid=setup.uuid, cluster_perm=support.ACCESS_CLUSTER_RO | ACCESS_RO)
    assert _v1(setup, "GET", "buckets", viewer).status_code == 200
    assert _v1(setup, "GET", f"objects/{setup.other}/obj", viewer).content == b"data"
    assert _v1(setup, "PUT", f"objects/{setup.other}/v", viewer, data=b"x").status_code == 403
    # a bucket entry decides alone: PUT only on ``other`` even though the cluster entry allows reads
    narrow = mint("narrow", cluster_uuid=setup.uuid, cluster_perm=ACCESS_RO, buckets=[(setup.other, 4)])
    assert _v1(setup, "GET", f"objects/{setup.other}/obj", narrow).status_code == 403
    assert _v1(setup, "GET", f"objects/{setup.readable}/obj", narrow).status_code == 200
    # another cluster's entry does not count
    elsewhere = mint("elsewhere", cluster_uuid="not-this-cluster", cluster_perm=ACCESS_RW)
    assert _v1(setup, "GET", f"objects/{setup.other}/obj", elsewhere).status_code == 403


def test_bucket_access_bits_apply_to_every_principal(setup: Setup) -> None:
    admin = setup.admin
    name = support.create_bucket(setup.url, admin)
    ro = _v1(
        setup, "PATCH", f"buckets/{name}", admin, json={"action": "set-bprops", "value": {"access": "ro"}}
    )
    assert ro.status_code == 200, ro.text
    assert _v1(setup, "PUT", f"objects/{name}/x", admin, data=b"x").status_code == 403  # even the admin
    # an admin may still change the props of a bucket whose bits have no PATCH (AIStore's exception)
    back = _v1(
        setup, "PATCH", f"buckets/{name}", admin, json={"action": "set-bprops", "value": {"access": "su"}}
    )
    assert back.status_code == 200, back.text
    assert _v1(setup, "PUT", f"objects/{name}/x", admin, data=b"x").status_code == 200
    # PATCH that changes access needs SET-BUCKET-ACL too
    patcher = mint("patcher", buckets=[(name, ACCESS_RW | 1024)], cluster_uuid=setup.uuid)
    acl = _v1(
        setup, "PATCH", f"buckets/{name}", patcher, json={"action": "set-bprops", "value": {"access": "ro"}}
    )
    assert acl.status_code == 403 and "BCK_SET_ACL" in acl.text
    other = {"action": "set-bprops", "value": {"versioning": {"enabled": True}}}
    assert _v1(setup, "PATCH", f"buckets/{name}", patcher, json=other).status_code == 200


def test_admin_only_cluster_operations(setup: Setup) -> None:
    reader = setup.reader
    set_config = {"action": "set-config", "value": {"space": {"highwm": 91}}}
    assert _v1(setup, "GET", "cluster", reader, params={"what": "smap"}).status_code == 403
    assert _v1(setup, "GET", "daemon", reader, params={"what": "smap"}).status_code == 403
    assert _v1(setup, "PUT", "cluster", reader, json=set_config).status_code == 403
    assert _v1(setup, "PUT", "cluster/setconfig", reader, params={"space.highwm": "91"}).status_code == 403
    viewer = mint("viewer", cluster_uuid=setup.uuid, cluster_perm=support.ACCESS_CLUSTER_RO)
    assert _v1(setup, "GET", "cluster", viewer, params={"what": "smap"}).status_code == 200
    assert _v1(setup, "PUT", "cluster", viewer, json=set_config).status_code == 403
    assert _v1(setup, "PUT", "cluster", setup.admin, json=set_config).status_code == 200
    # unknown and not-yet-built resources are an admin's: 403 for others, never a way around
    assert _v1(setup, "GET", "etl", reader).status_code == 403
    assert _v1(setup, "GET", "no-such-resource", reader).status_code == 403


def test_health_and_metrics_stay_readable(setup: Setup) -> None:
    assert requests.get(f"{setup.url}/v1/health", timeout=10).status_code == 200
    metrics = requests.get(f"{setup.url}/metrics", timeout=10)
    assert metrics.status_code == 200 and "ais_target_get_count" in metrics.text
    assert SECRET not in metrics.text and setup.admin not in metrics.text


def test_secrets_never_shown(setup: Setup) -> None:
    shown = _v1(setup, "GET", "cluster", setup.admin, params={"what": "cluster_config"})
    assert shown.status_code == 200 and SECRET not in shown.text
    assert shown.json()["auth"]["signature"]["key"] == "**********"
    daemon = _v1(setup, "GET", "daemon", setup.admin, params={"what": "config"})
    assert SECRET not in daemon.text
    status = _v1(setup, "GET", "daemon", setup.admin, params={"what": "auth"}).json()
    assert status["enabled"] is True and status["method"] == "HMAC" and status["open_fronts"] == []
    _v1(setup, "GET", "buckets", "garbage." + setup.admin)  # a failure that gets logged
    output = setup.server.full_output()
    assert SECRET not in output and setup.admin not in output and setup.reader not in output


def test_getbatch_checks_every_bucket_it_names(setup: Setup) -> None:
    one = {"mime": ".tar", "strm": True, "in": [{"objname": "obj", "bucket": setup.readable}]}
    ok = _v1(setup, "GET", f"ml/moss/{setup.readable}", setup.reader, json=one)
    assert ok.status_code == 200, ok.text
    both = {
        "mime": ".tar",
        "strm": True,
        "in": [{"objname": "obj", "bucket": setup.readable}, {"objname": "obj", "bucket": setup.other}],
    }
    refused = _v1(setup, "GET", f"ml/moss/{setup.readable}", setup.reader, json=both)
    assert refused.status_code == 403 and setup.other in refused.text
    assert _v1(setup, "GET", f"ml/moss/{setup.other}", setup.reader, json=one).status_code == 403


def test_jobs_need_rights_on_source_and_destination(setup: Setup) -> None:
    src, uuid_ = setup.readable, setup.uuid
    dst = f"dst-{uuid.uuid4().hex[:8]}"
    copy = {"action": "copy-bck", "value": {}}
    query = {"bck_to": f"ais://{dst}"}
    # read-only on the source is not enough (rw), and nothing on the destination
    assert _v1(setup, "POST", f"buckets/{src}", setup.reader, json=copy, params=query).status_code == 403
    rw_src = mint("copier", buckets=[(src, ACCESS_RW)], cluster_uuid=uuid_)
    refused = _v1(setup, "POST", f"buckets/{src}", rw_src, json=copy, params=query)
    assert refused.status_code == 403 and dst in refused.text
    assert _v1(setup, "HEAD", f"buckets/{dst}", setup.admin).status_code == 404  # not created on the way
    # PUT on the destination, but creating it needs CREATE-BUCKET
    no_create = mint("copier", buckets=[(src, ACCESS_RW), (dst, ACCESS_RW)], cluster_uuid=uuid_)
    refused = _v1(setup, "POST", f"buckets/{src}", no_create, json=copy, params=query)
    assert refused.status_code == 403 and "CREATE_BUCKET" in refused.text
    allowed = mint(
        "copier", buckets=[(src, ACCESS_RW), (dst, ACCESS_RW)], cluster_uuid=uuid_, cluster_perm=1 << 14
    )
    started = _v1(setup, "POST", f"buckets/{src}", allowed, json=copy, params=query)
    assert started.status_code == 200, started.text
    client = Client(setup.url, token=setup.admin, timeout=CLIENT_TIMEOUT)
    client.job(job_id=started.text).wait(timeout=60)
    assert client.bucket(dst).object("obj").get_reader().read_all() == b"data"


def test_a_download_needs_put_on_its_bucket(setup: Setup) -> None:
    """``/v1/download`` as the access table says: PUT on the bucket the objects go to, to start it and
    to watch, list or remove it."""

    def user(name: str, grants: list[tuple[str, int]]) -> str:
        return mint(name, buckets=grants, cluster_uuid=setup.uuid)

    support.check_download_access(setup.url, setup.admin, user)


def test_revocation_through_delete_tokens(setup: Setup) -> None:
    victim = mint("victim", buckets=[(setup.readable, ACCESS_RO)], cluster_uuid=setup.uuid)
    assert _v1(setup, "POST", "tokens", victim).status_code == 200  # AuthN's validity check
    assert _v1(setup, "POST", "tokens", "garbage").status_code == 401
    for _ in range(4):  # warm the claims cache of both workers
        assert _v1(setup, "GET", f"objects/{setup.readable}/obj", victim).status_code == 200
    body = {"tokens": [victim], "version": "1"}
    assert _v1(setup, "DELETE", "tokens", setup.reader, json=body).status_code == 403  # ADMIN only
    assert _v1(setup, "DELETE", "tokens", setup.admin, json=body).status_code == 200
    time.sleep(0.1)  # another worker looks at the shared list at most every 50 ms
    for _ in range(6):  # whichever worker answers
        answer = _v1(setup, "GET", f"objects/{setup.readable}/obj", victim)
        assert answer.status_code == 401 and "token revoked" in answer.text
    assert _v1(setup, "POST", "tokens", victim).status_code == 401
    s3 = support.s3_client(setup.url, victim)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        s3.get_object(Bucket=setup.readable, Key="obj")
    assert info.value.response["Error"]["Code"] == "AccessDenied"


def test_revocations_survive_a_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("auth-restart")
    config = support.auth_config(base / "config.json", {"enabled": True, "secret": SECRET})  # the 4.0 form
    server = StrataServer(base / "data", base / "server.log", config_path=config, workers=1).start()
    try:
        admin = mint("admin", admin=True, audience=None)
        victim = mint("victim", admin=True, audience=None)
        url = f"{server.endpoint}/v1/tokens"
        assert (
            requests.delete(url, json={"tokens": [victim]}, headers=bearer(admin), timeout=10).status_code
            == 200
        )
        server.stop()
        server.start()
        answer = requests.get(f"{server.endpoint}/v1/buckets", headers=bearer(victim), timeout=10)
        assert answer.status_code == 401 and "token revoked" in answer.text
        assert (
            requests.get(f"{server.endpoint}/v1/buckets", headers=bearer(admin), timeout=10).status_code
            == 200
        )
    finally:
        server.stop()


# -- S3 ----------------------------------------------------------------------------------------------


def _s3_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return str(info.value.response["Error"]["Code"])


def test_boto3_with_a_jwt_as_session_token(setup: Setup) -> None:
    reader = support.s3_client(setup.url, setup.reader)
    assert reader.get_object(Bucket=setup.readable, Key="obj")["Body"].read() == b"data"
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=setup.readable)["Contents"]] == ["obj"]
    assert _s3_code(reader.put_object, Bucket=setup.readable, Key="new", Body=b"x") == "AccessDenied"
    assert _s3_code(reader.get_object, Bucket=setup.other, Key="obj") == "AccessDenied"
    assert _s3_code(reader.list_buckets) == "AccessDenied"
    admin = support.s3_client(setup.url, setup.admin)
    name = f"s3-{uuid.uuid4().hex[:8]}"
    admin.create_bucket(Bucket=name)
    admin.put_object(Bucket=name, Key="k", Body=b"v")
    assert admin.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    assert name in [b["Name"] for b in admin.list_buckets()["Buckets"]]
    anonymous = support.s3_client(setup.url)
    assert _s3_code(anonymous.get_object, Bucket=setup.readable, Key="obj") == "AccessDenied"
    # a presigned URL carries the session token in its query
    url = reader.generate_presigned_url("get_object", Params={"Bucket": setup.readable, "Key": "obj"})
    assert "x-amz-security-token" in url.lower() and requests.get(url, timeout=10).content == b"data"
    url = reader.generate_presigned_url("get_object", Params={"Bucket": setup.other, "Key": "obj"})
    assert requests.get(url, timeout=10).status_code == 403


@pytest.mark.parametrize("case", ["garbage", "expired", "wrong aud", "bad signature", "HS384"])
def test_s3_refusals_are_xml_403(setup: Setup, case: str) -> None:
    token, reason = _bad_tokens(setup)[case]
    for headers in (bearer(token), {"X-Amz-Security-Token": token}):
        answer = requests.get(f"{setup.url}/s3/{setup.readable}/obj", headers=headers, timeout=10)
        assert answer.status_code == 403, answer.text
        assert "<Code>AccessDenied</Code>" in answer.text and reason in answer.text
    assert requests.get(f"{setup.url}/s3/{setup.readable}/obj", timeout=10).status_code == 403
    ok = requests.get(f"{setup.url}/s3/{setup.readable}/obj", headers=bearer(setup.reader), timeout=10)
    assert ok.status_code == 200 and ok.content == b"data"


# -- robustness ----------------------------------------------------------------------------------


def test_malformed_tokens_and_headers_never_5xx(setup: Setup) -> None:
    import random

    rng = random.Random(12)
    good = setup.reader
    pieces = [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "e30.e30.",
        "e30.e30.e30",
        "eyJhbGciOiJIUzI1NiJ9..",
        "\u00e9",
        "%00",
        good[:-3],
        good + "x",
        good.replace(".", "", 1),
        good.upper(),
        "Bearer " + good,
        " " * 40,
        "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLyJ9.e30.AAAA",
        "x" * 9000,
    ]
    for _ in range(60):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            cut = rng.randrange(len(good))
            raw = good[:cut] + rng.choice("!~*'();:@&=+$,/?#[]") + good[cut + 1 :]
        pieces.append(raw[:200])
    for index, raw in enumerate(pieces):
        value = raw if index % 3 == 0 else f"Bearer {raw}"
        for method, path in (
            ("GET", f"/v1/objects/{setup.readable}/obj"),
            ("PUT", f"/v1/objects/{setup.readable}/f"),
            ("GET", f"/s3/{setup.readable}/obj"),
            ("DELETE", "/v1/tokens"),
        ):
            try:
                headers = {"Authorization": value.encode("utf-8").decode("latin-1")}
                answer = requests.request(method, setup.url + path, headers=headers, data=b"x", timeout=10)
            except (ValueError, requests.exceptions.InvalidHeader):
                continue  # a header no client can send
            assert answer.status_code < 500, (raw, method, path, answer.status_code, answer.text)
            s3 = (
                requests.get(
                    setup.url + path,
                    headers={"X-Amz-Security-Token": raw.encode().decode("latin-1")},
                    timeout=10,
                )
                if path.startswith("/s3")
                else None
            )
            assert s3 is None or s3.status_code < 500
    assert _v1(setup, "GET", f"objects/{setup.readable}/obj", good).status_code == 200


# -- turning auth on at run time ------------------------------------------------------------------------


def test_turning_auth_on_needs_an_admin_token_in_that_request(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("auth-switch")
    server = StrataServer(base / "data", base / "server.log", workers=1).start()
    try:
        url = f"{server.endpoint}/v1/cluster"
        turn_on = {
            "action": "set-config",
            "value": {"auth": {"enabled": True, "signature": {"key": SECRET, "method": "HS256"}}},
        }
        assert requests.put(url, json=turn_on, timeout=10).status_code == 401
        user = mint("someone", audience=None)
        refused = requests.put(url, json=turn_on, headers=bearer(user), timeout=10)
        assert refused.status_code == 401 and "admin" in refused.text
        wrong_key = mint("admin", admin=True, audience=None, key="not-the-new-key-not-the-new-key-0123456789")
        assert requests.put(url, json=turn_on, headers=bearer(wrong_key), timeout=10).status_code == 401
        no_key = {"action": "set-config", "value": {"auth": {"enabled": True}}}
        assert requests.put(url, json=no_key, headers=bearer(user), timeout=10).status_code == 400
        assert requests.get(f"{server.endpoint}/v1/buckets", timeout=10).status_code == 200  # still off
        admin = mint("admin", admin=True, audience=None)
        assert requests.put(url, json=turn_on, headers=bearer(admin), timeout=10).status_code == 200
        time.sleep(0.2)
        assert requests.get(f"{server.endpoint}/v1/buckets", timeout=10).status_code == 401
        assert (
            requests.get(f"{server.endpoint}/v1/buckets", headers=bearer(admin), timeout=10).status_code
            == 200
        )
        assert SECRET not in server.full_output()
    finally:
        server.stop()


def test_serve_refuses_auth_without_a_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("auth-nokey")
    config = support.auth_config(base / "config.json", {"enabled": True})
    server = StrataServer(base / "data", base / "server.log", config_path=config, workers=1)
    with pytest.raises(Exception):  # noqa: B017 -- the process exits before it is healthy
        server.start()
    assert "nothing to verify tokens with" in server.full_output()
    server.stop()


def test_environment_key_overrides_the_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("auth-env")
    config = support.auth_config(
        base / "config.json",
        {"enabled": True, "signature": {"key": "config-key-0123456789-0123456789", "method": "HS256"}},
    )
    env_secret = "environment-secret-0123456789-0123456789"
    server = StrataServer(
        base / "data",
        base / "server.log",
        config_path=config,
        workers=1,
        env={"AIS_AUTHN_SECRET_KEY": env_secret},
    ).start()
    try:
        buckets = f"{server.endpoint}/v1/buckets"
        by_env = mint("admin", admin=True, audience=None, key=env_secret)
        by_config = mint("admin", admin=True, audience=None, key="config-key-0123456789-0123456789")
        assert requests.get(buckets, headers=bearer(by_env), timeout=10).status_code == 200
        assert requests.get(buckets, headers=bearer(by_config), timeout=10).status_code == 401
        status = requests.get(
            f"{server.endpoint}/v1/daemon?what=auth", headers=bearer(by_env), timeout=10
        ).json()
        assert status["key_source"] == "AIS_AUTHN_SECRET_KEY"
        assert env_secret not in server.full_output()
    finally:
        server.stop()
