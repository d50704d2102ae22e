"""Several worker processes on one port: a change made through one is seen at once through every other.

Each request goes on a fresh ``requests.Session`` (a new TCP connection), so consecutive requests land
on whichever worker the kernel picks. Bucket metadata (create, props, destroy) must never lag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import msgspec
import pytest

from .helpers import act, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

ROUNDS = 15
READS = 12


@pytest.fixture
def two_workers(server_factory: Callable[..., StrataServer]) -> StrataServer:
    return server_factory(workers=2)


def test_create_then_immediately_visible(two_workers: StrataServer) -> None:
    ep = two_workers.endpoint
    for r in range(ROUNDS):
        name = f"vis-{r}"
        resp = raw("POST", f"{ep}/v1/buckets/{name}", params={"provider": "ais"}, json=act("create-bck"))
        assert resp.status_code == 200, resp.text
        for i in range(READS):
            head = raw("HEAD", f"{ep}/v1/buckets/{name}", params={"provider": "ais"})
            assert head.status_code == 200, f"round {r}, HEAD #{i} after create: {head.status_code}"
            put = raw("PUT", f"{ep}/v1/objects/{name}/o{i}", params={"provider": "ais"}, data=b"x" * i)
            assert put.status_code == 200, f"round {r}, PUT #{i} after create: {put.status_code} {put.text}"
        listed = raw("GET", f"{ep}/v1/buckets", params={"provider": "ais"}, json=act("list")).json()
        assert name in [b["name"] for b in listed]


def test_create_conflict_seen_by_every_worker(two_workers: StrataServer) -> None:
    ep = two_workers.endpoint
    resp = raw("POST", f"{ep}/v1/buckets/once", params={"provider": "ais"}, json=act("create-bck"))
    assert resp.status_code == 200
    for _ in range(READS):
        again = raw("POST", f"{ep}/v1/buckets/once", params={"provider": "ais"}, json=act("create-bck"))
        assert again.status_code == 409, again.text


def test_set_props_then_immediately_read_back(two_workers: StrataServer) -> None:
    ep = two_workers.endpoint
    raw("POST", f"{ep}/v1/buckets/props", params={"provider": "ais"}, json=act("create-bck"))
    for r, algo in enumerate(["md5", "sha256", "xxhash", "crc32c", "sha512", "xxhash2"] * 2):
        burst = 100 + r
        value = {"checksum": {"type": algo}, "mirror": {"burst_buffer": burst}}
        resp = raw(
            "PATCH", f"{ep}/v1/buckets/props", params={"provider": "ais"}, json=act("set-bprops", value)
        )
        assert resp.status_code == 200, resp.text
        for i in range(READS):
            head = raw("HEAD", f"{ep}/v1/buckets/props", params={"provider": "ais"})
            props = json.loads(head.headers["Ais-Bucket-Props"])
            assert props["checksum"]["type"] == algo, f"round {r}, read #{i}: stale props"
            assert props["mirror"]["burst_buffer"] == burst, f"round {r}, read #{i}: stale props"


def test_new_props_apply_to_the_next_put(two_workers: StrataServer) -> None:
    """The checksum type set through one worker is used by a PUT that lands on another."""
    ep = two_workers.endpoint
    raw("POST", f"{ep}/v1/buckets/cks", params={"provider": "ais"}, json=act("create-bck"))
    for r, algo in enumerate(["md5", "sha256", "md5", "sha256"]):
        raw(
            "PATCH",
            f"{ep}/v1/buckets/cks",
            params={"provider": "ais"},
            json=act("set-bprops", {"checksum": {"type": algo}}),
        )
        for i in range(5):
            data = f"{r}-{i}".encode()
            put = raw("PUT", f"{ep}/v1/objects/cks/o", params={"provider": "ais"}, data=data)
            assert put.status_code == 200
            head = raw("HEAD", f"{ep}/v1/objects/cks/o", params={"provider": "ais", "props": "checksum"})
            assert head.headers["Ais-Checksum-Type"] == algo, f"round {r}, PUT #{i}"
            assert head.headers["Ais-Checksum-Value"] == hashlib.new(algo, data).hexdigest()


def test_destroy_then_immediately_gone(two_workers: StrataServer) -> None:
    ep = two_workers.endpoint
    for r in range(ROUNDS):
        name = f"gone-{r}"
        raw("POST", f"{ep}/v1/buckets/{name}", params={"provider": "ais"}, json=act("create-bck"))
        raw("PUT", f"{ep}/v1/objects/{name}/o", params={"provider": "ais"}, data=b"data")
        resp = raw("DELETE", f"{ep}/v1/buckets/{name}", params={"provider": "ais"}, json=act("destroy-bck"))
        assert resp.status_code == 200, resp.text
        for i in range(READS):
            head = raw("HEAD", f"{ep}/v1/buckets/{name}", params={"provider": "ais"})
            assert head.status_code == 404, f"round {r}, HEAD #{i} after destroy: {head.status_code}"
            get = raw("GET", f"{ep}/v1/objects/{name}/o", params={"provider": "ais"})
            assert get.status_code == 404, f"round {r}, GET #{i} after destroy: {get.status_code}"


def test_objects_visible_across_workers(two_workers: StrataServer) -> None:
    ep = two_workers.endpoint
    raw("POST", f"{ep}/v1/buckets/objs", params={"provider": "ais"}, json=act("create-bck"))
    for i in range(40):
        data = f"value-{i}".encode() * (i + 1)
        assert raw("PUT", f"{ep}/v1/objects/objs/k", params={"provider": "ais"}, data=data).status_code == 200
        for _ in range(3):
            get = raw("GET", f"{ep}/v1/objects/objs/k", params={"provider": "ais"})
            assert get.status_code == 200 and get.content == data, f"PUT #{i}: stale read"
        head = raw("HEAD", f"{ep}/v1/objects/objs/k", params={"provider": "ais", "props": "version"})
        assert head.headers["Ais-Version"] == str(i + 1), "versions count every PUT, whichever worker took it"


def test_append_handles_work_on_every_worker(two_workers: StrataServer) -> None:
    """An append handle from one worker is honoured by the next request, wherever it lands."""
    ep = two_workers.endpoint
    raw("POST", f"{ep}/v1/buckets/app", params={"provider": "ais"}, json=act("create-bck"))
    for r in range(ROUNDS):
        url = f"{ep}/v1/objects/app/log-{r}"
        handle = ""
        pieces = [f"r{r}p{i};".encode() * 50 for i in range(6)]
        for piece in pieces:
            resp = raw(
                "PUT",
                url,
                params={"provider": "ais", "append_type": "append", "append_handle": handle},
                data=piece,
            )
            assert resp.status_code == 200, f"round {r}: {resp.status_code} {resp.text[:200]}"
            handle = resp.headers["Ais-Append-Handle"]
            assert handle
        resp = raw("PUT", url, params={"provider": "ais", "append_type": "flush", "append_handle": handle})
        assert resp.status_code == 200, f"round {r} flush: {resp.status_code} {resp.text[:200]}"
        got = raw("GET", url, params={"provider": "ais"})
        assert got.content == b"".join(pieces), f"round {r}: appended content differs"


def test_multipart_spans_workers(two_workers: StrataServer) -> None:
    ep = two_workers.endpoint
    raw("POST", f"{ep}/v1/buckets/mpt", params={"provider": "ais"}, json=act("create-bck"))
    for r in range(ROUNDS):
        url = f"{ep}/v1/objects/mpt/obj-{r}"
        created = raw("POST", url, params={"provider": "ais"}, json=act("mpt-upload"))
        assert created.status_code == 200, created.text
        upload_id = created.text.strip('"')
        parts = [f"r{r}part{n}|".encode() * 100 for n in (1, 2, 3)]
        for n in (3, 1, 2):
            resp = raw(
                "PUT",
                url,
                params={"provider": "ais", "uploadId": upload_id, "partNumber": str(n)},
                data=parts[n - 1],
            )
            assert resp.status_code == 200, f"round {r} part {n}: {resp.status_code} {resp.text[:200]}"
        done = raw(
            "POST",
            url,
            params={"provider": "ais", "uploadId": upload_id},
            json=act("mpt-complete", [{"part-number": n, "etag": ""} for n in (1, 2, 3)]),
        )
        assert done.status_code == 200, f"round {r} complete: {done.status_code} {done.text[:200]}"
        assert raw("GET", url, params={"provider": "ais"}).content == b"".join(parts)


def test_list_pages_continue_on_any_worker(two_workers: StrataServer) -> None:
    ep = two_workers.endpoint
    raw("POST", f"{ep}/v1/buckets/pages", params={"provider": "ais"}, json=act("create-bck"))
    names = [f"n{i:04d}" for i in range(230)]
    for name in names:
        raw("PUT", f"{ep}/v1/objects/pages/{name}", params={"provider": "ais"}, data=b"x")
    for _ in range(3):
        seen: list[str] = []
        uuid = token = ""
        while True:
            value = {
                "prefix": "",
                "pagesize": 20,
                "uuid": uuid,
                "props": "name",
                "continuation_token": token,
                "flags": "0",
                "target": "",
            }
            resp = raw(
                "GET",
                f"{ep}/v1/buckets/pages",
                params={"provider": "ais"},
                json=act("list", value),
                headers={"Accept": "application/msgpack"},
            )
            assert resp.status_code == 200, resp.text
            page = msgspec.msgpack.decode(resp.content)
            seen += [e["n"] for e in page["Entries"] or []]
            uuid, token = page["UUID"], page["ContinuationToken"]
            assert uuid
            if token == "":
                break
            assert len(seen) <= len(names), "pages repeat"
        assert seen == names
