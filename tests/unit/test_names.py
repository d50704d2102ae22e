"""Naming rules: what AIStore accepts is accepted, anything that could escape a bucket is refused."""

from __future__ import annotations

import pytest

from strata.core.errors import InvalidName
from strata.core.names import BucketRef, parse_namespace, validate_bucket_name, validate_object_name


@pytest.mark.parametrize("name", ["a", "my-bucket", "under_score", "dots.in.name", "A1", "x" * 64])
def test_valid_bucket_names(name: str) -> None:
    assert validate_bucket_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "a..b", "with space", "slash/y", ".hidden", "ü", "a$"])
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    ["a", "dir/sub/file.jpg", "ünïcode 名前", "with%percent", "a b", "..a", "a..", ".dot", "a//b", "marker/"],
)
def test_valid_object_names(name: str) -> None:
    assert validate_object_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "/abs", "../x", "a/../../b", "a/..", "a/./b", ".", "nul\x00byte", "x" * 1025],
)
def test_object_names_that_could_escape_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_object_name(name)


def test_namespace_parsing() -> None:
    assert parse_namespace("@#") == ("", "")
    assert parse_namespace("@uuid1#ns") == ("uuid1", "ns")
    assert parse_namespace("#ns") == ("", "ns")
    with pytest.raises(InvalidName):
        parse_namespace("@-bad#x")
    with pytest.raises(InvalidName):
        parse_namespace("@" + "u" * 33 + "#")


def test_bucket_ref_forms() -> None:
    bck = BucketRef.parse("b", "", "")
    assert (bck.provider, bck.uri, bck.key, bck.object_uname("o")) == (
        "ais",
        "ais://b",
        "ais/@#/b",
        "ais/@#/b/o",
    )
    assert BucketRef.parse("b", "s3").uri == "s3://b"
    ns = BucketRef.parse("b", "ais", "@u#n")
    assert ns.uri == "ais://@u#n/b"
    assert BucketRef.from_key(ns.key) == ns
    with pytest.raises(InvalidName):
        BucketRef.parse("b", "nosuchprovider")


def test_a_bucket_uri_names_the_bucket_back() -> None:
    for bck in (
        BucketRef("b", "ais"),
        BucketRef("b", "aws"),
        BucketRef("b-1.x", "gcp"),
        BucketRef("b", "azure"),
        BucketRef("b", "ais", "uuid1", "ns"),
        BucketRef("b", "ais", "uuid1", ""),
        BucketRef("b", "ais", "", "ns"),
    ):
        assert BucketRef.from_uri(bck.uri) == bck
    for bad in ("b", "s3:/b", "xx://b", "ais://", "ais://a/b", "ais://@uuid1", "ais://@bad uuid/b"):
        with pytest.raises(InvalidName):
            BucketRef.from_uri(bad)
