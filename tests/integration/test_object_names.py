"""Object names: unusual but valid names round-trip exactly; names that escape the bucket get 400."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError, ErrObjNotFound

from .helpers import raw_exact
from .server import StrataServer

pytestmark = pytest.mark.timeout(60)

ODD_NAMES = [
    "日本語/ファイル.txt",
    "with space.txt",
    "  leading and trailing  ",
    "100%.bin",
    "literal%2Fslash",
    "literal%25percent",
    "a/b/c/d/e/f.txt",
    "q?x=1&y=2",
    "hash#frag",
    "plus+sign",
    "semi;colon,comma",
    "quote\"and'apostrophe",
    "emoji-\U0001f600",
    "ends-with-dot.",
    "...three-dots",
    "a..b",
    "x" * 255,
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=range(len(ODD_NAMES)))
def test_odd_names_round_trip(bucket: Bucket, name: str) -> None:
    data = f"content of {name}".encode()
    bucket.object(name).get_writer().put_content(data)
    assert bucket.object(name).get_reader().read_all() == data
    assert bucket.object(name).head().size == len(data)
    assert [e.name for e in bucket.list_all_objects()] == [name]
    bucket.object(name).delete()
    with pytest.raises(ErrObjNotFound):
        bucket.object(name).head()


def test_odd_names_listed_together_sorted(bucket: Bucket) -> None:
    for name in ODD_NAMES:
        bucket.object(name).get_writer().put_content(name.encode())
    listed = [e.name for e in bucket.list_all_objects()]
    assert listed == sorted(ODD_NAMES), "names come back exactly, in byte order"
    for name in ODD_NAMES:
        assert bucket.object(name).get_reader().read_all() == name.encode()


def test_long_nested_name(bucket: Bucket) -> None:
    name = "/".join(f"segment{i:03d}" for i in range(60))  # ~660 bytes, 60 levels
    bucket.object(name).get_writer().put_content(b"deep")
    assert bucket.object(name).get_reader().read_all() == b"deep"
    assert [e.name for e in bucket.list_all_objects(prefix="segment000/")] == [name]


def test_name_and_prefix_dir_coexist(bucket: Bucket) -> None:
    """``a`` (an object) and ``a/b`` (an object under a "directory" a/) are both valid AIS names."""
    bucket.object("a").get_writer().put_content(b"file a")
    bucket.object("a/b").get_writer().put_content(b"file a/b")
    assert bucket.object("a").get_reader().read_all() == b"file a"
    assert bucket.object("a/b").get_reader().read_all() == b"file a/b"
    assert [e.name for e in bucket.list_all_objects()] == ["a", "a/b"]


# --- names that would escape the bucket -----------------------------------------------------------

ESCAPING = {
    "dotdot-encoded": "..%2Fescape-{m}",
    "dotdot-deep-encoded": "a%2F..%2F..%2Fescape-{m}",
    "dotdot-many-encoded": "..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Ftmp%2Fescape-{m}",
    "dotdot-verbatim": "../escape-{m}",
    "dotdot-mid-verbatim": "a/../../escape-{m}",
    "absolute-encoded": "%2Ftmp%2Fescape-{m}",
    "nul": "a%00escape-{m}",
    "only-dotdot": "..",
    "only-dot": ".",
}


@pytest.mark.parametrize("method", ["PUT", "GET", "HEAD", "DELETE"])
@pytest.mark.parametrize("case", list(ESCAPING))
def test_escaping_names_rejected_400(server: StrataServer, bucket: Bucket, case: str, method: str) -> None:
    marker = uuid.uuid4().hex
    encoded = ESCAPING[case].format(m=marker)
    path = f"/v1/objects/{bucket.name}/{encoded}?provider=ais"
    body = b"should never land" if method == "PUT" else None
    status, headers, data = raw_exact(server.endpoint, method, path, body)
    assert status == 400, f"{method} {encoded}: {status} {data[:300]!r}"
    if method == "HEAD":
        assert "hdr-error" in headers, "HEAD errors carry the error in Hdr-Error"
    else:
        assert json.loads(data)["message"], "error body is AIS error JSON with a message"
    assert b"root:" not in data
    assert [e.name for e in bucket.list_all_objects()] == []
    escaped = [p for p in server.data_dir.parent.rglob(f"*{marker}*")]
    assert escaped == [], f"a rejected name left files behind: {escaped}"


def test_get_passwd_via_traversal_never_leaks(server: StrataServer, bucket: Bucket) -> None:
    for encoded in ["..%2F" * 12 + "etc%2Fpasswd", "%2Fetc%2Fpasswd", "..%2f..%2f..%2f..%2fetc%2fpasswd"]:
        path = f"/v1/objects/{bucket.name}/{encoded}?provider=ais"
        status, _, data = raw_exact(server.endpoint, "GET", path)
        assert status == 400, f"{encoded}: {status}"
        assert b"root:" not in data


@pytest.mark.parametrize("name", ["a/./b", "a//b", "./b"])
def test_dot_and_empty_segments_do_not_alias(server: StrataServer, bucket: Bucket, name: str) -> None:
    """Either rejected (400), or a distinct object: never the same file as the normalized name."""
    path = f"/v1/objects/{bucket.name}/{quote(name, safe='')}?provider=ais"
    status, _, data = raw_exact(server.endpoint, "PUT", path, b"odd")
    if status == 400:
        return
    assert status == 200, f"{name}: {status} {data[:300]!r}"
    normalized = name.replace("/./", "/").replace("//", "/").removeprefix("./")
    with pytest.raises(ErrObjNotFound):
        bucket.object(normalized).head()
    assert [e.name for e in bucket.list_all_objects()] == [name]


def test_sdk_reports_bad_names_as_400(bucket: Bucket) -> None:
    with pytest.raises(AISError) as info:
        bucket.object("a\x00b").get_writer().put_content(b"x")
    assert info.value.status_code == 400
