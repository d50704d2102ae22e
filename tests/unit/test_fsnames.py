"""The object-name <-> file-path mapping is injective, reversible and keeps files and dirs apart."""

from __future__ import annotations

import itertools
import os

import pytest

from strata.core.errors import InvalidName
from strata.core.names import BucketRef
from strata.storage.fsnames import decode_dir, decode_leaf, encode_dir_path, encode_object_name
from strata.storage.listing import iter_names
from strata.storage.mountpaths import Mountpaths


def _decode(path: str) -> str:
    *dirs, leaf = path.split("/")
    segments = [decode_dir(d) for d in dirs]
    assert None not in segments
    return "/".join([*(s for s in segments if s is not None), decode_leaf(leaf)])


NAMES = [
    "a",
    "a/b",
    "a/b/c",
    "dir/",
    "a//b",
    "x/.",
    "x/..",
    "100%",
    "a%/b",
    "%",
    "%2E",
    "%-",
    ".",
    "..",
    "%25",
    "a%",
    "a%/",
    "ü/日本",
]


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name: str) -> None:
    encoded = encode_object_name(name)
    assert ".." not in encoded.split("/") and "." not in encoded.split("/") and "" not in encoded.split("/")
    assert _decode(encoded) == name


def test_injective_over_generated_names() -> None:
    alphabet = ["a", "%", "/", ".", "2", "E", "-"]
    seen: dict[str, str] = {}
    for n in range(1, 6):
        for chars in itertools.product(alphabet, repeat=n):
            name = "".join(chars)
            encoded = encode_object_name(name)
            assert seen.setdefault(encoded, name) == name, (encoded, name, seen[encoded])
            assert _decode(encoded) == name


def test_dirs_always_end_with_percent_and_leaves_never() -> None:
    for name in NAMES:
        *dirs, leaf = encode_object_name(name).split("/")
        assert all(d.endswith("%") for d in dirs)
        assert not leaf.endswith("%")


def test_too_long_component_is_refused() -> None:
    encode_object_name("x" * 255)
    with pytest.raises(InvalidName):
        encode_object_name("x" * 256)
    with pytest.raises(InvalidName):
        encode_object_name("%" * 100)  # 300 bytes once escaped


def test_encode_dir_path() -> None:
    assert encode_dir_path("a/b%/") == "a%/b%25%"


def test_file_and_directory_of_the_same_name_coexist_and_list_sorted(tmp_path: object) -> None:
    mps = Mountpaths([f"{tmp_path}/mp"])
    bck = BucketRef.parse("b")
    names = ["a", "a/b", "a-c", "a/b/c", "dir/", "dir/x", "z%", "a//b", "%"]
    for name in names:
        path = mps.all[0].object_path(bck, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(name)
    assert [n for n, _ in iter_names(mps, bck)] == sorted(names)
    assert [n for n, _ in iter_names(mps, bck, prefix="a/")] == sorted(n for n in names if n.startswith("a/"))
    assert [n for n, _ in iter_names(mps, bck, after="a/b")] == sorted(n for n in names if n > "a/b")
    top = list(iter_names(mps, bck, recursive=False))
    assert top == [("%", False), ("a", False), ("a-c", False), ("a/", True), ("dir/", True), ("z%", False)]
