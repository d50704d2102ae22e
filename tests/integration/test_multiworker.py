"""Several worker processes on one port: a change made through one is seen at once through every other.

Each request goes on a fresh ``requests.Session`` (a new TCP connection), so consecutive requests land
on whichever worker the kernel picks. Bucket metadata (create, props, destroy) must never lag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

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
