"""Shards and GetBatch over compressed objects (issue 10): archpath, archive listings, GetBatch, archive jobs.

A TAR or ZIP shard stored compressed is read through its seek table: a member comes back exact (also
by range) and costs only the frames it lies in once the shard's index is known; the listing shows the
members' original sizes; one GetBatch request mixes compressed objects, plain ones, ranges and members.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator

import pytest
from aistore.sdk import Client
from aistore.sdk.archive_config import ArchiveConfig
from aistore.sdk.bucket import Bucket

from .compression_support import (
    KIB,
    MIB,
    assert_stored_compressed,
    assert_stored_plain,
    compressible,
    compressing,
    deltas,
    md5,
    stored_path,
)
from .helpers import fast_client, make_tar, make_zip, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

F = 64 * KIB
MEMBERS = {
    **{f"logs/{i:02d}.log": compressible(30 * KIB + 997 * i, shift=i * 101) for i in range(12)},
    "big/all.log": compressible(3 * F + 123, shift=5),  # spans several frames of the shard
    "empty.txt": b"",
    "tiny.txt": b"t",
}
SHARDS = {"s.tar": make_tar(MEMBERS), "s.zip": make_zip(MEMBERS)}


class Shards:
    def __init__(self, server: StrataServer, client: Client, bck: Bucket) -> None:
        self.server, self.client, self.bucket = server, client, bck


@pytest.fixture(scope="module")
def shards(server: StrataServer) -> Iterator[Shards]:
    """A compressing bucket (64 KiB frames) holding ``s.tar`` and ``s.zip``, both stored compressed."""
    client = fast_client(server.endpoint)
    bck = compressing(client.bucket("cmp-shards").create(exist_ok=True), frame_size="64KiB")
    for name, data in SHARDS.items():
        bck.object(name).get_writer().put_content(data)
        assert_stored_compressed(stored_path(server.data_dir, bck.name, name), data, F)
    yield Shards(server, client, bck)
    bck.delete(missing_ok=True)


@pytest.mark.parametrize("shard", list(SHARDS))
def test_archpath_reads_every_member(shards: Shards, shard: str) -> None:
    obj = shards.bucket.object(shard)
    for name, data in MEMBERS.items():
        assert obj.get_reader(archive_config=ArchiveConfig(archpath=name)).read_all() == data, name
        resp = raw(
            "GET",
            f"{shards.server.endpoint}/v1/objects/{shards.bucket.name}/{shard}",
            params={"provider": "ais", "archpath": name},
        )
        assert resp.status_code == 200 and resp.content == data, (name, resp.status_code)
        assert int(resp.headers["Content-Length"]) == len(data)
    member = MEMBERS["big/all.log"]
    config = ArchiveConfig(archpath="big/all.log")
    ranged = obj.get_reader(archive_config=config, byte_range="bytes=65000-131999").read_all()
    assert ranged == member[65000:132000]


def _frames(start: int, end: int) -> set[int]:
    """The 64 KiB frames holding shard bytes ``[start, end)``."""
    return set(range(start // F, (end - 1) // F + 1))


def member_and_directory_frames(shard: str, name: str) -> tuple[set[int], set[int]]:
    """The frames holding member ``name`` (its header and data), and for ZIP those holding the central
    directory (ZIP shards keep no index across requests, unlike TAR: the directory is read each time)."""
    data = SHARDS[shard]
    if shard.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = zf.getinfo(name)
            local_header = 30 + len(info.filename.encode()) + len(info.extra)
            member = _frames(info.header_offset, info.header_offset + local_header + info.compress_size)
            return member, _frames(zf.start_dir, len(data))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        info = tf.getmember(name)
        return _frames(info.offset, info.offset_data + info.size), set()


@pytest.mark.parametrize("shard", list(SHARDS))
def test_a_member_decodes_only_the_frames_it_lies_in(shards: Shards, shard: str) -> None:
    """Once the shard's index is built, a member costs only the frames holding it (and its header);
    a ZIP member also its central directory's frames (decoded again if the member reaches them)."""
    obj = shards.bucket.object(shard)
    obj.get_reader(archive_config=ArchiveConfig(archpath="tiny.txt")).read_all()  # builds the index
    for name in ("logs/05.log", "big/all.log", "tiny.txt"):
        with deltas(shards.server.endpoint) as counted:
            got = obj.get_reader(archive_config=ArchiveConfig(archpath=name)).read_all()
        assert got == MEMBERS[name]
        member, directory = member_and_directory_frames(shard, name)
        decoded = counted["frames_decoded_count"]
        assert len(member) <= decoded <= len(member) + len(directory), (name, decoded, member, directory)


@pytest.mark.parametrize("shard", list(SHARDS))
def test_archive_listing_shows_original_member_sizes(shards: Shards, shard: str) -> None:
    entries = shards.bucket.list_archive(shard, include_archive_obj=True)
    sizes = {e.name: e.size for e in entries}
    assert sizes.pop(shard) == len(SHARDS[shard])
    assert sizes == {f"{shard}/{name}": len(data) for name, data in MEMBERS.items()}


# --- GetBatch -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "multipart"])
def test_getbatch_mixes_compressed_plain_ranged_and_archived_entries(
    server: StrataServer, client: Client, bucket: Bucket, streaming: bool
) -> None:
    plain = compressible(300 * KIB, shift=1)
    bucket.object("plain").get_writer().put_content(plain)  # written before compression was turned on
    compressing(bucket, frame_size="64KiB")
    objects = {f"c-{size}": compressible(size, shift=size) for size in (0, 1, 4095, 4096, 5 * F + 1, MIB + 1)}
    for name, data in objects.items():
        bucket.object(name).get_writer().put_content(data)
    for name, data in SHARDS.items():
        bucket.object(name).get_writer().put_content(data)
    assert_stored_plain(stored_path(server.data_dir, bucket.name, "plain"), plain)
    big_path = stored_path(server.data_dir, bucket.name, f"c-{MIB + 1}")
    assert_stored_compressed(big_path, objects[f"c-{MIB + 1}"])

    batch = client.batch(bucket=bucket, streaming_get=streaming)
    expected: list[tuple[str, str, bytes]] = []
    for name in reversed(list(objects)):  # request order, not name order
        batch.add(name)
        expected.append((name, "", objects[name]))
    batch.add("plain")
    expected.append(("plain", "", plain))
    for shard in SHARDS:
        batch.add(shard, archpath="logs/03.log")
        expected.append((shard, "logs/03.log", MEMBERS["logs/03.log"]))
    big = objects[f"c-{MIB + 1}"]
    batch.add(f"c-{MIB + 1}", start=F - 10, length=F + 20)  # a range across two frame edges
    expected.append((f"c-{MIB + 1}", "", big[F - 10 : 2 * F + 10]))
    results = list(batch.get())
    got = [(out.obj_name, out.archpath or "", data) for out, data in results]
    assert [(n, a, len(d)) for n, a, d in got] == [(n, a, len(d)) for n, a, d in expected]
    assert got == expected
    assert all(not out.err_msg for out, _ in results)


# --- archive jobs into a compressing bucket -----------------------------------------------------------


def test_archive_job_writes_a_compressed_shard_of_compressed_objects(
    server: StrataServer, client: Client, bucket: Bucket
) -> None:
    compressing(bucket)
    sources = {f"src/{i}.log": compressible(200 * KIB + i, shift=i * 7) for i in range(5)}
    for name, data in sources.items():
        bucket.object(name).get_writer().put_content(data)
    job_id = bucket.objects(obj_names=list(sources)).archive(archive_name="packed.tar")
    assert client.job(job_id=job_id[0]).wait(timeout=60).success
    packed = bucket.object("packed.tar").get_reader().read_all()
    with tarfile.open(fileobj=io.BytesIO(packed)) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]
    assert members == sources
    assert_stored_compressed(stored_path(server.data_dir, bucket.name, "packed.tar"), packed)
    via_archpath = bucket.object("packed.tar").get_reader(archive_config=ArchiveConfig(archpath="src/3.log"))
    assert via_archpath.read_all() == sources["src/3.log"]


@pytest.mark.parametrize("shard", list(SHARDS))
def test_whole_shard_reads_back_byte_for_byte(shards: Shards, shard: str) -> None:
    """Reading members changed nothing: the shard read whole is the original, its archive intact."""
    whole = shards.bucket.object(shard).get_reader().read_all()
    assert md5(whole) == md5(SHARDS[shard])
    if shard.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(whole)) as zf:
            assert zf.testzip() is None
