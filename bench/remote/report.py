"""Rows of the remote benchmarks and the RESULTS.md section they make.

A row is one measure: Strata's number, the anchor's, their ratio against a minimum (or none: reported
only), and the machine's load while it ran. A case whose server side is not built yet (the server
answers 501 for it) is a row that says so, with no numbers, rather than a failure of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.foundation import fmt, git_line, machine_line

NOT_BUILT = "not built"


@dataclass
class Row:
    name: str
    unit: str
    strata: float | None
    anchor: float | None
    anchor_name: str
    target: float | None  # strata/anchor must be at least this; None: reported only
    load: str = ""  # the CPU split while the case ran (others' load is the noise)
    status: str = ""  # NOT_BUILT, or why the case measured nothing

    @property
    def ratio(self) -> float | None:
        if self.strata is None or not self.anchor:
            return None
        return self.strata / self.anchor

    @property
    def verdict(self) -> str:
        if self.status:
            return self.status
        ratio = self.ratio
        if ratio is None:
            return "—"
        if self.target is None:
            return "info"
        return "PASS" if ratio >= self.target else "FAIL"

    @property
    def target_text(self) -> str:
        return f">= {self.target:g}x" if self.target is not None else "reported"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        ratio = f"{row.ratio:.3f}x" if row.ratio is not None else "—"
        print(
            f"  {row.name}: strata {fmt(row.strata)} {row.unit}, anchor {fmt(row.anchor)} {row.unit} "
            f"({row.anchor_name}), ratio {ratio}, target {row.target_text}: {row.verdict}"
            + (f"; {row.load}" if row.load else ""),
            flush=True,
        )
        return row

    def note(self, text: str) -> None:
        print(f"  note: {text}", flush=True)
        self.notes.append(text)


def render(report: Report, argv: list[str], setup: list[str]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now} — remote buckets — {git_line()}",
        "",
        f"- command: `{' '.join(argv)}`",
        f"- machine: {machine_line()}",
        *[f"- {line}" for line in setup],
        "",
        "| metric | strata | anchor | ratio | target | result | load while measured |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in report.rows:
        anchor = (
            f"{fmt(row.anchor)} ({row.anchor_name})" if row.anchor is not None else f"— ({row.anchor_name})"
        )
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "—"
        lines.append(
            f"| {row.name} ({row.unit}) | {fmt(row.strata)} | {anchor} | {ratio} | {row.target_text} "
            f"| {row.verdict} | {row.load or '—'} |"
        )
    lines += ["", "Notes:"]
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"
