"""Durations and sizes the way AIStore writes them in its JSON.

AIStore encodes a duration as Go's ``time.Duration.String()`` with a trailing ``m0s`` cut to ``m``
(``"2h0m"``, ``"10m"``, ``"30s"``, ``"100ms"``) and a size as an IEC string with no decimals, rounded
(``"0B"``, ``"256KiB"``, ``"1TiB"``). Both are strings on the wire, on input as well as on output, so
clients written against AIStore (the Go CLI, scripts reading the config) see the same text here.

Durations are handled in integer nanoseconds inside this module so that formatting is exact; the public
functions speak float seconds because that is what the rest of Strata computes with.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "format_size_exact", "format_size_iec", "parse_duration", "parse_size_iec"]

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign, as Go prints it
    "\u03bcs": 1_000,  # Greek mu, which Go also accepts
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_TERM = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
_SIZE_SUFFIX = {
    "": 1,
    "b": 1,
    "k": KiB,
    "kb": KiB,
    "kib": KiB,
    "m": MiB,
    "mb": MiB,
    "mib": MiB,
    "g": GiB,
    "gb": GiB,
    "gib": GiB,
    "t": TiB,
    "tb": TiB,
    "tib": TiB,
    "p": TiB << 10,
    "pb": TiB << 10,
    "pib": TiB << 10,
    "e": TiB << 20,
    "eb": TiB << 20,
    "eib": TiB << 20,
}
_SIZE = re.compile(r"([-+]?)(\d+\.?\d*|\.\d+)\s*([A-Za-z]*)")
# Largest unit first: ToSizeIEC in AIStore (cmn/cos/size.go) stops at TiB.
_SIZE_UNITS = (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB))


def parse_duration_ns(text: str) -> int:
    """Parse a Go duration string (``"1h30m"``, ``"-1s"``, ``"1.5ms"``, ``"0"``) into nanoseconds."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, got {type(text).__name__}")
    s = text.strip()
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    pos = 0
    while pos < len(s):
        term = _DURATION_TERM.match(s, pos)
        if term is None:
            raise ValueError(f'invalid duration {text!r} (expected e.g. "30s", "10m", "2h0m")')
        number, unit = term.group(1), term.group(2)
        whole, _, frac = number.partition(".")
        scale = _NS_PER_UNIT[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = term.end()
    return sign * total


def parse_duration(s: str) -> float:
    """Parse a Go duration string into seconds; ``ValueError`` on anything Go would reject."""
    return parse_duration_ns(s) / 1e9


def _decimal(value: int, unit: int) -> str:
    """``value / unit`` printed like Go does: no trailing zeros, no dot when whole."""
    whole, frac = divmod(value, unit)
    if frac == 0:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}.{str(frac).rjust(width, '0').rstrip('0')}"


def format_duration_ns(ns: int) -> str:
    """Go's ``Duration.String()`` with AIStore's trim of a trailing ``m0s`` to ``m``."""
    if ns == 0:
        return "0s"
    magnitude = abs(ns)
    if magnitude < 1_000:
        text = f"{magnitude}ns"
    elif magnitude < 1_000_000:
        text = _decimal(magnitude, 1_000) + "\u00b5s"
    elif magnitude < 1_000_000_000:
        text = _decimal(magnitude, 1_000_000) + "ms"
    else:
        hours, rest = divmod(magnitude, _NS_PER_UNIT["h"])
        minutes, rest = divmod(rest, _NS_PER_UNIT["m"])
        text = _decimal(rest, _NS_PER_UNIT["s"]) + "s"
        if hours or minutes:
            text = f"{minutes}m" + text
        if hours:
            text = f"{hours}h" + text
        if text.endswith("m0s"):
            text = text[:-2]
    return ("-" if ns < 0 else "") + text


def format_duration(seconds: float) -> str:
    """Seconds to AIStore's duration text: 7200 -> ``"2h0m"``, 600 -> ``"10m"``, 0.1 -> ``"100ms"``."""
    return format_duration_ns(round(seconds * 1e9))


def parse_size_iec(s: str) -> int:
    """Parse ``"256KiB"``, ``"1TiB"``, ``"0B"``, ``"1.5GiB"`` or plain digits into bytes.

    KB/MB/K/M... are read as IEC (powers of two), as AIStore does for its IEC-typed fields.
    """
    if not isinstance(s, str):
        raise ValueError(f"size must be a string, got {type(s).__name__}")
    match = _SIZE.fullmatch(s.strip())
    if match is None or match.group(3).lower() not in _SIZE_SUFFIX:
        raise ValueError(f'invalid size {s!r} (expected e.g. "256KiB", "1GiB", "0B")')
    sign, number, unit = match.groups()
    whole, _, frac = number.partition(".")
    scale = _SIZE_SUFFIX[unit.lower()]
    value = int(whole or "0") * scale
    if frac:
        value += round(int(frac) * scale / 10 ** len(frac))
    return -value if sign == "-" else value


def format_size_iec(n: int) -> str:
    """Bytes to IEC text with 0 decimals, rounded: 262144 -> ``"256KiB"``, 0 -> ``"0B"``, -1 -> ``"-1B"``.

    Lossy by design (1.5 GiB prints as ``"2GiB"``), exactly like AIStore's ``cos.ToSizeIEC(n, 0)``.
    """
    for suffix, unit in _SIZE_UNITS:
        if n >= unit:
            return f"{n / unit:.0f}{suffix}"
    return f"{n}B"


def format_size_exact(n: int) -> str:
    """Bytes to IEC text that reads back to the same number: 4194304 -> ``"4MiB"``, 5000 -> ``"5000B"``.

    For Strata's own size keys (``compression.min_size``...), where ``format_size_iec``'s rounding would
    change a stored value on its way through the bucket metadata (5000 bytes -> ``"5KiB"`` = 5120).
    """
    for suffix, unit in _SIZE_UNITS:
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return f"{n}B"
