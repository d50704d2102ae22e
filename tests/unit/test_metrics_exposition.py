"""The Prometheus text of ``/metrics``: Strata's names beside AIStore's, ledger gauges, escaped labels."""

from __future__ import annotations

import re
from dataclasses import dataclass

from strata.core.metrics import LEDGER_GAUGES, STRATA_NAMES, Metrics, escape_label, ledger_exposition

# one sample line: name{labels} value, with label values in the text format's escaping
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*)\} (\d+)$')
LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def samples(text: str) -> list[tuple[str, dict[str, str], int]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        labels = {name: _unescape(value) for name, value in LABEL.findall(match.group(2))}
        out.append((match.group(1), labels, int(match.group(3))))
    return out


@dataclass
class Footprint:
    original_bytes: int
    stored_bytes: int
    objects: int


def test_label_values_are_escaped() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_compression_counters_are_exported_under_strata_names_too() -> None:
    metrics = Metrics(None)
    try:
        metrics.add("compressed_put_count", 3)
        metrics.add("passthrough_put_count", 2)
        metrics.add("frames_decoded_count", 7)
        text = metrics.exposition("target", 'n"1').decode()
    finally:
        metrics.close()
    found = {name: (labels, value) for name, labels, value in samples(text)}
    assert found["strata_compressed_puts_total"] == ({"node_id": 'n"1'}, 3)
    assert found["strata_passthrough_puts_total"] == ({"node_id": 'n"1'}, 2)
    assert found["strata_frames_decoded_total"] == ({"node_id": 'n"1'}, 7)
    assert found["ais_target_compressed_put_count"][1] == 3  # the AIStore-style series stay
    for metric in STRATA_NAMES.values():
        assert f"# TYPE {metric} counter" in text


def test_ledger_gauges_one_series_per_bucket() -> None:
    ledger = {"ais://b": Footprint(1000, 250, 4), 'ais://we"ird': Footprint(10, 10, 1)}
    text = ledger_exposition("t1", ledger).decode()
    for metric, _help, _field in LEDGER_GAUGES:
        assert f"# TYPE {metric} gauge" in text
    got = {(name, labels["bucket"]): value for name, labels, value in samples(text)}
    assert got[("strata_ledger_original_bytes", "ais://b")] == 1000
    assert got[("strata_ledger_stored_bytes", "ais://b")] == 250
    assert got[("strata_ledger_objects", "ais://b")] == 4
    assert got[("strata_ledger_objects", 'ais://we"ird')] == 1
    assert all(labels["node_id"] == "t1" for _name, labels, _value in samples(text))


def test_ledger_gauges_name_themselves_with_no_bucket() -> None:
    text = ledger_exposition("p1", {}).decode()
    assert samples(text) == []
    assert "# TYPE strata_ledger_stored_bytes gauge" in text
