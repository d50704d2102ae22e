"""Concurrent clients: overwrites are atomic for readers, directory races do not fail PUTs, no 5xx."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from aistore.sdk.bucket import Bucket

from .helpers import pattern

pytestmark = pytest.mark.timeout(120)


def versioned(writer: int, round_: int) -> bytes:
    tag = f"w{writer}r{round_}"
    return f"{tag};".encode() + pattern(tag, 50_000 + 997 * writer + round_)


def check_versioned(data: bytes) -> None:
    tag, _, _ = data.partition(b";")
    writer, round_ = (int(x) for x in tag.decode().removeprefix("w").split("r"))
    assert data == versioned(writer, round_), f"torn read: header {tag!r}, {len(data)} bytes"


def test_readers_never_see_a_torn_overwrite(endpoint: str, bucket: Bucket) -> None:
    url = f"{endpoint}/v1/objects/{bucket.name}/hot"
    assert requests.put(url, params={"provider": "ais"}, data=versioned(0, 0), timeout=10).status_code == 200
    stop = threading.Event()
    problems: list[str] = []

    def write(writer: int) -> None:
        with requests.Session() as s:
            for r in range(25):
                resp = s.put(url, params={"provider": "ais"}, data=versioned(writer, r), timeout=10)
                if resp.status_code != 200:
                    problems.append(f"PUT w{writer}r{r}: {resp.status_code} {resp.text[:200]}")

    def read() -> int:
        reads = 0
        with requests.Session() as s:
            while not stop.is_set():
                resp = s.get(url, params={"provider": "ais"}, timeout=10)
                if resp.status_code != 200:
                    problems.append(f"GET: {resp.status_code} {resp.text[:200]}")
                    continue
                try:
                    check_versioned(resp.content)
                except (AssertionError, ValueError) as err:
                    problems.append(str(err))
                reads += 1
        return reads

    with ThreadPoolExecutor(max_workers=8) as pool:
        readers = [pool.submit(read) for _ in range(3)]
        writers = [pool.submit(write, w) for w in range(1, 5)]
        for f in writers:
            f.result()
        stop.set()
        total_reads = sum(f.result() for f in readers)
    assert problems == []
    assert total_reads > 0
    check_versioned(bucket.object("hot").get_reader().read_all())


def test_concurrent_overwrites_count_every_version(bucket: Bucket) -> None:
    """Versions come from a read-increment-write: under concurrent PUTs it must not lose increments."""
    bucket.object("counted").get_writer().put_content(b"v1")

    def write(writer: int) -> None:
        for r in range(25):
            bucket.object("counted").get_writer().put_content(versioned(writer, r))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(1, 5)))
    assert bucket.object("counted").head("version").obj_version == str(1 + 4 * 25)


def test_parallel_puts_into_new_directories(bucket: Bucket) -> None:
    names = [f"deep/{i % 3}/shared/{i % 5}/leaf-{i}" for i in range(120)]

    def put(name: str) -> None:
        bucket.object(name).get_writer().put_content(name.encode())

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(put, names))
    assert sorted(e.name for e in bucket.list_all_objects()) == sorted(names)
    for name in names[:20]:
        assert bucket.object(name).get_reader().read_all() == name.encode()


def test_put_delete_race_leaves_a_whole_object_or_none(endpoint: str, bucket: Bucket) -> None:
    url = f"{endpoint}/v1/objects/{bucket.name}/racy"
    statuses: list[int] = []

    def put_loop(writer: int) -> None:
        with requests.Session() as s:
            for r in range(30):
                statuses.append(
                    s.put(url, params={"provider": "ais"}, data=versioned(writer, r), timeout=10).status_code
                )

    def delete_loop() -> None:
        with requests.Session() as s:
            for _ in range(60):
                statuses.append(s.delete(url, params={"provider": "ais"}, timeout=10).status_code)

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(put_loop, 1), pool.submit(put_loop, 2), pool.submit(delete_loop)]
        for f in futures:
            f.result()
    assert all(code in (200, 404) for code in statuses), sorted(set(statuses))
    resp = requests.get(url, params={"provider": "ais"}, timeout=10)
    assert resp.status_code in (200, 404)
    if resp.status_code == 200:
        check_versioned(resp.content)
        assert [e.name for e in bucket.list_all_objects()] == ["racy"]
    else:
        assert bucket.list_all_objects() == []


def test_concurrent_metadata_merges_are_not_lost(bucket: Bucket) -> None:
    """Each PATCH merges one key; run in parallel, every key must be there at the end."""
    obj = bucket.object("md-race")
    obj.get_writer().put_content(b"content")

    def merge(i: int) -> None:
        bucket.object("md-race").get_writer().set_custom_props({f"k{i:02d}": str(i)})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(merge, range(40)))
    assert obj.head("custom").custom_metadata == {f"k{i:02d}": str(i) for i in range(40)}
    assert obj.get_reader().read_all() == b"content"


def test_metadata_patch_racing_overwrites_keeps_metadata_true(endpoint: str, bucket: Bucket) -> None:
    """A PATCH (custom metadata) racing a PUT must not stamp the old size/checksum on the new content.

    Every GET answers the bytes and ``Ais-Checksum-Value`` of the same version: they must agree.
    """
    bucket.make_request("PATCH", "set-bprops", value={"checksum": {"type": "md5"}})
    obj = bucket.object("patched")
    obj.get_writer().put_content(versioned(0, 0))
    stop = threading.Event()
    mismatches: list[str] = []

    def put_loop() -> None:
        for r in range(1, 150):
            bucket.object("patched").get_writer().put_content(versioned(r % 7, r))

    def patch_loop() -> None:
        for i in range(300):
            bucket.object("patched").get_writer().set_custom_props({"n": str(i)})

    def read_loop() -> None:
        with requests.Session() as s:
            while not stop.is_set():
                resp = s.get(
                    f"{endpoint}/v1/objects/{bucket.name}/patched", params={"provider": "ais"}, timeout=10
                )
                if resp.headers.get("Ais-Checksum-Value") != hashlib.md5(resp.content).hexdigest():
                    mismatches.append(
                        f"{resp.status_code} {len(resp.content)} bytes, header "
                        f"{resp.headers.get('Ais-Checksum-Value')}"
                    )

    with ThreadPoolExecutor(max_workers=4) as pool:
        reader = pool.submit(read_loop)
        futures = [pool.submit(put_loop), pool.submit(patch_loop), pool.submit(patch_loop)]
        try:
            for f in futures:
                f.result()
        finally:
            stop.set()
            reader.result()
    assert mismatches == [], f"{len(mismatches)} GETs with a checksum of another version: {mismatches[:5]}"
    data = obj.get_reader().read_all()
    check_versioned(data)
    attrs = obj.head("checksum")
    assert attrs.size == len(data), "HEAD size describes the content GET returns"
    assert attrs.checksum_value == hashlib.md5(data).hexdigest(), "the checksum is of the current content"
