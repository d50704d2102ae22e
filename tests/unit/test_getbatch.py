"""GetBatch without a server: request validation, member naming, the assembler over an in-memory source,
the soft-error limit, the multipart spool, and the CLI's tar member counter."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import strata.getbatch
from strata.archive import FileRegion
from strata.cli.objects import _TarMemberCounter
from strata.core.errors import InvalidRequest, ObjectNotFound, StrataError
from strata.core.names import BucketRef
from strata.getbatch.assembler import Assembler, SoftErrorLimit, Tally
from strata.getbatch.model import Entry, MossIn, MossReq, decode_request, member_name, plan_request
from strata.getbatch.sources import Payload
from strata.getbatch.spool import Spool

BCK = BucketRef.parse("b")


def test_public_surface() -> None:
    """The engine's wire shapes; the HTTP entry point is the AIS front's (``strata.roles.batch``)."""
    assert sorted(strata.getbatch.__all__) == ["MossIn", "MossOut", "MossReq", "MossResp"]


def test_decode_and_plan() -> None:
    req = decode_request(
        b'{"in":[{"objname":"a"},{"objname":"s.tar","archpath":"x/y","bucket":"c","provider":"ais",'
        b'"opaque":"-_8","start":2,"length":-1},{"objname":"z","uname":"ais/@#/d/o"}],'
        b'"mime":".tar.gz","coer":true,"onob":true,"strm":true,"coloc":1}'
    )
    plan = plan_request(req, BCK)
    assert plan.fmt == ".tgz" and plan.coer and plan.onob and plan.strm
    first, second, third = plan.entries
    assert first == Entry(BCK, "a") and first.whole
    assert second.bck == BucketRef.parse("c") and second.archpath == "x/y"
    assert (second.start, second.length, second.opaque) == (2, -1, "+/8=")  # echoed in the standard alphabet
    assert third.bck == BucketRef.parse("d") and third.name == "o"  # the uname names the triplet
    assert sorted(plan.buckets) == ["ais/@#/b", "ais/@#/c", "ais/@#/d"]


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        (MossIn(objname=""), "missing object name"),
        (MossIn(objname="a", start=-1, length=1), "start -1"),
        (MossIn(objname="a", start=1), "requires a length"),
        (MossIn(objname="a", length=-5), "length -5"),
        (MossIn(objname="a", opaque="!!"), "base64"),
        (MossIn(objname="a", uname="nonsense"), "invalid uname"),
        (MossIn(objname="/abs"), "absolute"),
    ],
)
def test_plan_rejects_bad_entries(entry: MossIn, needle: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        plan_request(MossReq(entries=[MossIn(objname="ok"), entry]), BCK)
    assert "entry #1" in info.value.message and needle in info.value.message


def test_plan_needs_entries_a_bucket_and_a_known_format() -> None:
    with pytest.raises(InvalidRequest, match="empty request"):
        plan_request(MossReq(), BCK)
    with pytest.raises(InvalidRequest, match="no bucket"):
        plan_request(MossReq(entries=[MossIn(objname="a")]), None)
    with pytest.raises(InvalidRequest, match="unsupported archive format"):
        plan_request(MossReq(entries=[MossIn(objname="a")], mime="rar"), BCK)
    with pytest.raises(InvalidRequest):
        decode_request(b"")


def test_member_names() -> None:
    assert member_name(Entry(BCK, "o"), onob=False) == "b/o"
    assert member_name(Entry(BCK, "o"), onob=True) == "o"
    assert member_name(Entry(BCK, "s.tar", "x.jpg"), onob=False) == "b/s.tar/x.jpg"
    assert member_name(Entry(BCK, "s.tar", "/x.jpg"), onob=True) == "s.tar/x.jpg"


class MemorySource:
    """Entries are their names' bytes; ``missing`` names raise ObjectNotFound; ``region`` a FileRegion."""

    def __init__(self, missing: set[str] = frozenset(), region: FileRegion | None = None) -> None:  # type: ignore[assignment]
        self.missing = missing
        self.region = region
        self.closed = False

    def fetch(self, entry: Entry) -> Payload:
        if entry.name in self.missing:
            raise ObjectNotFound(BCK.object_uri(entry.name))
        if entry.name == "region" and self.region is not None:
            return Payload(self.region.count, self.region, False, None)
        if entry.name == "broken":
            raise StrataError("disk on fire")
        data = entry.name.encode() * 3
        return Payload(len(data), data, entry.archpath != "", None)

    def warm(self, entry: Entry) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _assemble(
    names: list[str], source: MemorySource, *, coer: bool = False, limit: int = 6
) -> tuple[bytes, Assembler]:
    plan = plan_request(MossReq(entries=[MossIn(objname=n) for n in names], coer=coer), BCK)
    assembler = Assembler(plan, source, max_soft_errs=limit, keep_metadata=True)
    out = b"".join(
        item if isinstance(item, bytes) else os.pread(item.fd, item.count, item.offset)
        for item in assembler.items()
    )
    return out, assembler


def _names(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf]  # type: ignore[union-attr]


def test_assembler_order_coer_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"R" * 100_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        source = MemorySource({"gone"}, FileRegion(fd, 10, 99_990))
        data, assembler = _assemble(["z", "gone", "region", "a"], source, coer=True)
    finally:
        os.close(fd)
    assert _names(data) == [
        ("b/z", b"zzz"),
        ("__404__/b/gone", b""),
        ("b/region", b"R" * 99_990),
        ("b/a", b"aaa"),
    ]
    assert assembler.out is not None
    assert [(o.objname, o.size, bool(o.err_msg)) for o in assembler.out] == [
        ("z", 3, False),
        ("gone", 0, True),
        ("region", 99_990, False),
        ("a", 3, False),
    ]
    assert source.closed


def test_assembler_without_coer_raises_the_entry_error() -> None:
    with pytest.raises(ObjectNotFound):
        _assemble(["a", "gone"], MemorySource({"gone"}))
    with pytest.raises(StrataError, match="disk on fire"):  # 5xx is never a soft error
        _assemble(["a", "broken"], MemorySource(), coer=True)


def test_soft_error_limit() -> None:
    _assemble(["m1", "m2", "a"], MemorySource({"m1", "m2"}), coer=True, limit=2)
    with pytest.raises(SoftErrorLimit) as info:
        _assemble(["m1", "m2", "m3"], MemorySource({"m1", "m2", "m3"}), coer=True, limit=2)
    assert info.value.status == 404 and "max_soft_errs is 2" in info.value.message


def test_tally_reaches_its_sink() -> None:
    seen: list[tuple[int, int]] = []
    tally = Tally(lambda t: seen.append((t.objects, t.obj_bytes)))
    plan = plan_request(MossReq(entries=[MossIn(objname="ab"), MossIn(objname="c")]), BCK)
    list(Assembler(plan, MemorySource(), max_soft_errs=0, keep_metadata=False, tally=tally).items())
    assert seen == [(2, 9)]


def test_spool_spills_to_a_file_and_sends_it_zero_copy(tmp_path: Path) -> None:
    path = tmp_path / "src"
    path.write_bytes(bytes(range(256)) * 400)
    fd = os.open(path, os.O_RDONLY)
    try:
        spool = Spool(str(tmp_path), memory_limit=50_000)
        spool.write(b"head")
        spool.write(FileRegion(fd, 1, 40_000))
        assert spool.fd < 0  # still in memory
        spool.write(FileRegion(fd, 0, 60_000))
        spool.write(b"tail")
        assert spool.fd >= 0 and spool.size == 100_008
        items = list(spool.items())
        assert len(items) == 1 and isinstance(items[0], FileRegion)
        got = os.pread(items[0].fd, items[0].count, 0)
        assert got == b"head" + path.read_bytes()[1:40_001] + path.read_bytes()[:60_000] + b"tail"
        spool.close()
        small = Spool(str(tmp_path))
        small.write(b"a")
        small.write(b"b")
        assert list(small.items()) == [b"ab"]
    finally:
        os.close(fd)


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("chunk", [1, 7, 512, 513, 100_000])
def test_cli_tar_member_counter(chunk: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i, size in enumerate((0, 1, 511, 512, 513, 5000)):
            info = tarfile.TarInfo(("long/" * 30 if i == 2 else "") + f"f{i}")
            info.size = size
            tf.addfile(info, io.BytesIO(b"x" * size))
    counter = _TarMemberCounter()
    assert sum(counter.feed(c) for c in _chunks(buf.getvalue(), chunk)) == 6
