"""Go durations and IEC sizes, as AIStore prints and parses them."""

from __future__ import annotations

import pytest

from strata.config.units import (
    format_duration,
    format_size_exact,
    format_size_iec,
    parse_duration,
    parse_size_iec,
)

GiB = 1 << 30


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (7200, "2h0m"),
        (600, "10m"),
        (30, "30s"),
        (0.1, "100ms"),
        (0, "0s"),
        (60, "1m"),
        (3600, "1h0m"),
        (5400, "1h30m"),
        (86400, "24h0m"),
        (90, "1m30s"),
        (3661, "1h1m1s"),
        (1.5, "1.5s"),
        (0.0015, "1.5ms"),
        (0.000002, "2\u00b5s"),
        (-1, "-1s"),
        (4, "4s"),
    ],
)
def test_format_duration_matches_go_with_m0s_trimmed(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h0m0s", 7200),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("100ms", 0.1),
        ("10us", 0.00001),
        ("10\u03bcs", 0.00001),
        ("5ns", 5e-9),
        ("0", 0),
        ("+3s", 3),
        ("-2m", -120),
        (".5s", 0.5),
    ],
)
def test_parse_duration_accepts_go_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("junk", ["", "10", "abc", "1x", "h", "1h 30m", "1.2.3s", "--1s", "1hm", "s5"])
def test_parse_duration_rejects_junk(junk: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(junk)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256KiB", 262144),
        ("1TiB", 1 << 40),
        ("0B", 0),
        ("1GiB", GiB),
        ("262144", 262144),
        ("1.5GiB", 3 * GiB // 2),
        ("64mib", 64 << 20),
        ("4MB", 4 << 20),
        ("1K", 1024),
        ("-1", -1),
        (" 32KiB ", 32768),
    ],
)
def test_parse_size_iec(text: str, size: int) -> None:
    assert parse_size_iec(text) == size


@pytest.mark.parametrize("junk", ["", "KiB", "12QB", "1..2KiB", "one", "1 2"])
def test_parse_size_rejects_junk(junk: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size_iec(junk)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (262144, "256KiB"),
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1KiB"),
        (1 << 40, "1TiB"),
        (4 << 40, "4TiB"),
        (GiB + GiB * 6 // 10, "2GiB"),  # 0 decimals, rounded
        (64 << 20, "64MiB"),
        (-1, "-1B"),
    ],
)
def test_format_size_iec_zero_decimals(size: int, text: str) -> None:
    assert format_size_iec(size) == text


def test_sizes_that_are_whole_units_round_trip() -> None:
    for size in (0, 1, 512, 4096, 65536, 1 << 20, 5 << 30, 1 << 40):
        assert parse_size_iec(format_size_iec(size)) == size


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (5000, "5000B"),
        (4096, "4KiB"),
        (4 << 20, "4MiB"),
        ((1 << 30) + 1024, "1048577KiB"),
        (-1, "-1B"),
    ],
)
def test_format_size_exact_reads_back_to_the_same_number(size: int, text: str) -> None:
    assert format_size_exact(size) == text
    assert parse_size_iec(text) == size
