"""Shards through the official SDK: read members (archpath, archregx), list them, build them (archive job)."""

from __future__ import annotations

import io
import tarfile
import zipfile

import lz4.frame
import pytest
from aistore.sdk import Client
from aistore.sdk.archive_config import ArchiveConfig, ArchiveMode
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError, ErrObjNotFound

from tests.unit.test_archive_support import (
    ALL_FORMATS,
    NOT_REGULAR,
    SAFE_MEMBERS,
    UNSAFE_NAMES,
    hostile_shard,
)

from .helpers import make_tar, make_zip, pattern, raw

pytestmark = pytest.mark.timeout(90)

FILES = {
    "a/0001.jpg": pattern("a/0001.jpg", 3000),
    "a/0001.cls": b"7",
    "a/0002.jpg": pattern("a/0002.jpg", 70_000),
    "b/readme.txt": b"hello shard",
    "empty.bin": b"",
}


SHARDS = {
    "s.tar": lambda f: make_tar(f),
    "s.tgz": lambda f: make_tar(f, "w:gz"),
    "s.tar.gz": lambda f: make_tar(f, "w:gz"),
    "s.zip": make_zip,
    "s.tar.lz4": lambda f: lz4.frame.compress(make_tar(f)),
}


def _read_tar(data: bytes, mode: str = "r:*") -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tf:
        for member in tf.getmembers():
            extracted = tf.extractfile(member)
            assert extracted is not None
            out[member.name] = extracted.read()
    return out


@pytest.mark.parametrize("shard", list(SHARDS))
def test_read_one_member_and_ranges(bucket: Bucket, shard: str) -> None:
    bucket.object(shard).get_writer().put_content(SHARDS[shard](FILES))
    for name, data in FILES.items():
        got = bucket.object(shard).get_reader(archive_config=ArchiveConfig(archpath=name)).read_all()
        assert got == data, name
    big = FILES["a/0002.jpg"]
    reader = bucket.object(shard).get_reader(
        archive_config=ArchiveConfig(archpath="a/0002.jpg"), byte_range="bytes=1000-65999"
    )
    assert reader.read_all() == big[1000:66000]
    with pytest.raises(ErrObjNotFound):
        bucket.object(shard).get_reader(archive_config=ArchiveConfig(archpath="nope.txt")).read_all()


@pytest.mark.parametrize("shard", list(SHARDS))
def test_read_matching_members_as_tar(bucket: Bucket, shard: str) -> None:
    bucket.object(shard).get_writer().put_content(SHARDS[shard](FILES))
    cases = [
        (ArchiveMode.PREFIX, "a/", ["a/0001.jpg", "a/0001.cls", "a/0002.jpg"]),
        (ArchiveMode.SUFFIX, ".jpg", ["a/0001.jpg", "a/0002.jpg"]),
        (ArchiveMode.SUBSTR, "readme", ["b/readme.txt"]),
        (ArchiveMode.REGEXP, r"^a/000[12]\.cls$", ["a/0001.cls"]),
        (ArchiveMode.WDSKEY, "a/0001", ["a/0001.jpg", "a/0001.cls"]),
    ]
    for mode, regex, expected in cases:
        data = (
            bucket.object(shard).get_reader(archive_config=ArchiveConfig(regex=regex, mode=mode)).read_all()
        )
        got = _read_tar(data, "r:")
        assert sorted(got) == sorted(expected), (mode, regex)
        assert all(got[n] == FILES[n] for n in expected)


def test_list_archive_contents(bucket: Bucket) -> None:
    bucket.object("s.tar").get_writer().put_content(make_tar(FILES))
    bucket.object("plain.bin").get_writer().put_content(b"x")
    entries = bucket.list_archive("s.tar", include_archive_obj=True)
    assert [e.name for e in entries] == ["s.tar", *(f"s.tar/{n}" for n in FILES)]
    sizes = {e.name: e.size for e in entries}
    assert all(sizes[f"s.tar/{n}"] == len(d) for n, d in FILES.items())


def test_archive_errors_are_4xx(endpoint: str, bucket: Bucket) -> None:
    bucket.object("bad.tar").get_writer().put_content(b"this is not a tar archive" * 40)
    bucket.object("notarchive.bin").get_writer().put_content(b"x")
    base = f"{endpoint}/v1/objects/{bucket.name}"
    assert raw("GET", f"{base}/bad.tar?provider=ais&archpath=x").status_code == 400
    assert raw("GET", f"{base}/notarchive.bin?provider=ais&archpath=x").status_code == 400
    assert raw("GET", f"{base}/bad.tar?provider=ais&archregx=(&archmode=regexp").status_code == 400
    assert raw("GET", f"{base}/bad.tar?provider=ais&archregx=x&archmode=bogus").status_code == 400
    bucket.object("s.tgz").get_writer().put_content(make_tar(FILES, "w:gz")[:200])  # truncated gzip
    assert raw("GET", f"{base}/s.tgz?provider=ais&archpath=b/readme.txt").status_code == 400


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_unsafe_and_non_regular_members_are_never_served(bucket: Bucket, fmt: str) -> None:
    """``../``, absolute, NUL/backslash/drive names, links, devices and FIFOs are not members: the
    listing, ``archpath`` (404 as for a missing member) and ``archregx`` all agree; ``./a`` and ``a//b``
    are served normalised."""
    shard = f"hostile{fmt}"
    bucket.object(shard).get_writer().put_content(hostile_shard(fmt))
    served = [name for _, name, _ in SAFE_MEMBERS]
    assert [e.name for e in bucket.list_archive(shard)] == [f"{shard}/{name}" for name in served]
    for name in [*UNSAFE_NAMES, *NOT_REGULAR, "nul"]:
        with pytest.raises(ErrObjNotFound):
            bucket.object(shard).get_reader(archive_config=ArchiveConfig(archpath=name)).read_all()
    for raw_name, name, data in SAFE_MEMBERS:
        for spelling in (raw_name, name):
            got = bucket.object(shard).get_reader(archive_config=ArchiveConfig(archpath=spelling))
            assert got.read_all() == data, spelling
    everything = {name: data for _, name, data in SAFE_MEMBERS}
    cases = [
        (".*", ArchiveMode.REGEXP, everything),
        (".", ArchiveMode.SUBSTR, everything),
        ("etc", ArchiveMode.SUBSTR, {}),
        ("link", ArchiveMode.SUBSTR, {}),
        ("ok/a", ArchiveMode.WDSKEY, {"ok/a.txt": everything["ok/a.txt"]}),
    ]
    for regex, mode, expected in cases:
        config = ArchiveConfig(regex=regex, mode=mode)
        out = bucket.object(shard).get_reader(archive_config=config).read_all()
        with tarfile.open(fileobj=io.BytesIO(out), mode="r:") as tf:
            infos = tf.getmembers()
            assert all(info.isfile() for info in infos)
            got = {info.name: tf.extractfile(info).read() for info in infos}  # type: ignore[union-attr]
        assert got == expected, (regex, mode)


@pytest.mark.parametrize("fmt", [".tar", ".tgz", ".zip", ".tar.lz4"])
def test_archive_job_builds_a_shard(client: Client, bucket: Bucket, fmt: str) -> None:
    for name, data in FILES.items():
        bucket.object(f"src/{name}").get_writer().put_content(data)
    shard = f"out/shard{fmt}"
    job_ids = bucket.objects(obj_template="src/").archive(archive_name=shard)
    assert all(client.job(job_id=j).wait(timeout=30).success for j in job_ids)
    data = bucket.object(shard).get_reader().read_all()
    if fmt == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            got = {n: zf.read(n) for n in zf.namelist()}
    elif fmt == ".tar.lz4":
        got = _read_tar(lz4.frame.decompress(data), "r:")
    else:
        got = _read_tar(data)
    assert got == {f"src/{n}": d for n, d in FILES.items()}
    # and it reads back through archpath like any shard
    member = bucket.object(shard).get_reader(archive_config=ArchiveConfig(archpath="src/a/0002.jpg"))
    assert member.read_all() == FILES["a/0002.jpg"]


def test_archive_job_append_and_other_bucket(client: Client, bucket: Bucket) -> None:
    bucket.object("x1").get_writer().put_content(b"one")
    bucket.object("x2").get_writer().put_content(b"two")
    dst = client.bucket(bucket.name + "-dst")
    try:
        ids = bucket.objects(obj_names=["x1"]).archive(
            archive_name="a.tar", to_bck=dst, include_source_name=True
        )
        assert all(client.job(job_id=j).wait(timeout=30).success for j in ids)
        ids = bucket.objects(obj_names=["x2"]).archive(archive_name="a.tar", to_bck=dst, allow_append=True)
        assert all(client.job(job_id=j).wait(timeout=30).success for j in ids)
        assert _read_tar(dst.object("a.tar").get_reader().read_all()) == {
            f"{bucket.name}/x1": b"one",
            "x2": b"two",
        }
    finally:
        dst.delete(missing_ok=True)


def test_archive_with_missing_listed_object_leaves_no_shard(client: Client, bucket: Bucket) -> None:
    bucket.object("here").get_writer().put_content(b"1")
    ids = bucket.objects(obj_names=["here", "gone"]).archive(archive_name="partial.tar")
    results = [client.job(job_id=j).wait(timeout=30) for j in ids]
    assert not any(r.success for r in results)
    with pytest.raises(AISError):
        bucket.object("partial.tar").head()
