"""Templates expand exactly as AIStore's (and the SDK's ObjectRange) do."""

from __future__ import annotations

import pytest
from aistore.sdk.multiobj import ObjectRange

from strata.core.errors import InvalidRequest
from strata.jobs.templates import expand_template, is_prefix


def test_plain_range_and_padding() -> None:
    assert list(expand_template("obj-{0..3}")) == ["obj-0", "obj-1", "obj-2", "obj-3"]
    assert list(expand_template("shard-{0010..0013..2}.tar")) == ["shard-0010.tar", "shard-0012.tar"]
    assert list(expand_template("x{08..11}")) == ["x08", "x09", "x10", "x11"]


def test_several_ranges_multiply() -> None:
    assert list(expand_template("a-{0..1}-b-{00..10..5}")) == [
        "a-0-b-00",
        "a-0-b-05",
        "a-0-b-10",
        "a-1-b-00",
        "a-1-b-05",
        "a-1-b-10",
    ]


def test_alternatives() -> None:
    assert list(expand_template("img.{jpg,png}")) == ["img.jpg", "img.png"]


def test_matches_the_sdk_object_range() -> None:
    rng = ObjectRange(prefix="data/file-", min_index=7, max_index=123, pad_width=5, step=4, suffix=".bin")
    assert list(expand_template(str(rng))) == list(rng)


def test_prefix_templates() -> None:
    assert is_prefix("dir/")
    assert is_prefix("")
    assert not is_prefix("a{0..1}")


@pytest.mark.parametrize(
    "bad", ["a{3..1}", "a{0..4..0}", "a{x..y}", "a{0..1", "a}b{0..1}", "a{0..99999999999}"]
)
def test_invalid_templates(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        list(expand_template(bad))
