"""``strata savings``: what compression at rest saves, from the store's own ledger.

The numbers come from ``GET /v1/cluster?what=savings`` (a proxy sums its targets; an embedded node
answers its own), which every node serves: per bucket the exact original and stored bytes and objects
the ledger keeps in the same step as each write. This verb adds the money: ``$/month saved = saved
bytes / 2^30 * --price-per-gb-month``. Unlike s4's report, nothing here is best-effort: ``--verify``
has every target recount what is on its disks and exits 1 naming any bucket where the ledger differs.
"""

from __future__ import annotations

from typing import Any, TextIO

from strata.cli.connection import Session
from strata.cli.errors import CommandError
from strata.cli.estimate import GIB, dollars
from strata.cli.formatting import Table, human_size, write_json
from strata.cli.uri import BucketURI

DEFAULT_PRICE_PER_GB_MONTH = 0.023  # S3 Standard, first 50 TB, us-east-1
VERIFY_TIMEOUT_SECONDS = 3600.0  # a recount walks every object of every target


def monthly_usd(saved_bytes: int, price: float) -> float:
    """Dollars a month the saved bytes are worth at ``price`` per GiB-month (never negative)."""
    return round(max(0, saved_bytes) / GIB * price, 6)


def fetch_report(session: Session, uri: BucketURI | None, verify: bool) -> dict[str, Any]:
    """The cluster's savings report (JSON), for one bucket or all."""
    params = {"what": "savings"}
    if uri is not None:
        params.update(bck=uri.bucket, provider=uri.provider)
    if verify:
        params["verify"] = "true"
    subject = f'bucket "{uri.bucket_uri}"' if uri is not None else ""
    with session.failing_as(subject):
        kwargs: dict[str, Any] = {"timeout": (3.0, VERIFY_TIMEOUT_SECONDS)} if verify else {}
        report = session.request("GET", "cluster", params=params, **kwargs).json()
    if not isinstance(report, dict) or not isinstance(report.get("buckets"), list):
        raise CommandError("server sent a savings report without buckets (is it a Strata node?)")
    return report


def priced(report: dict[str, Any], price: float) -> dict[str, Any]:
    """The report with ``price_per_gb_month`` and each bucket's and the total's ``monthly_savings_usd``."""
    for entry in [*report["buckets"], report["total"]]:
        entry["monthly_savings_usd"] = monthly_usd(int(entry["saved_bytes"]), price)
    report["price_per_gb_month"] = price
    return report


def savings(session: Session, uri: BucketURI | None, *, price: float, output: str, verify: bool) -> int:
    """``strata savings [ais://B] [--price-per-gb-month P] [--format table|json] [--verify]``."""
    report = priced(fetch_report(session, uri, verify), price)
    if output == "json":
        write_json(session.out, report)
    else:
        write_table(session.out, report)
    if verify:
        return _write_verification(session.out if output != "json" else session.err, report)
    return 0


def write_table(out: TextIO, report: dict[str, Any]) -> None:
    price = report["price_per_gb_month"]
    out.write("Strata measured savings (compression at rest, from the ledger)\n\n")
    if not report["buckets"]:
        out.write("no objects in the savings ledger yet\n")
        return
    table = Table(["bucket", "objects", "original", "stored", "saved", "ratio", "saved%", "$/month"])
    for entry in report["buckets"]:
        table.add(
            entry["bucket"],
            str(entry["objects"]),
            human_size(entry["original_bytes"]),
            human_size(entry["stored_bytes"]),
            human_size(entry["saved_bytes"]),
            f"{entry['ratio']:.2f}x",
            f"{100 * entry['saved_ratio']:.1f}%",
            dollars(entry["monthly_savings_usd"]),
        )
    table.write(out)
    total = report["total"]
    out.write(
        f"\ntotal: {total['objects']} objects, {human_size(total['original_bytes'])} original -> "
        f"{human_size(total['stored_bytes'])} stored ({100 * total['saved_ratio']:.1f}% saved, "
        f"{total['saved_bytes']} bytes, {total['ratio']:.2f}x)\n"
    )
    out.write(
        f"monthly savings: {dollars(total['monthly_savings_usd'])} "
        f"(at ${price}/GiB-month, storage bytes only)\n"
    )


def _write_verification(out: TextIO, report: dict[str, Any]) -> int:
    """One line per difference between the ledger and a recount (and per bucket written to while it
    was recounted); 1 when there is any."""
    differences = report.get("differences") or []
    unsettled = report.get("unsettled") or []
    corrupted = report.get("corrupted") or []
    if report.get("verified") and not differences and not unsettled and not corrupted:
        out.write("verified: the ledger equals a recount of every object on disk\n")
        return 0
    for difference in differences:
        out.write(
            f"DIFFERENCE {difference['bucket']}{_on(difference)}: ledger {_footprint(difference['ledger'])}, "
            f"recount {_footprint(difference['recount'])}\n"
        )
    for bucket in unsettled:
        out.write(
            f"UNSETTLED {bucket['bucket']}{_on(bucket)}: written to while it was recounted; "
            "verify again when writes pause\n"
        )
    for item in corrupted:
        out.write(f"CORRUPTED {item['bucket']}/{item['object']}{_on(item)}: {item['error']}\n")
    if not differences and not unsettled and not corrupted:
        out.write("not verified: the server did not recount\n")
    return 1


def _on(item: dict[str, Any]) -> str:
    return f" on {item['node']}" if item.get("node") else ""


def _footprint(values: dict[str, Any]) -> str:
    return (
        f"{values.get('objects', 0)} objects, {values.get('original_bytes', 0)} original, "
        f"{values.get('stored_bytes', 0)} stored bytes"
    )
