"""Object names: unusual but valid names round-trip exactly; names that escape the bucket get 400."""

from __future__ import annotations

import json
import os
import uuid
from urllib.parse import quote

import pytest
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError

from .helpers import assert_head_404, raw_exact
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
    assert_head_404(bucket.object(name))


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


@pytest.mark.parametrize(("first", "second"), [("a", "a/b"), ("x/y", "x")])
def test_object_and_directory_with_the_same_name(bucket: Bucket, first: str, second: str) -> None:
    """``a`` and ``a/b`` are both valid names, but a store that keeps objects as files (AIStore too)
    may refuse the second one: then with a clear 4xx (409), and the first object stays intact."""
    bucket.object(first).get_writer().put_content(b"first")
    try:
        bucket.object(second).get_writer().put_content(b"second")
    except AISError as err:
        assert err.status_code == 409, err
        assert [e.name for e in bucket.list_all_objects()] == [first]
    else:
        assert bucket.object(second).get_reader().read_all() == b"second"
        assert sorted(e.name for e in bucket.list_all_objects()) == sorted([first, second])
    assert bucket.object(first).get_reader().read_all() == b"first"


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
    # os.walk, not rglob: the shared server empties its trash meanwhile (vanishing dirs are skipped)
    escaped = [
        os.path.join(top, name)
        for top, dirs, files in os.walk(server.data_dir.parent)
        for name in dirs + files
        if marker in name
    ]
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
    assert_head_404(bucket.object(normalized))
    assert [e.name for e in bucket.list_all_objects()] == [name]


def test_sdk_reports_bad_names_as_400(bucket: Bucket) -> None:
    with pytest.raises(AISError) as info:
        bucket.object("a\x00b").get_writer().put_content(b"x")
    assert info.value.status_code == 400


@pytest.mark.parametrize("name", ["日本語/ファイル.txt", "emoji-\U0001f600", "ümlaut"])
def test_head_of_non_ascii_names(server: StrataServer, bucket: Bucket, name: str) -> None:
    """HEAD reports the object, and HEAD of a missing one is a 404 with Hdr-Error — whatever the script."""
    bucket.object(name).get_writer().put_content(b"12345")
    attrs = bucket.object(name).head()
    assert attrs.size == 5 and attrs.present
    missing = f"{name}-missing"
    status, headers, _ = raw_exact(
        server.endpoint, "HEAD", f"/v1/objects/{bucket.name}/{quote(missing)}?provider=ais"
    )
    assert status == 404
    assert "hdr-error" in headers


def test_non_ascii_custom_metadata_value(bucket: Bucket) -> None:
    obj = bucket.object("md-unicode")
    obj.get_writer().put_content(b"x")
    obj.get_writer().set_custom_props({"lang": "日本語", "plain": "ascii"})
    custom = obj.head("custom").custom_metadata  # header values travel as raw bytes; the SDK reads latin-1
    assert custom["plain"] == "ascii"
    assert custom["lang"].encode("latin-1").decode("utf-8") == "日本語"
