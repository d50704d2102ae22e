"""Auth in a real cluster (etcd, 2 targets, 2 proxies, 2 workers each): auth and the cluster key turned on
at run time with an admin token, signed redirects (tamper, replay, rotation), direct target access,
revocations shared through etcd, S3 forwarding with a JWT, jobs and GetBatch across nodes."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError

from strata.cluster.devcluster import DevCluster
from strata.cluster.etcd import Etcd
from strata.cluster.etcd_store import EtcdMetaStore
from tests.integration import auth_support as support
from tests.integration.auth_support import ACCESS_RO, SECRET, bearer, mint
from tests.integration.helpers import CLIENT_TIMEOUT

pytestmark = pytest.mark.timeout(300)
ADMIN = mint("admin", admin=True, audience=None)


def _eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def _when_not_overloaded(call: Callable[[], str]) -> str:
    """A job start, retried while a busy test machine makes the node answer 429 (load, not auth)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return call()
        except AISError as exc:
            if exc.status_code != 429 or time.monotonic() > deadline:
                raise
            time.sleep(1)


def _nodes(dev: DevCluster, role: str) -> list[str]:
    return [proc.url for proc in dev.procs.values() if proc.role == role]


def _set_auth(dev: DevCluster, auth: dict[str, object], token: str | None) -> requests.Response:
    body = {"action": "set-config", "value": {"auth": auth}}
    headers = bearer(token) if token else {}
    return requests.put(f"{dev.endpoint}/v1/cluster", json=body, headers=headers, timeout=15)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(str(tmp_path_factory.mktemp("auth-cluster") / "cluster"), workers=2)
    try:
        cluster.up(targets=2, proxies=2)
        auth = {
            "enabled": True,
            "signature": {"key": SECRET, "method": "HS256"},
            "cluster_key": {"enabled": True},
        }
        assert _set_auth(cluster, auth, None).status_code == 401  # turning auth on needs an admin token
        assert _set_auth(cluster, auth, mint("u", audience=None)).status_code == 401
        answer = _set_auth(cluster, auth, ADMIN)
        assert answer.status_code == 200, answer.text
        for url in _nodes(cluster, "proxy") + _nodes(cluster, "target"):  # every node's watch has it
            _eventually(lambda url=url: requests.get(f"{url}/v1/buckets", timeout=5).status_code == 401)
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def bucket(dev: DevCluster) -> str:
    client = Client(dev.endpoint, token=ADMIN, timeout=CLIENT_TIMEOUT)
    name = f"c-{uuid.uuid4().hex[:8]}"
    created = client.bucket(name).create()
    for i in range(8):
        created.object(f"o{i}").get_writer().put_content(f"object {i}".encode())
    return name


def _location(dev: DevCluster, method: str, path: str, **kwargs: object) -> str:
    answer = requests.request(
        method, dev.endpoint + path, headers=bearer(ADMIN), allow_redirects=False, timeout=15, **kwargs
    )  # type: ignore[arg-type]
    assert answer.status_code == 307, answer.text
    return answer.headers["Location"]


def _with_params(location: str, **changes: str | None) -> str:
    parts = urlsplit(location)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return urlunsplit(parts._replace(query=urlencode(params)))


def test_sdk_through_signed_redirects_jobs_and_getbatch(dev: DevCluster, bucket: str) -> None:
    client = Client(dev.endpoint, token=ADMIN, timeout=CLIENT_TIMEOUT)
    assert client.bucket(bucket).object("o3").get_reader().read_all() == b"object 3"
    assert sorted(e.name for e in client.bucket(bucket).list_all_objects()) == [f"o{i}" for i in range(8)]
    copy = f"copy-{uuid.uuid4().hex[:8]}"
    job = _when_not_overloaded(lambda: client.bucket(bucket).copy(to_bck=client.bucket(copy)))
    client.job(job_id=job).wait(timeout=90)
    assert client.bucket(copy).object("o5").get_reader().read_all() == b"object 5"
    batch = client.batch(bucket=client.bucket(bucket))
    for i in range(8):
        batch.add(f"o{i}")
    assert [data for _, data in batch.get()] == [f"object {i}".encode() for i in range(8)]
    location = _location(dev, "GET", f"/v1/objects/{bucket}/o1")
    params = dict(parse_qsl(urlsplit(location).query))
    assert {"pid", "utm", "vpams", "x", "u"} <= params.keys() and len(params["u"]) == 43


def test_tampered_redirects_are_refused(dev: DevCluster, bucket: str) -> None:
    location = _location(dev, "GET", f"/v1/objects/{bucket}/o1")
    u = dict(parse_qsl(urlsplit(location).query))["u"]
    flipped = "A" if u[-1] != "A" else "B"
    cases = {
        "signature": (_with_params(location, u=u[:-1] + flipped), 401, "HMAC signature mismatch"),
        "proxy id": (_with_params(location, pid="someone-else"), 401, "HMAC signature mismatch"),
        "time": (_with_params(location, utm="1"), 401, "HMAC signature mismatch"),
        "nonce": (_with_params(location, x="1"), 401, "HMAC signature mismatch"),
        "object": (location.replace("/o1?", "/o2?"), 401, "HMAC signature mismatch"),
        "unsigned": (_with_params(location, u=None, vpams=None, x=None), 401, "not signed"),
        "length": (_with_params(location, u="short"), 400, "signature length"),
    }
    for name, (url, status, text) in cases.items():
        answer = requests.get(url, timeout=15)
        assert answer.status_code == status and text in answer.text, (name, answer.status_code, answer.text)
    assert requests.get(location, timeout=15).content == b"object 1"  # the genuine one still works, once
    # malformed markers and peer-call headers: refused, never a 5xx
    target = _nodes(dev, "target")[0]
    for query in (
        "pid=&utm=",
        "pid=p&utm=%FF",
        "pid=p&utm=zzzzzzzzzzzzzzzzzz&u=" + "A" * 43,
        "pid=p&utm=1&x=-1&u=x",
        "pid=p&utm=\u00b2&vpams=\u00b2&u=" + "A" * 43,
    ):
        answer = requests.get(f"{target}/v1/objects/{bucket}/o1?{query}", timeout=15)
        assert 400 <= answer.status_code < 500, (query, answer.status_code, answer.text)
    for headers in (
        {"Ais-Caller-Sig": "x"},
        {"Ais-Caller-Sig": "A" * 43, "Ais-Caller-Id": "t", "Ais-Caller-Time": "1", "Ais-Caller-Nonce": "1"},
        {"Ais-Caller-Sig": "A" * 43, "Ais-Caller-Time": "9" * 30},
    ):
        answer = requests.put(f"{target}/v1/objects/{bucket}/peer", data=b"x", headers=headers, timeout=15)
        assert answer.status_code == 401, (headers, answer.status_code, answer.text)


def test_a_redirect_works_once(dev: DevCluster, bucket: str) -> None:
    location = _location(dev, "GET", f"/v1/objects/{bucket}/o2")
    assert requests.get(location, timeout=15).content == b"object 2"
    for _ in range(4):  # whichever worker of the target answers
        replay = requests.get(location, timeout=15)
        assert replay.status_code == 401 and "replayed" in replay.text
    put = _location(dev, "PUT", f"/v1/objects/{bucket}/new", data=b"12345")
    assert requests.put(put, data=b"12345", timeout=15).status_code == 200
    assert requests.put(put, data=b"12345", timeout=15).status_code == 401
    assert (
        requests.put(
            _location(dev, "PUT", f"/v1/objects/{bucket}/n2", data=b"12345"), data=b"123456", timeout=15
        ).status_code
        == 401
    )  # the body's length is signed


def test_direct_target_access(dev: DevCluster, bucket: str) -> None:
    target = _nodes(dev, "target")[0]
    write = requests.put(f"{target}/v1/objects/{bucket}/direct", data=b"x", headers=bearer(ADMIN), timeout=15)
    assert write.status_code == 403 and "direct target access denied" in write.text
    assert requests.get(f"{target}/v1/objects/{bucket}/o1", timeout=15).status_code == 401
    forged = requests.get(f"{target}/v1/objects/{bucket}/o1?pid=p&utm=1", timeout=15)
    assert forged.status_code == 401
    reads = [
        requests.get(f"{url}/v1/buckets/{bucket}", headers=bearer(ADMIN), timeout=15)
        for url in _nodes(dev, "target")
    ]
    assert all(answer.status_code in (200, 400) for answer in reads)


def test_revocation_reaches_every_proxy(dev: DevCluster, bucket: str) -> None:
    first, second = _nodes(dev, "proxy")
    victim = mint("victim", audience=None, admin=True)
    assert requests.get(f"{second}/v1/buckets", headers=bearer(victim), timeout=15).status_code == 200
    revoke = requests.delete(
        f"{first}/v1/tokens", json={"tokens": [victim]}, headers=bearer(ADMIN), timeout=15
    )
    assert revoke.status_code == 200
    _eventually(
        lambda: requests.get(f"{second}/v1/buckets", headers=bearer(victim), timeout=5).status_code == 401
    )
    answer = requests.get(f"{second}/v1/buckets", headers=bearer(victim), timeout=15)
    assert "token revoked" in answer.text


def test_key_rotation_keeps_issued_redirects_valid_for_the_grace(dev: DevCluster, bucket: str) -> None:
    store = EtcdMetaStore(Etcd([dev.etcd_url]), "strata").start(watch=False)
    before = store.cluster_keys().current
    assert before is not None
    issued = _location(dev, "GET", f"/v1/objects/{bucket}/o4")
    store.rotate_cluster_key(grace_s=60)
    after = store.cluster_keys().current
    assert after is not None and after.version == before.version + 1
    assert requests.get(issued, timeout=15).content == b"object 4"  # the old key, within its grace

    def signed_with_new_key() -> bool:
        fresh = _location(dev, "GET", f"/v1/objects/{bucket}/o4")
        return requests.get(fresh, timeout=15).status_code == 200

    _eventually(signed_with_new_key)


def test_s3_through_the_proxy_with_a_jwt(dev: DevCluster, bucket: str) -> None:
    uuid_ = support.cluster_uuid(dev.endpoint, ADMIN)
    reader = support.s3_client(
        dev.endpoint, mint("reader", audience=None, buckets=[(bucket, ACCESS_RO)], cluster_uuid=uuid_)
    )
    assert reader.get_object(Bucket=bucket, Key="o6")["Body"].read() == b"object 6"
    assert len(reader.list_objects_v2(Bucket=bucket)["Contents"]) >= 8
    with pytest.raises(Exception) as denied:
        reader.put_object(Bucket=bucket, Key="s3-new", Body=b"x")
    assert "AccessDenied" in str(denied.value)
    admin = support.s3_client(dev.endpoint, ADMIN)
    admin.put_object(Bucket=bucket, Key="s3-new", Body=b"y")
    assert admin.get_object(Bucket=bucket, Key="s3-new")["Body"].read() == b"y"


def test_downloads_through_a_proxy_need_put_on_their_bucket(dev: DevCluster) -> None:
    """The proxy checks the principal before it fans a download's start, status or removal out to the
    targets (which see only the cluster's own signed calls)."""
    cluster_uuid = support.cluster_uuid(dev.endpoint, ADMIN)

    def user(name: str, grants: list[tuple[str, int]]) -> str:
        return mint(name, buckets=grants, cluster_uuid=cluster_uuid, audience=None)

    support.check_download_access(dev.endpoint, ADMIN, user)


def test_show_cluster_reports_auth_and_an_open_front(dev: DevCluster) -> None:
    def show() -> str:
        env = {"AIS_ENDPOINT": dev.endpoint, "AIS_AUTHN_TOKEN": ADMIN, "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-m", "strata", "show", "cluster"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown = show()
    assert "tokens required" in shown and "signed" in shown and "OPEN FRONT" not in shown
    off = _set_auth(dev, {"cluster_key": {"enabled": False}}, ADMIN)
    assert off.status_code == 200, off.text
    try:
        _eventually(lambda: "OPEN FRONT" in show())
        # and it is true: a forged redirect marker gets past a target without a token
        target = _nodes(dev, "target")[0]
        bucket_name = f"c-{uuid.uuid4().hex[:8]}"
        Client(dev.endpoint, token=ADMIN, timeout=CLIENT_TIMEOUT).bucket(bucket_name).create()
        _eventually(
            lambda: (
                requests.get(f"{target}/v1/objects/{bucket_name}/x?pid=p&utm=1", timeout=5).status_code == 404
            )
        )
    finally:
        assert _set_auth(dev, {"cluster_key": {"enabled": True}}, ADMIN).status_code == 200
    _eventually(lambda: "OPEN FRONT" not in show())
