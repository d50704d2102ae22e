"""How the CLI prints things: sizes, tables, nested properties, and how it reads ``key=value`` input.

Output mirrors AIStore's ``ais`` CLI so that people (and scripts) used to it feel at home: upper-case
column headers, columns padded with spaces, IEC sizes with two decimals (``4.00KiB``), ``-`` for "no
value". Nothing here talks to the network; every function is pure, so the unit tests need no server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

_IEC_UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
_COLUMN_GAP = "   "
NO_VALUE = "-"


def human_size(size: int) -> str:
    """Format a byte count the way ``ais`` does (Go's ``cos.ToSizeIEC(b, 2)``): ``512B``, ``4.00KiB``."""
    for unit, factor in _IEC_UNITS:
        if abs(size) >= factor:
            return f"{size / factor:.2f}{unit}"
    return f"{size}B"


def human_rate(bytes_per_second: float) -> str:
    """A transfer rate for progress lines: ``12.50MiB/s``."""
    return f"{human_size(int(bytes_per_second))}/s"


def render_value(value: Any) -> str:
    """One cell of a properties table: booleans and lists the way a person types them back."""
    if value is None or value == "" or value == [] or value == {}:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(render_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class Table:
    """Column-aligned rows, rendered like ``ais``: header in capitals, columns separated by spaces.

    Rows are buffered and widths computed over all of them, so a column never jumps. Listing code that
    streams pages renders one ``Table`` per page and passes the widths of the previous page on, which keeps
    the columns steady across pages without holding a whole bucket listing in memory.
    """

    def __init__(self, headers: Sequence[str], min_widths: Sequence[int] | None = None) -> None:
        self.headers = [header.upper() for header in headers]
        self.rows: list[list[str]] = []
        self.widths = [len(header) for header in self.headers]
        if min_widths is not None:
            self.widths = [max(width, floor) for width, floor in zip(self.widths, min_widths, strict=False)]

    def add(self, *cells: str) -> None:
        """Append a row; there must be one cell per header."""
        if len(cells) != len(self.headers):
            raise ValueError(f"expected {len(self.headers)} cells, got {len(cells)}")
        row = list(cells)
        self.rows.append(row)
        self.widths = [max(width, len(cell)) for width, cell in zip(self.widths, row, strict=True)]

    def write(self, out: TextIO, header: bool = True) -> None:
        """Print the (optional) header and the rows; the last column is not padded (no trailing blanks)."""
        if header:
            out.write(self._line(self.headers) + "\n")
        for row in self.rows:
            out.write(self._line(row) + "\n")

    def _line(self, cells: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], self.widths, strict=False)]
        return _COLUMN_GAP.join([*padded, cells[-1]]).rstrip()


def flatten(nested: Mapping[str, Any], parent: str = "") -> dict[str, Any]:
    """``{"mirror": {"enabled": true}}`` -> ``{"mirror.enabled": true}``; the form people type back.

    Empty sections stay visible as a single key with an empty value, so ``props show`` lists them.
    """
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        dotted = f"{parent}.{key}" if parent else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def select_section(nested: Mapping[str, Any], section: str) -> Any:
    """The subtree at a dotted path (``checksum``, ``lru.enabled``), or ``KeyError`` naming what exists."""
    node: Any = nested
    for part in section.split("."):
        if not isinstance(node, Mapping) or part not in node:
            choices = ", ".join(sorted(node)) if isinstance(node, Mapping) else ""
            raise KeyError(f'no section "{section}"' + (f" (have: {choices})" if choices else ""))
        node = node[part]
    return node


def write_properties(out: TextIO, nested: Mapping[str, Any], section: str = "") -> None:
    """A two-column PROPERTY/VALUE table of the (optionally narrowed) nested properties, sorted by key."""
    subtree = select_section(nested, section) if section else nested
    flat = flatten(subtree, section) if isinstance(subtree, Mapping) else {section: subtree}
    table = Table(["property", "value"])
    for key in sorted(flat):
        table.add(key, render_value(flat[key]))
    table.write(out)


def write_json(out: TextIO, value: Any) -> None:
    """Pretty JSON, as ``ais ... --json`` prints it."""
    out.write(json.dumps(value, indent=4, sort_keys=False) + "\n")


_TRUE_WORDS = {"true", "yes", "on", "1", "enable", "enabled"}
_FALSE_WORDS = {"false", "no", "off", "0", "disable", "disabled"}


def coerce_value(text: str, current: Any = None) -> Any:
    """Turn a typed ``value`` into the JSON type the server expects.

    The type of the property's current value decides (so ``checksum.type=1`` stays a string and
    ``mirror.copies=3`` becomes an integer); for a key the server has not shown us we read the text as a
    JSON literal when it is one (``true``, ``3``, ``[..]``) and as a string otherwise.
    """
    if isinstance(current, bool):
        lowered = text.strip().lower()
        if lowered in _TRUE_WORDS:
            return True
        if lowered in _FALSE_WORDS:
            return False
        raise ValueError(f'expected a boolean (true/false), got "{text}"')
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f'expected an integer, got "{text}"') from None
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f'expected a number, got "{text}"') from None
    if isinstance(current, list):
        stripped = text.strip()
        if stripped.startswith("["):
            return json.loads(stripped)
        return [item.strip() for item in stripped.split(",") if item.strip()]
    if isinstance(current, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignments(words: Sequence[str]) -> list[tuple[str, str]]:
    """``["a.b=1", "c", "2"]`` -> ``[("a.b", "1"), ("c", "2")]``: both ``key=value`` and ``key value``."""
    pairs: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        if "=" in word:
            key, _, value = word.partition("=")
            index += 1
        elif index + 1 < len(words):
            key, value = word, words[index + 1]
            index += 2
        else:
            raise ValueError(f'"{word}" has no value: write key=value')
        if not key:
            raise ValueError(f'"{word}" has no key: write key=value')
        pairs.append((key, value))
    return pairs


def nest(assignments: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``[("mirror.enabled", True)]`` -> ``{"mirror": {"enabled": True}}``: the partial-props JSON shape."""
    nested: dict[str, Any] = {}
    for dotted, value in assignments:
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f'"{dotted}" conflicts with a value already set for "{part}"')
            node = child
        node[leaf] = value
    return nested
