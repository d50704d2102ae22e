"""GetBatch through the official SDK's Batch API and raw HTTP: formats, naming, shards, errors, ranges.

The SDK pairs the i-th regular file of the archive with the i-th request entry, in both its streaming
and multipart modes, so every test here checks order and names as well as bytes.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
import zipfile
from typing import Any

import lz4.frame
import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError, ErrBckNotFound, ErrObjNotFound

from strata.archive import model
from tests.unit.test_archive_support import NOT_REGULAR, SAFE_MEMBERS, UNSAFE_NAMES, hostile_shard

from .helpers import make_tar, make_zip, pattern, raw

pytestmark = pytest.mark.timeout(120)

OBJECTS = {f"obj-{i:03d}": pattern(f"obj-{i:03d}", size) for i, size in enumerate((10, 0, 4096, 70_000, 300))}
SHARD_FILES = {
    "img/0001.jpg": pattern("img/0001.jpg", 3000),
    "img/0001.cls": b"7",
    "img/0002.jpg": pattern("img/0002.jpg", 100_000),
    "txt/readme.txt": b"hello shard",
}


SHARDS = {
    "s.tar": make_tar(SHARD_FILES),
    "s.tgz": make_tar(SHARD_FILES, "w:gz"),
    "s.tar.gz": make_tar(SHARD_FILES, "w:gz"),
    "s.zip": make_zip(SHARD_FILES),
    "s.tar.lz4": lz4.frame.compress(make_tar(SHARD_FILES)),
}


@pytest.fixture
def filled(bucket: Bucket) -> Bucket:
    for name, data in {**OBJECTS, **SHARDS}.items():
        bucket.object(name).get_writer().put_content(data)
    return bucket


def members(data: bytes, fmt: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of every regular file, in archive order, whatever the format."""
    if fmt == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [(i.filename, zf.read(i)) for i in zf.infolist() if not i.is_dir()]
    if fmt == ".tar.lz4":
        data = lz4.frame.decompress(data)
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        for info in tf:
            assert info.isfile(), f"non-file member {info.name}"
            extracted = tf.extractfile(info)
            assert extracted is not None
            out.append((info.name, extracted.read()))
    return out


def moss(endpoint: str, bucket: str, body: dict[str, Any], via_action: bool = False) -> requests.Response:
    if via_action:
        return raw(
            "POST",
            f"{endpoint}/v1/buckets/{bucket}",
            params={"provider": "ais"},
            json={"action": "getbatch", "name": "", "value": body},
        )
    return raw("GET", f"{endpoint}/v1/ml/moss/{bucket}", params={"provider": "ais"}, json=body)


def split_multipart(resp: requests.Response) -> tuple[dict[str, Any], bytes]:
    """The two parts of a ``strm: false`` answer, parsed strictly (CRLF, headers on every part)."""
    ctype = resp.headers["Content-Type"]
    assert ctype.startswith("multipart/mixed; boundary=")
    boundary = ctype.split("boundary=", 1)[1].encode()
    body = resp.content
    assert body.startswith(b"--" + boundary + b"\r\n") and body.endswith(b"\r\n--" + boundary + b"--\r\n")
    parts = body[len(boundary) + 4 : -(len(boundary) + 8)].split(b"\r\n--" + boundary + b"\r\n")
    assert len(parts) == 2
    head0, meta = parts[0].split(b"\r\n\r\n", 1)
    head1, archive = parts[1].split(b"\r\n\r\n", 1)
    assert b'name="metadata"' in head0
    assert b'name="archive"' in head1 and b"application/octet-stream" in head1
    return json.loads(meta), archive


# ---------------------------------------------------------------------------------- formats, naming


@pytest.mark.parametrize("fmt", [".tar", ".tgz", ".tar.gz", ".zip", ".tar.lz4"])
@pytest.mark.parametrize("strm", [True, False])
def test_every_format_streamed_and_multipart(endpoint: str, filled: Bucket, fmt: str, strm: bool) -> None:
    names = list(OBJECTS)[::-1]  # request order, not name order
    body = {
        "in": [{"objname": n} for n in names] + [{"objname": "s.tar", "archpath": "img/0002.jpg"}],
        "mime": fmt,
        "strm": strm,
    }
    resp = moss(endpoint, filled.name, body)
    assert resp.status_code == 200, resp.text
    if strm:
        expected_type = {".tar": "x-tar", ".zip": "zip", ".tar.lz4": "x-lz4"}.get(fmt, "gzip")
        assert resp.headers["Content-Type"] == f"application/{expected_type}"
        archive = resp.content
    else:
        meta, archive = split_multipart(resp)
        assert meta["uuid"]
        assert [o["objname"] for o in meta["out"]] == [*names, "s.tar"]
        assert [o["size"] for o in meta["out"]] == [len(OBJECTS[n]) for n in names] + [100_000]
        assert all(
            "err_msg" not in o and o["bucket"] == filled.name and o["provider"] == "ais" for o in meta["out"]
        )
    got = members(archive, ".tgz" if fmt == ".tar.gz" else fmt)
    expected = [(f"{filled.name}/{n}", OBJECTS[n]) for n in names]
    expected.append((f"{filled.name}/s.tar/img/0002.jpg", SHARD_FILES["img/0002.jpg"]))
    assert got == expected


@pytest.mark.parametrize("fmt", [".tar", ".tgz", ".tar.gz", ".zip"])
@pytest.mark.parametrize("mode", ["stream", "multipart", "multipart-as-stream"])
def test_sdk_batch_api(client: Client, filled: Bucket, fmt: str, mode: str) -> None:
    batch = client.batch(bucket=filled, output_format=fmt, streaming_get=mode == "stream")
    names = list(OBJECTS)
    for name in names:
        batch.add(name, opaque=name.encode())
    batch.add("s.zip", archpath="txt/readme.txt")
    results = list(batch.get(decode_as_stream=mode == "multipart-as-stream"))
    assert [out.obj_name for out, _ in results] == [*names, "s.zip"]
    assert [data for _, data in results] == [OBJECTS[n] for n in names] + [b"hello shard"]
    assert [out.opaque for out, _ in results[:-1]] == [n.encode() for n in names]
    assert results[-1][0].archpath == "txt/readme.txt"
    assert all(out.size == len(data) and not out.err_msg for out, data in results)


def test_onob_and_the_bucket_action(endpoint: str, filled: Bucket) -> None:
    body = {
        "in": [{"objname": "obj-000"}, {"objname": "s.tgz", "archpath": "img/0001.cls"}],
        "onob": True,
        "strm": True,
    }
    for via_action in (False, True):
        resp = moss(endpoint, filled.name, body, via_action=via_action)
        assert resp.status_code == 200, resp.text
        assert members(resp.content, ".tar") == [
            ("obj-000", OBJECTS["obj-000"]),
            ("s.tgz/img/0001.cls", b"7"),
        ]


@pytest.mark.parametrize("shard", list(SHARDS))
def test_archived_files_from_every_shard_format(client: Client, filled: Bucket, shard: str) -> None:
    """Several files from one shard, out of archive order, and again: one reader serves them all."""
    wanted = ["txt/readme.txt", "img/0001.jpg", "img/0002.jpg", "img/0001.cls", "img/0001.jpg"]
    batch = client.batch(bucket=filled)
    for archpath in wanted:
        batch.add(shard, archpath=archpath)
    results = list(batch.get())
    assert [data for _, data in results] == [SHARD_FILES[p] for p in wanted]
    assert [out.archpath for out, _ in results] == wanted


def test_cross_bucket_batch_without_url_bucket(endpoint: str, client: Client, filled: Bucket) -> None:
    other = client.bucket(filled.name + "-x").create()
    try:
        other.object("only-here").get_writer().put_content(b"other bucket")
        body = {
            "in": [
                {"objname": "obj-000", "bucket": filled.name, "provider": "ais"},
                {"objname": "only-here", "bucket": other.name},
                {"objname": "x", "uname": f"ais/@#/{filled.name}/obj-004"},
            ],
            "strm": True,
        }
        resp = raw("GET", f"{endpoint}/v1/ml/moss", json=body)
        assert resp.status_code == 200, resp.text
        assert members(resp.content, ".tar") == [
            (f"{filled.name}/obj-000", OBJECTS["obj-000"]),
            (f"{other.name}/only-here", b"other bucket"),
            (f"{filled.name}/obj-004", OBJECTS["obj-004"]),
        ]
    finally:
        other.delete(missing_ok=True)


# ---------------------------------------------------------------------------------------- opaque


def test_opaque_round_trips_in_the_metadata(endpoint: str, filled: Bucket) -> None:
    values = [b"\x00\xff\xfe binary", b"user-42", b"\xfb\xff"]  # the last has +/ vs -_ in base64
    body = {
        "in": [
            {"objname": "obj-000", "opaque": base64.b64encode(values[0]).decode()},
            {"objname": "obj-002", "opaque": base64.urlsafe_b64encode(values[1]).decode().rstrip("=")},
            {"objname": "nope", "opaque": base64.urlsafe_b64encode(values[2]).decode()},
        ],
        "coer": True,
        "strm": False,
    }
    resp = moss(endpoint, filled.name, body)
    assert resp.status_code == 200, resp.text
    meta, _ = split_multipart(resp)
    assert [base64.urlsafe_b64decode(o["opaque"]) for o in meta["out"]] == values
    bad = moss(endpoint, filled.name, {"in": [{"objname": "obj-000", "opaque": "***"}]})
    assert bad.status_code == 400 and "opaque" in bad.json()["message"]


# ------------------------------------------------------------------------------------------ errors


def test_coer_marks_missing_objects_and_members(endpoint: str, client: Client, filled: Bucket) -> None:
    """coer covers missing objects and archived files; a missing bucket is a 404 even with coer
    (see test_ais_front.py)."""
    body = {
        "in": [
            {"objname": "obj-000"},
            {"objname": "no-such-object"},
            {"objname": "s.tar", "archpath": "no/such/member"},
            {"objname": "obj-004"},
        ],
        "coer": True,
        "strm": False,
    }
    resp = moss(endpoint, filled.name, body)
    assert resp.status_code == 200, resp.text
    meta, archive = split_multipart(resp)
    b = filled.name
    assert [name for name, _ in members(archive, ".tar")] == [
        f"{b}/obj-000",
        f"__404__/{b}/no-such-object",
        f"__404__/{b}/s.tar/no/such/member",
        f"{b}/obj-004",
    ]
    errors = [o.get("err_msg", "") for o in meta["out"]]
    assert errors[0] == "" and errors[3] == ""
    assert f"ais://{b}/no-such-object does not exist" in errors[1]
    assert "no such file in the archive" in errors[2]
    assert [o["size"] for o in meta["out"]][1:3] == [0, 0]
    # the SDK (streaming) sees the same entries, missing ones empty and flagged
    batch = client.batch(bucket=filled)
    batch.add("obj-000")
    batch.add("no-such-object")
    results = list(batch.get())
    assert [(out.obj_name, bool(out.err_msg), data) for out, data in results] == [
        ("obj-000", False, OBJECTS["obj-000"]),
        ("no-such-object", True, b""),
    ]


def test_without_coer_the_first_missing_entry_fails_the_request(
    endpoint: str, client: Client, filled: Bucket
) -> None:
    for strm in (True, False):
        body = {"in": [{"objname": "obj-000"}, {"objname": "gone"}], "strm": strm}
        resp = moss(endpoint, filled.name, body)
        assert resp.status_code == 404, resp.text
        assert f"ais://{filled.name}/gone does not exist" in resp.json()["message"]
    batch = client.batch(["obj-000", "gone"], bucket=filled, cont_on_err=False)
    with pytest.raises(ErrObjNotFound):
        list(batch.get())


def test_missing_bucket_is_404_before_any_byte(endpoint: str, client: Client, filled: Bucket) -> None:
    resp = raw(
        "GET", f"{endpoint}/v1/ml/moss/no-such-bucket-gb", json={"in": [{"objname": "a"}], "coer": True}
    )
    assert (
        resp.status_code == 404
        and resp.json()["message"] == 'bucket "ais://no-such-bucket-gb" does not exist'
    )
    body = {"in": [{"objname": "obj-000"}, {"objname": "a", "bucket": "no-such-bucket-gb"}], "strm": True}
    resp = moss(endpoint, filled.name, body)
    assert resp.status_code == 404 and "ais://no-such-bucket-gb" in resp.text
    with pytest.raises(ErrBckNotFound):
        list(client.batch(["a"], bucket=client.bucket("no-such-bucket-gb")).get())


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"in": []}, "empty request"),
        ({"in": [{"objname": ""}]}, "entry #0"),
        ({"in": [{"objname": "a"}], "mime": ".rar"}, "unsupported archive format"),
        ({"in": [{"objname": "a", "start": -1, "length": 1}]}, "start"),
        ({"in": [{"objname": "a", "start": 5}]}, "requires a length"),
        ({"in": [{"objname": "a", "length": -2}]}, "length"),
        ({"in": [{"objname": "../a"}]}, "entry #0"),
        ({"in": "nope"}, "invalid request"),
    ],
)
def test_malformed_requests_are_400(endpoint: str, filled: Bucket, body: dict[str, Any], needle: str) -> None:
    resp = moss(endpoint, filled.name, body)
    assert resp.status_code == 400, resp.text
    assert needle in resp.json()["message"]


def test_soft_error_limit(endpoint: str, filled: Bucket) -> None:
    """Default get_batch.max_soft_errs is 6: six missing entries pass, the seventh fails the request."""
    six = {"in": [{"objname": f"missing-{i}"} for i in range(6)] + [{"objname": "obj-000"}], "coer": True}
    resp = moss(endpoint, filled.name, {**six, "strm": True})
    assert resp.status_code == 200, resp.text
    assert len(members(resp.content, ".tar")) == 7
    seven = {"in": [{"objname": f"missing-{i}"} for i in range(7)], "coer": True}
    for strm in (True, False):
        resp = moss(endpoint, filled.name, {**seven, "strm": strm})
        assert resp.status_code == 404, resp.text
        assert "too many soft errors" in resp.json()["message"]


# ------------------------------------------------------------------------------------------ ranges


def test_ranges_on_objects_and_inside_archived_files(client: Client, endpoint: str, filled: Bucket) -> None:
    data, member = OBJECTS["obj-003"], SHARD_FILES["img/0002.jpg"]
    batch = client.batch(bucket=filled, streaming_get=False)
    batch.add("obj-003", start=0, length=0)
    batch.add("obj-003", start=100, length=50)
    batch.add("obj-003", start=69_990, length=-1)
    batch.add("obj-003", start=69_990, length=500)  # past the end: cut at the end
    batch.add("s.tar", archpath="img/0002.jpg", start=10, length=20)
    batch.add("s.tgz", archpath="img/0002.jpg", start=99_000, length=-1)
    batch.add("s.zip", archpath="img/0002.jpg", start=5, length=5)
    results = [d for _, d in batch.get()]
    assert results == [
        data,
        data[100:150],
        data[69_990:],
        data[69_990:],
        member[10:30],
        member[99_000:],
        member[5:10],
    ]
    past = {"in": [{"objname": "obj-000", "start": 100, "length": 1}]}
    resp = moss(endpoint, filled.name, past)
    assert resp.status_code == 416, resp.text


# ------------------------------------------------------------------------------ job and metrics


def test_each_request_is_a_work_item_of_a_get_batch_job(
    endpoint: str, client: Client, filled: Bucket
) -> None:
    resp = moss(
        endpoint, filled.name, {"in": [{"objname": "obj-000"}, {"objname": "obj-002"}], "strm": False}
    )
    meta, _ = split_multipart(resp)
    job_id = meta["uuid"]
    body = {"ID": job_id, "Kind": "", "DaemonID": "", "Bck": None, "Buckets": None}
    stats = raw("GET", f"{endpoint}/v1/cluster?what=qryxstats", json=body)
    snap = next(iter(stats.json().values()))[0]
    assert snap["kind"] == "get-batch" and snap["id"] == job_id
    assert snap["stats"]["loc-objs"] >= 2
    client.job(job_id=job_id).wait(timeout=20)  # an idle kind: waits for two idle snapshots
    metrics = raw("GET", f"{endpoint}/metrics").text
    for name in (
        "ais_target_getbatch_count",
        "ais_target_getbatch_obj_count",
        "ais_target_getbatch_obj_bytes",
    ):
        line = next(ln for ln in metrics.splitlines() if ln.startswith(name + "{"))
        assert int(line.rsplit(" ", 1)[1]) > 0, line


def test_entry_errors_with_and_without_coer(client: Client, filled: Bucket) -> None:
    """A range past the end fails the request without coer (416) and is a missing entry with it."""
    batch = client.batch(bucket=filled, cont_on_err=False)
    batch.add("obj-000", start=10**9, length=1)
    with pytest.raises(AISError) as info:
        list(batch.get())
    assert info.value.status_code == 416
    batch = client.batch(bucket=filled, cont_on_err=True, streaming_get=False)
    batch.add("obj-000", start=10**9, length=1)
    batch.add("obj-000")
    results = list(batch.get())
    assert "past the end" in (results[0][0].err_msg or "") and results[1][1] == OBJECTS["obj-000"]


# ----------------------------------------------------------------------------- hostile shard entries


@pytest.mark.parametrize("fmt", [".tar", ".tgz", ".zip", ".tar.lz4"])
def test_unsafe_and_non_regular_members_are_missing_entries(
    endpoint: str, client: Client, bucket: Bucket, fmt: str
) -> None:
    """GetBatch serves a shard's members by the archive package's one rule: links, devices, FIFOs and
    members stored under unsafe names are missing entries (404 without coer); no output member is a
    non-regular file or carries their bytes. Asking for an unsafe archpath (``..``, NUL, backslash,
    drive) is refused whole with 400: its name would head the output entry, even as a missing one."""
    shard = f"hostile{fmt}"
    bucket.object(shard).get_writer().put_content(hostile_shard(fmt))
    hostile = [*UNSAFE_NAMES, *NOT_REGULAR, "nul"]
    refused = [name for name in hostile if model.served_name(name.lstrip("/")) is None]
    missing = [name for name in hostile if name not in refused]
    assert refused and missing
    safe = [(spelling, data) for raw_name, name, data in SAFE_MEMBERS for spelling in (raw_name, name)]
    for first in range(0, len(missing), 5):  # get_batch.max_soft_errs is 6 by default
        wanted: list[tuple[str, bytes | None]] = [
            *safe,
            *((name, None) for name in missing[first : first + 5]),
        ]
        wanted.sort(key=lambda item: item[0][::-1])  # mix hostile and safe entries
        _check_hostile_batch(endpoint, client, bucket, shard, wanted)
    # without coer the first missing entry fails the request, as a missing member does
    for archpath in missing:
        batch = client.batch(bucket=bucket, cont_on_err=False)
        batch.add(shard, archpath=SAFE_MEMBERS[0][0])
        batch.add(shard, archpath=archpath)
        with pytest.raises(ErrObjNotFound):
            list(batch.get())
    # an unsafe archpath is a 400 before any byte, with or without coer
    for archpath in refused:
        for coer in (True, False):
            body = {"in": [{"objname": shard, "archpath": archpath}], "coer": coer, "strm": True}
            resp = moss(endpoint, bucket.name, body)
            assert resp.status_code == 400 and "invalid archpath" in resp.text, (archpath, resp.text)


def _check_hostile_batch(
    endpoint: str, client: Client, bucket: Bucket, shard: str, wanted: list[tuple[str, bytes | None]]
) -> None:
    """``wanted``: (archpath, bytes), bytes None for an entry that must come back missing."""
    # the SDK, with coer: safe members (either spelling) come back, the others empty and flagged
    batch = client.batch(bucket=bucket, cont_on_err=True, streaming_get=False)
    for archpath, _ in wanted:
        batch.add(shard, archpath=archpath)
    results = list(batch.get())
    assert len(results) == len(wanted)
    for (archpath, data), (out, got) in zip(wanted, results, strict=True):
        if data is None:
            assert "no such file in the archive" in (out.err_msg or ""), archpath
            assert got == b"", archpath
        else:
            assert not out.err_msg and got == data, archpath
    # raw, streamed: every member a regular file; only __404__/ placeholders (empty) name hostile entries
    body = {"in": [{"objname": shard, "archpath": p} for p, _ in wanted], "coer": True, "strm": True}
    resp = moss(endpoint, bucket.name, body)
    assert resp.status_code == 200, resp.text
    got_members = members(resp.content, ".tar")
    assert len(got_members) == len(wanted)
    for (name, data), (archpath, expected) in zip(got_members, wanted, strict=True):
        assert b"EVIL" not in data, name
        if expected is None:
            assert name.startswith(f"__404__/{bucket.name}/{shard}/") and data == b"", name
        else:
            assert name == f"{bucket.name}/{shard}/{archpath}" and data == expected
            assert model.served_name(name) is not None, name  # no "..", not absolute, no NUL/backslash
