"""List objects through the SDK: pages, iterators, prefix, start_after, props, flags, virtual dirs."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.list_object_flag import ListObjectFlag

from .helpers import act, fast_client, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

ENTRY_IS_DIR = 256
MANY = 2500


def many_name(i: int) -> str:
    return f"obj-{i:05d}"


@pytest.fixture(scope="module")
def many(server: StrataServer) -> Iterator[Bucket]:
    """A bucket with 2,500 small objects (module-scoped: it is only read)."""
    client = fast_client(server.endpoint)
    bck = client.bucket("list-many-2500").create(exist_ok=True)

    def put(i: int) -> None:
        bck.object(many_name(i)).get_writer().put_content(str(i).encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(MANY)))
    yield bck
    bck.delete(missing_ok=True)


def put_all(bck: Bucket, names: list[str]) -> None:
    for name in names:
        bck.object(name).get_writer().put_content(name.encode())


# --- paging ---------------------------------------------------------------------------------------


def test_pages_of_1000(many: Bucket) -> None:
    sizes, names = [], []
    uuid, token = "", ""
    for _ in range(10):
        page = many.list_objects(page_size=1000, uuid=uuid, continuation_token=token)
        assert page.uuid, "every page carries a non-empty UUID"
        sizes.append(len(page.entries))
        names += [e.name for e in page.entries]
        uuid, token = page.uuid, page.continuation_token
        if token == "":
            break
    assert sizes == [1000, 1000, 500]
    assert names == [many_name(i) for i in range(MANY)], "all names, once each, in order"


def test_default_page_holds_everything(many: Bucket) -> None:
    page = many.list_objects()
    assert len(page.entries) == MANY
    assert page.continuation_token == ""
    assert page.uuid


def test_list_all_and_iter(many: Bucket) -> None:
    expected = [many_name(i) for i in range(MANY)]
    assert [e.name for e in many.list_all_objects(page_size=1000)] == expected
    seen = []
    for entry in many.list_objects_iter(page_size=700):
        seen.append(entry.name)
        assert len(seen) <= MANY, "the iterator does not stop: UUID/continuation token are wrong"
    assert seen == expected
    assert [o.name for o in many.list_all_objects_iter(prefix="obj-024")] == expected[2400:2500]


def test_sizes_and_props(many: Bucket) -> None:
    entries = many.list_all_objects(props="name,size,version,checksum,atime", prefix="obj-012")
    assert [e.name for e in entries] == [many_name(i) for i in range(1200, 1300)]
    for e in entries:
        assert e.size == len(str(int(e.name[4:])))
        assert e.version == "1"
        assert e.checksum, f"{e.name}: checksum requested but empty"
        assert e.atime, f"{e.name}: atime requested but empty"
        assert e.is_ok()
    head = many.object(entries[0].name).head("checksum")
    assert entries[0].checksum == head.checksum_value


def test_prefix_and_start_after(many: Bucket) -> None:
    assert [e.name for e in many.list_all_objects(prefix="obj-0099")] == [
        "obj-00990",
        "obj-00991",
        "obj-00992",
        "obj-00993",
        "obj-00994",
        "obj-00995",
        "obj-00996",
        "obj-00997",
        "obj-00998",
        "obj-00999",
    ]
    assert many.list_all_objects(prefix="nothing-here") == []
    after = [e.name for e in many.list_all_objects(start_after="obj-02490", page_size=4)]
    assert after == [many_name(i) for i in range(2491, MANY)]
    page = many.list_objects(start_after="obj-00000", page_size=2)
    assert [e.name for e in page.entries] == ["obj-00001", "obj-00002"]


def test_raw_msgpack_response(endpoint: str, many: Bucket) -> None:
    body = act(
        "list",
        {
            "prefix": "obj-0000",
            "pagesize": 3,
            "uuid": "",
            "props": "name,size",
            "continuation_token": "",
            "flags": "0",
            "target": "",
        },
    )
    resp = raw(
        "GET",
        f"{endpoint}/v1/buckets/{many.name}",
        params={"provider": "ais"},
        json=body,
        headers={"Accept": "application/msgpack"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/msgpack"
    decoded = msgspec.msgpack.decode(resp.content)
    assert set(decoded) >= {"UUID", "ContinuationToken", "Flags", "Entries"}
    assert decoded["UUID"] and decoded["ContinuationToken"]
    assert [e["n"] for e in decoded["Entries"]] == ["obj-00000", "obj-00001", "obj-00002"]
    assert all(type(e["s"]) is int for e in decoded["Entries"])


# --- flags ----------------------------------------------------------------------------------------


def test_name_only_and_name_size(bucket: Bucket) -> None:
    put_all(bucket, ["a1", "a22", "a333"])
    names_only = bucket.list_all_objects(flags=[ListObjectFlag.NAME_ONLY])
    assert [(e.name, e.size, e.checksum) for e in names_only] == [
        ("a1", 0, ""),
        ("a22", 0, ""),
        ("a333", 0, ""),
    ]
    name_size = bucket.list_all_objects(flags=[ListObjectFlag.NAME_SIZE])
    assert [(e.name, e.size) for e in name_size] == [("a1", 2), ("a22", 3), ("a333", 4)]


def test_no_recursion_lists_virtual_dirs(bucket: Bucket) -> None:
    put_all(bucket, ["top", "a/1", "a/2", "b/c/3", "b/d", "zz/deep/er/x"])
    top = bucket.list_all_objects(flags=[ListObjectFlag.NO_RECURSION])
    assert [e.name for e in top] == ["a/", "b/", "top", "zz/"]
    dirs = {e.name for e in top if e.flags & ENTRY_IS_DIR}
    assert dirs == {"a/", "b/", "zz/"}
    under_b = bucket.list_all_objects(prefix="b/", flags=[ListObjectFlag.NO_RECURSION])
    assert [e.name for e in under_b] == ["b/c/", "b/d"]
    assert {e.name for e in under_b if e.flags & ENTRY_IS_DIR} == {"b/c/"}
    no_dirs = bucket.list_all_objects(flags=[ListObjectFlag.NO_RECURSION, ListObjectFlag.NO_DIRS])
    assert [e.name for e in no_dirs] == ["top"]


def test_recursive_listing_has_no_dir_entries(bucket: Bucket) -> None:
    put_all(bucket, ["x/y/z", "x/w"])
    entries = bucket.list_all_objects()
    assert [e.name for e in entries] == ["x/w", "x/y/z"]
    assert all((e.flags & ENTRY_IS_DIR) == 0 for e in entries)


# --- edge cases -----------------------------------------------------------------------------------


def test_empty_bucket_listing_terminates(bucket: Bucket) -> None:
    page = bucket.list_objects()
    assert page.entries == []
    assert page.continuation_token == ""
    assert page.uuid
    assert bucket.list_all_objects() == []
    assert list(bucket.list_objects_iter(page_size=10)) == []


def test_small_bucket_iter_terminates(bucket: Bucket) -> None:
    put_all(bucket, ["one", "two", "three"])
    seen = []
    for entry in bucket.list_objects_iter():
        seen.append(entry.name)
        assert len(seen) <= 3, "iterator restarted: the last page must carry a UUID and an empty token"
    assert seen == ["one", "three", "two"]


def test_listing_reflects_deletes(client: Client, bucket: Bucket) -> None:
    put_all(bucket, [f"d{i}" for i in range(10)])
    for i in range(0, 10, 2):
        bucket.object(f"d{i}").delete()
    assert [e.name for e in bucket.list_all_objects()] == [f"d{i}" for i in range(1, 10, 2)]
