"""Error answers the SDK can classify: AIS error JSON naming ``ais://bucket[/obj]``, Hdr-Error on HEAD,
and fast 4xx/501 (never 5xx) for anything unknown or malformed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import ErrBckNotFound, ErrObjNotFound

from .helpers import act, assert_head_404, raw, raw_exact, timed

pytestmark = pytest.mark.timeout(60)

ERROR_KEYS = {"message", "method", "url_path", "remote_addr", "caller", "node", "status"}


def check_error_json(body: dict[str, Any], status: int, method: str, needle: str) -> None:
    assert set(body) >= ERROR_KEYS, f"missing keys {ERROR_KEYS - set(body)} in {body}"
    assert body["status"] == status
    assert body["method"] == method
    assert needle in body["message"], f"{needle!r} not in {body['message']!r}"


# --- missing bucket / object ----------------------------------------------------------------------


def test_missing_bucket_errors_name_the_bucket(endpoint: str, bucket_name: str) -> None:
    b = bucket_name
    cases = [
        ("GET", f"/v1/buckets/{b}", act("list", {"props": "name"})),
        ("DELETE", f"/v1/buckets/{b}", act("destroy-bck")),
        ("PATCH", f"/v1/buckets/{b}", act("set-bprops", {"checksum": {"type": "md5"}})),
        ("GET", f"/v1/objects/{b}/obj", None),
        ("PUT", f"/v1/objects/{b}/obj", None),
        ("DELETE", f"/v1/objects/{b}/obj", None),
    ]
    for method, path, body in cases:
        resp = raw(
            method,
            f"{endpoint}{path}",
            params={"provider": "ais"},
            json=body,
            data=b"bytes" if method == "PUT" else None,
        )
        assert resp.status_code == 404, f"{method} {path}: {resp.status_code} {resp.text[:200]}"
        payload = resp.json()
        check_error_json(payload, 404, method, f"ais://{b}")
        assert f"ais://{b}/" not in payload["message"], "a missing bucket is not reported as a missing object"


def test_missing_object_errors_name_the_object(endpoint: str, bucket: Bucket) -> None:
    for method in ("GET", "DELETE"):
        resp = raw(method, f"{endpoint}/v1/objects/{bucket.name}/dir/missing.bin", params={"provider": "ais"})
        assert resp.status_code == 404
        check_error_json(resp.json(), 404, method, f"ais://{bucket.name}/dir/missing.bin")


def test_head_errors_carry_hdr_error(endpoint: str, bucket: Bucket, bucket_name: str) -> None:
    missing_bucket = f"{bucket_name}-none"
    cases = [
        (f"/v1/buckets/{missing_bucket}", f"ais://{missing_bucket}"),
        (f"/v1/objects/{missing_bucket}/o", f"ais://{missing_bucket}"),
        (f"/v1/objects/{bucket.name}/no/such/obj", f"ais://{bucket.name}/no/such/obj"),
    ]
    for path, needle in cases:
        resp = raw("HEAD", f"{endpoint}{path}", params={"provider": "ais"})
        assert resp.status_code == 404, path
        assert resp.content == b""
        assert "Hdr-Error" in resp.headers, f"HEAD {path}: no Hdr-Error header"
        check_error_json(json.loads(resp.headers["Hdr-Error"]), 404, "HEAD", needle)


def test_sdk_classification(client: Client, bucket: Bucket, bucket_name: str) -> None:
    missing = client.bucket(f"{bucket_name}-none")
    with pytest.raises(ErrBckNotFound):
        missing.list_objects()
    with pytest.raises(ErrBckNotFound):
        missing.object("x").get_reader().read_all()
    with pytest.raises(ErrObjNotFound):
        bucket.object("none").get_reader().read_all()
    # HEAD answers have no body, so the SDK can only see the status.
    assert_head_404(missing)
    assert_head_404(bucket.object("none"))
    assert_head_404(missing.object("x"))


# --- unknown, unsupported and malformed requests: fast 4xx/501 ------------------------------------

UNKNOWN: list[tuple[str, str, Any]] = [
    ("GET", "/v1/no-such-endpoint", None),
    ("GET", "/v2/buckets", None),
    ("GET", "/", None),
    ("GET", "/favicon.ico", None),
    ("GET", "/v1/cluster?what=no-such-what", None),
    ("GET", "/v1/daemon?what=no-such-what", None),
    ("PUT", "/v1/cluster", act("no-such-action")),
    ("POST", "/v1/buckets/{b}?provider=ais", act("no-such-action")),
    ("GET", "/v1/buckets/{b}?provider=ais", act("no-such-action")),
    ("PATCH", "/v1/buckets/{b}?provider=ais", act("no-such-action")),
    ("POST", "/v1/objects/{b}/o?provider=ais", act("no-such-action")),
    ("GET", "/v1/buckets/{b}?provider=no-such-provider", act("list")),
    ("GET", "/v1/etl", None),
    ("GET", "/v1/sort", None),
    ("GET", "/v1/download/no-such-path", None),
]


@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN, ids=[f"{m} {p}" for m, p, _ in UNKNOWN])
def test_unknown_requests_fail_fast_without_5xx(
    endpoint: str, bucket: Bucket, method: str, path: str, body: Any
) -> None:
    start = time.monotonic()
    data = json.dumps(body).encode() if body is not None else None
    status, _, payload = raw_exact(endpoint, method, path.format(b=bucket.name), data)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0, f"{method} {path} took {elapsed:.2f}s"
    assert 400 <= status < 500 or status == 501, f"{method} {path}: {status} {payload[:200]!r}"


MALFORMED: list[tuple[str, str, bytes]] = [
    ("POST", "/v1/buckets/{b}?provider=ais", b"{not json"),
    ("PATCH", "/v1/buckets/{b}?provider=ais", b'{"action": "set-bprops", "value": "a string"}'),
    ("PATCH", "/v1/buckets/{b}?provider=ais", b"[1, 2, 3]"),
    ("GET", "/v1/buckets/{b}?provider=ais", b'{"action": "list", "value": {"pagesize": "many"}}'),
    ("GET", "/v1/buckets/{b}?provider=ais", b'{"action": "list", "value": {"flags": "not-a-number"}}'),
    ("POST", "/v1/objects/{b}/o?provider=ais", b"\xff\xfe garbage"),
    ("PATCH", "/v1/objects/{b}/o?provider=ais", b'{"action": "", "value": ["not", "a", "map"]}'),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), MALFORMED, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(MALFORMED)]
)
def test_malformed_bodies_are_400(endpoint: str, bucket: Bucket, method: str, path: str, body: bytes) -> None:
    bucket.object("o").get_writer().put_content(b"present")
    status, _, payload = raw_exact(endpoint, method, path.format(b=bucket.name), body)
    assert status == 400, f"{method} {path} {body!r}: {status} {payload[:200]!r}"
    assert json.loads(payload)["message"]
    assert bucket.object("o").get_reader().read_all() == b"present"


def test_missing_provider_defaults_to_ais(endpoint: str, bucket: Bucket) -> None:
    """The SDK always sends ?provider=ais; curl users often do not: an empty provider means ais."""
    bucket.object("p").get_writer().put_content(b"no provider")
    resp = raw("GET", f"{endpoint}/v1/objects/{bucket.name}/p")
    assert resp.status_code == 200 and resp.content == b"no provider"


def test_conflict_on_create_is_409_with_bucket(endpoint: str, bucket: Bucket) -> None:
    resp = raw(
        "POST", f"{endpoint}/v1/buckets/{bucket.name}", params={"provider": "ais"}, json=act("create-bck")
    )
    assert resp.status_code == 409
    check_error_json(resp.json(), 409, "POST", f"ais://{bucket.name}")


def test_default_sdk_client_is_not_slowed_by_retries(endpoint: str, bucket: Bucket) -> None:
    """With the SDK's default retry policy (5xx/429 retried for ~90 s) misses must still be immediate."""
    default = Client(endpoint)
    with timed(2.0, "misses through the default client"):
        with pytest.raises(ErrObjNotFound):
            default.bucket(bucket.name).object("missing").get_reader().read_all()
        with pytest.raises(ErrBckNotFound):
            default.bucket(f"{bucket.name}-none").list_objects()
        assert_head_404(default.bucket(bucket.name).object("missing"))
    default.bucket(bucket.name).object("ok").get_writer().put_content(b"fine")
    assert default.bucket(bucket.name).object("ok").get_reader().read_all() == b"fine"
