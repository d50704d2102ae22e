"""The Grafana dashboard in the repository queries only metrics the server exports.

The exported names are not a list kept here: an in-process node (the same ``/metrics`` handler as the
server) takes a few PUTs into a compressing bucket and a plain one, and its scrape is parsed. Every
PromQL expression of the dashboard (panel targets and the query variables) is reduced to the metric
names it selects -- functions, keywords, label lists, ranges, strings and ``$variables`` stripped --
and each must be one the scrape has samples of.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .inprocess import InProcessNode

DASHBOARD = Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "strata-savings.json"
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan",
}  # fmt: skip
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression selects (``label_values(m, label)`` counts as selecting ``m``)."""
    text = re.sub(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,[^)]*\)", r"\1", expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", text)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # dashboard variables
    names = set()
    for match in IDENTIFIER.finditer(text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function or a keyword
        names.add(word)
    return names


def expressions(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield query["query"] if isinstance(query, dict) else query


def exported(scrape: str) -> set[str]:
    """Names that have at least one sample in a Prometheus text scrape."""
    return {
        match.group(0)
        for line in scrape.splitlines()
        if line and not line.startswith("#") and (match := IDENTIFIER.match(line))
    }


@pytest.fixture
def scrape(tmp_path: Path) -> Iterator[str]:
    node = InProcessNode(tmp_path)
    try:
        for bucket, props in (("zipped", {"compression": {"enabled": True}}), ("plain", {})):
            create = json.dumps({"action": "create-bck"}).encode()
            assert node.call("POST", f"/v1/buckets/{bucket}", "provider=ais", create).status == 200
            if props:
                body = json.dumps({"action": "set-bprops", "value": props}).encode()
                assert node.call("PATCH", f"/v1/buckets/{bucket}", "provider=ais", body).status == 200
            for i in range(3):
                put = node.call("PUT", f"/v1/objects/{bucket}/log-{i}.txt", "provider=ais", b"line\n" * 5000)
                assert put.status == 200, put.body
        assert node.call("GET", "/v1/objects/zipped/log-0.txt", "provider=ais").status == 200
        answer = node.call("GET", "/metrics")
        assert answer.status == 200
        yield answer.body.decode()
    finally:
        node.close()


def test_metric_names_of_promql() -> None:
    expr = (
        'clamp_min(sum by (bucket) (strata_ledger_original_bytes{bucket=~"$bucket"}) - '
        "sum(rate(strata_compressed_puts_total[$__rate_interval])), 0) / 1073741824 * $price_per_gb_month"
    )
    assert metric_names(expr) == {"strata_ledger_original_bytes", "strata_compressed_puts_total"}
    assert metric_names("label_values(strata_ledger_objects, bucket)") == {"strata_ledger_objects"}


def test_every_dashboard_query_names_an_exported_metric(scrape: str) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    names = exported(scrape)
    queried: set[str] = set()
    for expr in expressions(dashboard):
        found = metric_names(expr)
        assert found, f"no metric in {expr!r}"
        missing = found - names
        assert not missing, f"{expr!r} queries {sorted(missing)}, which /metrics does not export"
        queried |= found
    # the panels the issue asks for are there: ledger gauges and the compression counters
    assert {
        "strata_ledger_original_bytes",
        "strata_ledger_stored_bytes",
        "strata_ledger_objects",
        "strata_compressed_puts_total",
        "strata_passthrough_puts_total",
        "strata_frames_decoded_total",
    } <= queried


def test_dashboard_has_the_price_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [price] = [v for v in dashboard["templating"]["list"] if v["name"] == "price_per_gb_month"]
    assert price["type"] == "textbox" and price["query"] == "0.023"
    uses = [expr for expr in expressions(dashboard) if "$price_per_gb_month" in expr]
    assert uses, "no panel prices the savings"
    panel_ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids))
