"""Data survives restarts: a clean SIGTERM keeps everything; a kill -9 never exposes a partial object."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from aistore.sdk.bucket import Bucket

from .helpers import fast_client, pattern, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)

OBJECTS = {
    "plain": pattern("plain", 1000),
    "empty": b"",
    "nested/deeper/still/leaf.bin": pattern("leaf", 70_000),
    "unicode/名前 with space%.txt": "ünïcødé".encode(),
    "big": pattern("big", 5 * 1024 * 1024 + 3),
}


def snapshot_object(bck: Bucket, name: str) -> dict[str, Any]:
    attrs = bck.object(name).head("checksum,version,custom")
    return {
        "size": attrs.size,
        "checksum": (attrs.checksum_type, attrs.checksum_value),
        "version": attrs.obj_version,
        "custom": attrs.custom_metadata,
    }


def test_sigterm_restart_keeps_everything(server_factory: Callable[..., StrataServer]) -> None:
    srv = server_factory()
    client = fast_client(srv.endpoint)
    smap_before = client.cluster().get_info()
    # 1. buckets with props, objects with metadata, versions, appends and a multipart object
    bck = client.bucket("keep").create()
    new_props = {"checksum": {"type": "md5"}, "mirror": {"burst_buffer": 1024}}
    bck.make_request("PATCH", "set-bprops", value=new_props)
    client.bucket("keep-empty").create()
    for name, data in OBJECTS.items():
        bck.object(name).get_writer().put_content(data)
    bck.object("plain").get_writer().put_content(pattern("plain-v2", 1001))  # version 2
    leaf = bck.object("nested/deeper/still/leaf.bin")
    leaf.get_writer().set_custom_props({"label": "cat", "split": "train"})
    writer = bck.object("appended").get_writer()
    handle = writer.append_content(b"part one;")
    writer.append_content(b"part two", handle=handle, flush=True)
    mpu = bck.object("multipart").multipart_upload().create()
    mpu.add_part(1).put_content(b"m" * 10_000)
    mpu.add_part(2).put_content(b"p" * 5_000)
    mpu.complete()
    expected = {
        **OBJECTS,
        "plain": pattern("plain-v2", 1001),
        "appended": b"part one;part two",
        "multipart": b"m" * 10_000 + b"p" * 5_000,
    }
    props_before = json.loads(bck.head()["Ais-Bucket-Props"])
    listing_before = [(e.name, e.size) for e in bck.list_all_objects(props="name,size")]
    objects_before = {name: snapshot_object(bck, name) for name in expected}
    assert objects_before["plain"]["version"] == "2"

    # 2. clean stop: exit code 0
    code = srv.stop()
    assert code == 0, f"SIGTERM must shut down cleanly with exit code 0, got {code}"
    srv.start()

    # 3. everything is back, byte for byte
    client = fast_client(srv.endpoint)
    names = sorted(b.name for b in client.cluster().list_buckets())
    assert "keep" in names and "keep-empty" in names
    bck = client.bucket("keep")
    assert json.loads(bck.head()["Ais-Bucket-Props"]) == props_before
    assert [(e.name, e.size) for e in bck.list_all_objects(props="name,size")] == listing_before
    for name, data in expected.items():
        assert bck.object(name).get_reader().read_all() == data, name
        assert snapshot_object(bck, name) == objects_before[name], name
    assert client.bucket("keep-empty").list_all_objects() == []
    smap_after = client.cluster().get_info()
    assert smap_after.uuid == smap_before.uuid, "the cluster UUID is persistent"
    assert set(smap_after.tmap) == set(smap_before.tmap), "the target keeps its node ID"

    # 4. and it keeps working: a new version continues from the old one
    bck.object("plain").get_writer().put_content(b"v3")
    assert bck.object("plain").head("version").obj_version == "3"


def test_destroyed_bucket_stays_destroyed(server_factory: Callable[..., StrataServer]) -> None:
    srv = server_factory()
    client = fast_client(srv.endpoint)
    client.bucket("gone").create().object("o").get_writer().put_content(b"x")
    client.bucket("gone").delete()
    srv.restart()
    client = fast_client(srv.endpoint)
    assert "gone" not in [b.name for b in client.cluster().list_buckets()]


# --- kill -9 while PUTs stream --------------------------------------------------------------------


def sized(i: int) -> int:
    return [0, 1, 4096, 65_537, 1_000_003, 3 * 1024 * 1024 + 11][i % 6]


def generation_content(name: str, gen: int) -> bytes:
    """Overwrites: a header names the generation, the rest is derived from (name, generation)."""
    return f"gen={gen};".encode() + pattern(f"{name}#{gen}", sized(gen) + 100)


class Writer(threading.Thread):
    """PUTs objects until told to stop or the server dies; remembers what was acknowledged."""

    def __init__(self, endpoint: str, bucket: str, kind: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.bucket, self.kind, self.stop = endpoint, bucket, kind, stop
        # kind "newN": new objects under newN/; kind "over": overwrites of three names
        self.attempted: set[str] = set()
        self.acked: dict[str, bytes] = {}
        self.error: BaseException | None = None

    def put(self, name: str, data: bytes) -> bool:
        self.attempted.add(name)
        url = f"{self.endpoint}/v1/objects/{self.bucket}/{name}"
        try:
            resp = requests.put(url, params={"provider": "ais"}, data=data, timeout=(2, 20))
        except requests.RequestException:
            return False  # the server died under us: expected
        if resp.status_code != 200:
            self.error = AssertionError(f"PUT {name}: {resp.status_code} {resp.text[:200]}")
            return False
        self.acked[name] = data
        return True

    def run(self) -> None:
        try:
            i = 0
            while not self.stop.is_set():
                if self.kind.startswith("new"):
                    name = f"{self.kind}/{i:06d}"
                    ok = self.put(name, pattern(name, sized(i)))
                else:
                    name = f"over/{i % 3}"
                    ok = self.put(name, generation_content(name, i))
                if not ok:
                    return
                i += 1
        except BaseException as err:  # surfaced by the test, never as an unhandled-thread warning
            self.error = err


def test_kill9_mid_stream_never_exposes_partial_objects(server_factory: Callable[..., StrataServer]) -> None:
    srv = server_factory()
    client = fast_client(srv.endpoint)
    client.bucket("crash").create()
    stop = threading.Event()
    writers = [Writer(srv.endpoint, "crash", kind, stop) for kind in ("new0", "new1", "over")]
    for w in writers:
        w.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(len(w.acked) for w in writers) < 40:
        time.sleep(0.05)
    time.sleep(0.3)
    srv.kill()  # SIGKILL to the whole process group, mid-stream
    stop.set()
    for w in writers:
        w.join(timeout=30)
        assert not w.is_alive()
        assert w.error is None, w.error
    acked = {name: data for w in writers for name, data in w.acked.items()}
    attempted = set().union(*(w.attempted for w in writers))
    assert len(acked) >= 40, "the writers made progress before the crash"
    in_flight = {n for w in writers for n in w.attempted if n not in w.acked and n.startswith("new")}
    assert in_flight, "the kill landed while PUTs were in flight (else the test proves nothing)"

    srv.start()
    client = fast_client(srv.endpoint)
    bck = client.bucket("crash")
    listed = {e.name: e.size for e in bck.list_all_objects(props="name,size")}
    strays = sorted(set(listed) - attempted)
    assert strays == [], f"names nobody PUT are listed (work files?): {strays[:20]}"
    for name in [n for n in acked if n.startswith("new")]:
        assert name in listed, f"acknowledged {name} lost after kill -9"
    for name, size in sorted(listed.items()):
        data = bck.object(name).get_reader().read_all()
        assert len(data) == size, f"{name}: listed size {size}, GET returned {len(data)} bytes"
        if name.startswith("new"):
            index = int(name.split("/")[1])
            assert data == pattern(name, sized(index)), f"{name}: partial or wrong content ({size} bytes)"
        else:
            gen = int(data.split(b";", 1)[0].removeprefix(b"gen="))
            assert data == generation_content(name, gen), f"{name}: a mix of generations or partial"
    for name in [n for n in acked if n.startswith("over/")]:
        assert name in listed
    # It still serves writes to the same names afterwards (no stale locks, no leftover handles).
    for name in ("over/0", "new0/000000", "after-crash"):
        bck.object(name).get_writer().put_content(b"fresh")
        assert bck.object(name).get_reader().read_all() == b"fresh"
    # A restarted server answers health quickly; a second, clean restart changes nothing.
    before = sorted(e.name for e in bck.list_all_objects())
    srv.restart()
    assert sorted(e.name for e in fast_client(srv.endpoint).bucket("crash").list_all_objects()) == before
    resp = raw("GET", f"{srv.endpoint}/v1/health")
    assert resp.status_code == 200
