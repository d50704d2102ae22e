"""Rows of a compression benchmark and the RESULTS.md section they make.

Unlike the foundation benchmarks, not every target here is "at least N times the anchor": a stored
size has a ceiling (original + 0.1%), a multipart ratio a band (within 10% of the single PUT), frames
decoded per range GET a ceiling (the frames the range touches). So a row carries the bounds its
strata/anchor ratio must fall within, and reads PASS or MISS.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.foundation import fmt, git_line, machine_line


@dataclass
class Row:
    name: str
    strata: float | None
    anchor: float | None
    anchor_name: str
    low: float | None = None  # strata/anchor must be >= low ...
    high: float | None = None  # ... and <= high; neither: reported only

    @property
    def ratio(self) -> float | None:
        if self.strata is None or not self.anchor:
            return None
        return self.strata / self.anchor

    @property
    def target(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}x .. {self.high:g}x"
        if self.low is not None:
            return f">= {self.low:g}x"
        if self.high is not None:
            return f"<= {self.high:g}x"
        return "—"

    @property
    def verdict(self) -> str:
        if self.low is None and self.high is None:
            return "info"
        ratio = self.ratio
        if ratio is None:
            return "—"
        ok = (self.low is None or ratio >= self.low) and (self.high is None or ratio <= self.high + 1e-12)
        return "PASS" if ok else "MISS"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        ratio = f"{row.ratio:.3f}x" if row.ratio is not None else "—"
        print(
            f"  {row.name}: strata {fmt(row.strata)}, anchor {fmt(row.anchor)} ({row.anchor_name}), "
            f"ratio {ratio}, target {row.target}: {row.verdict}",
            flush=True,
        )
        return row

    def command(self, text: str) -> None:
        if text not in self.commands:
            self.commands.append(text)


def median(values: list[float]) -> float:
    return statistics.median(values)


def tool_line() -> str:
    """The versions of the anchors' tools, as they print them."""

    def first_line(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError:
            return f"{command[0]} missing"
        text = (done.stdout + done.stderr).strip().splitlines()
        return text[0] if text else "?"

    return f"{first_line(['zstd', '--version'])}; {first_line([sys.executable, '-m', 'awscli', '--version'])}"


def render(report: Report, argv: list[str], setup: list[str], title: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now} — {title} — {git_line()}",
        "",
        f"- command: `{' '.join(argv)}`",
        f"- machine: {machine_line()}",
        *[f"- {s}" for s in setup],
        "",
        "| metric | strata | anchor | ratio | target | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in report.rows:
        anchor = (
            f"{fmt(row.anchor)} ({row.anchor_name})" if row.anchor is not None else f"— ({row.anchor_name})"
        )
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "—"
        lines.append(
            f"| {row.name} | {fmt(row.strata)} | {anchor} | {ratio} | {row.target} | {row.verdict} |"
        )
    lines += ["", "Notes:"]
    lines += [f"- {n}" for n in report.notes]
    lines += ["", "Anchor and load commands:"]
    lines += [f"- `{c}`" for c in report.commands]
    return "\n".join(lines) + "\n"
