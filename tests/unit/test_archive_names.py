"""Which archive entries are members: one rule (``served_name``) for listing, lookup, matching and indexes.

Shards carrying absolute or ``..`` names, NUL/backslash/drive tricks, symlinks, hardlinks, devices and
FIFOs: none of them is a member in any format, and ``./a`` / ``a//b`` are served normalised everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from strata.archive import ArchiveReader, CorruptIndex, TarIndex, model
from strata.core.errors import NotFound
from tests.unit.test_archive_support import (
    ALL_FORMATS,
    NOT_REGULAR,
    SAFE_MEMBERS,
    UNSAFE_NAMES,
    OpenShard,
    hostile_shard,
)

SERVED = [served for _, served, _ in SAFE_MEMBERS]


@pytest.mark.parametrize(
    ("name", "served"),
    [
        ("a/b.jpg", "a/b.jpg"),
        ("./a/b.jpg", "a/b.jpg"),
        ("a//b.jpg", "a/b.jpg"),
        ("a/./b.jpg", "a/b.jpg"),
        (".hidden", ".hidden"),
        ("a..b/c..d", "a..b/c..d"),
        ("dir/", "dir"),
        ("../x", None),
        ("a/../../b", None),
        ("a/../b", None),
        ("a/..", None),
        ("/abs/path", None),
        ("//abs", None),
        ("a\\b", None),
        ("..\\x", None),
        ("a\0b", None),
        ("C:/x", None),
        ("./C:x", None),
        ("", None),
        (".", None),
        ("./", None),
    ],
)
def test_served_name(name: str, served: str | None) -> None:
    assert model.served_name(name) == served
    assert model.served_name(name, regular=False) is None


@pytest.fixture(params=ALL_FORMATS)
def reader(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveReader]:
    fmt = request.param
    path = tmp_path / f"hostile{fmt}"
    path.write_bytes(hostile_shard(fmt))
    with OpenShard(path) as shard, ArchiveReader(shard.fd, shard.size, fmt) as opened:
        yield opened


def test_only_regular_files_with_safe_names_are_members(reader: ArchiveReader) -> None:
    assert [m.name for m in reader.members()] == SERVED


def test_unsafe_and_non_regular_names_are_not_found(reader: ArchiveReader) -> None:
    for name in [*UNSAFE_NAMES, *NOT_REGULAR, "nul", "dir"]:
        with pytest.raises(NotFound):
            reader.find(name)


def test_safe_members_are_found_by_either_spelling(reader: ArchiveReader) -> None:
    for raw, served, data in reversed(SAFE_MEMBERS):  # backwards: compressed readers restart
        for spelling in (raw, served):
            member = reader.find(spelling)
            assert member.name == served
            assert b"".join(reader.read(member)) == data


@pytest.mark.parametrize(
    ("pattern", "mode"),
    [(".*", "regexp"), ("", "prefix"), ("", "substr"), ("", "suffix")],
)
def test_match_sees_only_members(reader: ArchiveReader, pattern: str, mode: str) -> None:
    assert [m.name for m in reader.match(pattern, mode)] == SERVED


@pytest.mark.parametrize(("pattern", "mode"), [(r"\.\.", "regexp"), ("etc", "substr"), ("/", "prefix")])
def test_match_never_selects_an_unsafe_name(reader: ArchiveReader, pattern: str, mode: str) -> None:
    assert reader.match(pattern, mode) == []


def test_tar_index_holds_served_names_and_old_indexes_are_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "hostile.tar"
    path.write_bytes(hostile_shard(".tar"))
    with OpenShard(path) as shard:
        index = ArchiveReader(shard.fd, shard.size, ".tar").tar_index()
        assert [m.name for m in TarIndex.from_bytes(index.to_bytes()).members] == SERVED
        # an index persisted before the rule (version 1) may hold unsafe names: it must not be used
        version_1 = msgspec.msgpack.encode([1, shard.size, ["../../etc/x"], [4], [0], [512]])
        with pytest.raises(CorruptIndex):
            TarIndex.from_bytes(version_1)
