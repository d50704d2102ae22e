"""Listing walks in exact name order and resumes after any name, for small and huge directories."""

from __future__ import annotations

import os
import random

import pytest

from strata.core.names import BucketRef
from strata.storage import dirindex
from strata.storage.listing import iter_names
from strata.storage.mountpaths import Mountpaths


def _put(mps: Mountpaths, bck: BucketRef, name: str) -> None:
    path = mps.for_object(bck, name).object_path(bck, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(name)


def _names(mps: Mountpaths, bck: BucketRef, **kw: object) -> list[str]:
    return [n for n, _ in iter_names(mps, bck, **kw)]  # type: ignore[arg-type]


def _page_through(mps: Mountpaths, bck: BucketRef, page: int, prefix: str = "") -> list[str]:
    out: list[str] = []
    after = ""
    while True:
        got = []
        for name, _ in iter_names(mps, bck, prefix=prefix, after=after):
            got.append(name)
            if len(got) == page:
                break
        out.extend(got)
        if len(got) < page:
            return out
        after = got[-1]


@pytest.fixture(params=["memory", "disk-index"])
def small_limits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "disk-index":
        monkeypatch.setattr(dirindex, "IN_MEMORY_MAX", 50)
        monkeypatch.setattr(dirindex, "RUN_SIZE", 37)
        monkeypatch.setattr(dirindex, "FENCE_EVERY", 8)
    return str(request.param)


def test_paging_matches_sorted_names(tmp_path: object, small_limits: str) -> None:
    mps = Mountpaths([f"{tmp_path}/a", f"{tmp_path}/b", f"{tmp_path}/c"])
    bck = BucketRef.parse("bkt")
    rng = random.Random(3)
    names = {f"flat-{rng.randrange(10**6):07d}" for _ in range(700)}
    names |= {f"d{i % 7}/sub{i % 3}/f{i}" for i in range(300)}
    names |= {"a", "a-b", "a/b", "a/b/c", "dir/", "x//y", "ü-unicode", "100%"}
    for name in names:
        _put(mps, bck, name)
    expected = sorted(names)
    assert _names(mps, bck) == expected
    for page in (1, 7, 100, 5000):
        assert _page_through(mps, bck, page) == expected
    assert _page_through(mps, bck, 9, prefix="d3/") == [n for n in expected if n.startswith("d3/")]
    assert _names(mps, bck, prefix="flat-0") == [n for n in expected if n.startswith("flat-0")]
    after = expected[len(expected) // 2]
    assert _names(mps, bck, after=after) == [n for n in expected if n > after]


def test_views_see_new_and_deleted_names(tmp_path: object, small_limits: str) -> None:
    mps = Mountpaths([f"{tmp_path}/mp"])
    bck = BucketRef.parse("bkt")
    names = [f"n{i:04d}" for i in range(120)]
    for name in names:
        _put(mps, bck, name)
    assert _names(mps, bck) == names
    _put(mps, bck, "n0050x")
    os.unlink(mps.all[0].object_path(bck, "n0000"))
    assert _names(mps, bck) == sorted([*names[1:], "n0050x"])


def test_no_recursion_lists_virtual_directories(tmp_path: object) -> None:
    mps = Mountpaths([f"{tmp_path}/a", f"{tmp_path}/b"])
    bck = BucketRef.parse("bkt")
    for name in ["top", "d1/x", "d1/y", "d2/z/deep", "d3"]:
        _put(mps, bck, name)
    assert list(iter_names(mps, bck, recursive=False)) == [
        ("d1/", True),
        ("d2/", True),
        ("d3", False),
        ("top", False),
    ]
    assert list(iter_names(mps, bck, prefix="d2/", recursive=False)) == [("d2/z/", True)]


def test_bucket_rename_merges_into_a_destination_that_already_has_objects(tmp_path: object) -> None:
    from strata.storage.housekeeping import rename_bucket
    from strata.storage.metadata import ObjectMetadata, write_metadata
    from strata.storage.objects import ObjectStore

    mps = Mountpaths([f"{tmp_path}/mp"])
    src, dst = BucketRef.parse("before"), BucketRef.parse("after")
    for name in ["a/1", "a/2", "b"]:
        _put(mps, src, name)
        write_metadata(mps.all[0].object_path(src, name), ObjectMetadata(size=len(name), mtime_ns=1))
    _put(mps, dst, "from-a-peer")  # a peer already sent one here
    write_metadata(mps.all[0].object_path(dst, "from-a-peer"), ObjectMetadata(size=11, mtime_ns=2))
    rename_bucket(ObjectStore(mps), src, dst)
    assert _names(mps, dst) == ["a/1", "a/2", "b", "from-a-peer"]
    assert not os.path.exists(mps.all[0].bucket_dir(src))
