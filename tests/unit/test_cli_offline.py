"""The CLI's pure parts (formatting, parsing, endpoint choice, capacity), no server needed.

These are unit tests by nature; they sit next to ``test_cli.py`` only because the CLI branch owns the
``tests/integration/test_cli*.py`` files. They pin the output conventions borrowed from ``ais``.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import sys

import pytest

from strata.cli.cluster import Capacity, human_uptime, parse_capacity
from strata.cli.connection import resolve_endpoint
from strata.cli.formatting import (
    Table,
    coerce_value,
    flatten,
    human_size,
    nest,
    parse_assignments,
    render_value,
    select_section,
)
from strata.cli.progress import TransferProgress
from strata.cli.uri import BucketURI, UsageError, parse_uri


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1.00KiB"),
        (4096, "4.00KiB"),
        (3 << 19, "1.50MiB"),
        (5 << 40, "5.00TiB"),
    ],
)
def test_human_size_matches_ais(size: int, text: str) -> None:
    assert human_size(size) == text


def test_table_aligns_columns_without_trailing_blanks() -> None:
    table = Table(["name", "size"])
    table.add("a", "1B")
    table.add("longer-name", "4.00KiB")
    out = io.StringIO()
    table.write(out)
    assert out.getvalue().splitlines() == ["NAME          SIZE", "a             1B", "longer-name   4.00KiB"]


def test_table_keeps_widths_of_an_earlier_batch() -> None:
    first = Table(["name", "size"])
    first.add("a-long-object-name", "1B")
    second = Table(first.headers, first.widths)
    second.add("b", "2B")
    out = io.StringIO()
    second.write(out, header=False)
    assert out.getvalue() == "b                    2B\n"


def test_flatten_nest_and_sections() -> None:
    nested = {"mirror": {"enabled": True, "copies": 2}, "checksum": {"type": "xxhash"}, "empty": {}}
    flat = flatten(nested)
    assert flat == {"mirror.enabled": True, "mirror.copies": 2, "checksum.type": "xxhash", "empty": {}}
    assert nest([("mirror.enabled", True), ("mirror.copies", 2)]) == {
        "mirror": {"enabled": True, "copies": 2}
    }
    assert select_section(nested, "mirror.copies") == 2
    with pytest.raises(KeyError, match="have: checksum, empty, mirror"):
        select_section(nested, "nope")
    with pytest.raises(ValueError, match="conflicts"):
        nest([("a", 1), ("a.b", 2)])


def test_render_value() -> None:
    assert [render_value(value) for value in (True, False, None, "", [1, "x"], 3)] == [
        "true",
        "false",
        "-",
        "-",
        "1,x",
        "3",
    ]


def test_coerce_value_follows_the_current_type() -> None:
    assert coerce_value("on", current=False) is True
    assert coerce_value("3", current=1) == 3
    assert coerce_value("1", current="xxhash") == "1"  # a string property stays a string
    assert coerce_value("a, b", current=["x"]) == ["a", "b"]
    assert coerce_value("true") is True  # unknown key: JSON literal when it is one
    assert coerce_value("12") == 12
    assert coerce_value("md5") == "md5"
    with pytest.raises(ValueError, match="boolean"):
        coerce_value("maybe", current=True)
    with pytest.raises(ValueError, match="integer"):
        coerce_value("x", current=2)


def test_parse_assignments_accepts_both_spellings() -> None:
    assert parse_assignments(["a.b=1", "c", "2", "d=x=y"]) == [("a.b", "1"), ("c", "2"), ("d", "x=y")]
    with pytest.raises(ValueError, match="no value"):
        parse_assignments(["lonely"])
    with pytest.raises(ValueError, match="no key"):
        parse_assignments(["=1"])


def test_parse_uri() -> None:
    assert parse_uri("ais://b") == BucketURI("ais", "b", "")
    assert parse_uri("ais://b/dir/obj name?x") == BucketURI("ais", "b", "dir/obj name?x")
    assert parse_uri("b/o") == BucketURI("ais", "b", "o")
    assert str(parse_uri("ais://b/o")) == "ais://b/o"
    assert parse_uri("s3://b") == BucketURI("s3", "b")  # a cloud bucket Strata caches
    with pytest.raises(UsageError, match="unsupported provider"):
        parse_uri("oc://b")
    with pytest.raises(UsageError, match="missing object name"):
        parse_uri("ais://b", want_object=True)
    with pytest.raises(UsageError, match="missing bucket name"):
        parse_uri("ais://")


def test_resolve_endpoint_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIS_ENDPOINT", raising=False)
    monkeypatch.delenv("STRATA_ENDPOINT", raising=False)
    assert resolve_endpoint(None) == "http://localhost:8080"
    monkeypatch.setenv("STRATA_ENDPOINT", "http://strata:1")
    assert resolve_endpoint(None) == "http://strata:1"
    monkeypatch.setenv("AIS_ENDPOINT", "ais-host:2/")
    assert resolve_endpoint(None) == "http://ais-host:2"
    assert resolve_endpoint("https://flag:3") == "https://flag:3"


def test_parse_capacity_reads_ais_and_strata_shapes() -> None:
    ais = {"capacity": {"mountpaths": {"/a": {"used": "100", "avail": "300"}, "/b": {"used": 0, "avail": 0}}}}
    assert parse_capacity(ais) == Capacity(100, 300, 0)
    assert parse_capacity(ais) is not None and parse_capacity(ais).percent_used == 25  # type: ignore[union-attr]
    strata = {"capacity": {"/a": {"used": "10", "avail": "80", "total": "100"}}}
    assert parse_capacity(strata) == Capacity(10, 80, 100)
    assert parse_capacity({"capacity": {}}) is None
    assert parse_capacity(None) is None


def test_human_uptime() -> None:
    second = 1_000_000_000
    assert [human_uptime(n * second) for n in (5, 65, 3700, 90000)] == ["5s", "1m5s", "1h1m", "1d1h"]


def test_progress_line_and_carriage_returns() -> None:
    ticks = itertools.count(start=0.0, step=1.0)
    out = io.StringIO()
    meter = TransferProgress(out, total_bytes=2048, total_files=2, label="PUT", clock=lambda: next(ticks))
    meter.add_bytes(1024)
    meter.file_done()
    meter.add_bytes(1024)
    meter.file_done()
    meter.finish()
    frames = out.getvalue().split("\r")[1:]
    assert frames[-1].startswith("PUT  2/2 files  2.00KiB/2.00KiB  100%  ")
    assert frames[-1].endswith("\n")


def test_progress_disabled_writes_nothing() -> None:
    out = io.StringIO()
    meter = TransferProgress(out, total_bytes=10, enabled=False)
    meter.add_bytes(10)
    meter.finish()
    assert out.getvalue() == ""


def test_the_parser_loads_no_client_library() -> None:
    """``strata --help`` and ``strata serve`` start without the aistore SDK or requests (a third of a
    second of imports): the verb modules load them when a verb runs."""
    probe = (
        "import sys; from strata.cli.main import build_parser; build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aistore', 'requests'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
