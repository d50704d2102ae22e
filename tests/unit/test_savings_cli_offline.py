"""``strata savings`` output without a server: prices, the table, and how --verify reads a report."""

from __future__ import annotations

import io
from typing import Any

from strata.cli.estimate import dollars
from strata.cli.savings import _write_verification, monthly_usd, priced, write_table

GIB = 1 << 30


def _report() -> dict[str, Any]:
    row = {"original_bytes": 3 * GIB, "stored_bytes": GIB, "saved_bytes": 2 * GIB, "objects": 7, "ratio": 3.0,
           "saved_ratio": 2 / 3}  # fmt: skip
    return {"buckets": [{"bucket": "ais://logs", **row}], "total": dict(row)}


def test_price_is_per_gib_month_and_never_negative() -> None:
    assert monthly_usd(2 * GIB, 0.023) == 0.046
    assert monthly_usd(-5, 0.023) == 0.0
    report = priced(_report(), 0.5)
    assert report["price_per_gb_month"] == 0.5
    assert report["buckets"][0]["monthly_savings_usd"] == 1.0 == report["total"]["monthly_savings_usd"]


def test_table_shows_human_sizes_ratio_and_dollars() -> None:
    out = io.StringIO()
    write_table(out, priced(_report(), 0.023))
    text = out.getvalue()
    header, row = (line for line in text.splitlines() if line.startswith(("BUCKET", "ais://")))
    columns = ["BUCKET", "OBJECTS", "ORIGINAL", "STORED", "SAVED", "RATIO", "SAVED%", "$/MONTH"]
    assert header.split() == columns
    assert row.split() == ["ais://logs", "7", "3.00GiB", "1.00GiB", "2.00GiB", "3.00x", "66.7%", "$0.0460"]
    assert "total: 7 objects, 3.00GiB original -> 1.00GiB stored (66.7% saved" in text
    assert "monthly savings: $0.0460 (at $0.023/GiB-month" in text
    empty = io.StringIO()
    write_table(empty, priced({"buckets": [], "total": {"saved_bytes": 0}}, 0.023))
    assert "no objects in the savings ledger yet" in empty.getvalue()


def test_verification_exit_status_and_lines() -> None:
    ok = io.StringIO()
    assert _write_verification(ok, {"verified": True, "differences": [], "unsettled": []}) == 0
    assert ok.getvalue().startswith("verified")
    bad = io.StringIO()
    report = {
        "verified": False,
        "differences": [
            {
                "bucket": "ais://b",
                "node": "t1",
                "ledger": {"objects": 4, "original_bytes": 40, "stored_bytes": 20},
                "recount": {"objects": 3, "original_bytes": 30, "stored_bytes": 15},
            }
        ],
        "unsettled": [{"bucket": "ais://busy"}],
    }
    assert _write_verification(bad, report) == 1
    lines = bad.getvalue().splitlines()
    assert lines[0].startswith("DIFFERENCE ais://b on t1: ledger 4 objects, 40 original, 20 stored bytes")
    assert "recount 3 objects" in lines[0]
    assert lines[1].startswith("UNSETTLED ais://busy:")
    assert _write_verification(io.StringIO(), {"buckets": []}) == 1  # a server that did not recount


def test_dollars() -> None:
    assert dollars(1234.5) == "$1,234.50" and dollars(0.00012) == "$0.0001"
