"""Small checks shared by the cluster-config and bucket-props validators.

Each check raises ``Violation`` with a message that names the dotted key and shows the offending value
in the same notation as the wire (``"lso.quiescent (1m) must be less than lso.idle_time (20s)"``), so a
user can fix the request without reading our source. The caller adds the ``config:`` or ``bucket
props:`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .units import format_duration, format_size_iec


class Violation(ValueError):
    """A value that decodes but breaks a rule."""


def show_duration(seconds: float) -> str:
    return format_duration(seconds)


def show_size(n: int) -> str:
    return format_size_iec(n)


def int_range(key: str, value: int, low: int | None = None, high: int | None = None) -> None:
    """``low <= value <= high`` for plain integers (either bound may be open)."""
    if (low is not None and value < low) or (high is not None and value > high):
        raise Violation(f"{key} ({value}) must be {_bounds(low, high, str)}")


def size_range(key: str, value: int, low: int | None = None, high: int | None = None) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        raise Violation(f"{key} ({show_size(value)}) must be {_bounds(low, high, show_size)}")


def duration_range(key: str, value: float, low: float | None = None, high: float | None = None) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        raise Violation(f"{key} ({show_duration(value)}) must be {_bounds(low, high, show_duration)}")


def duration_zero_or_range(key: str, value: float, low: float, high: float | None = None) -> None:
    """``0`` (meaning "off" or "use the default") or within ``[low, high]``."""
    if value == 0:
        return
    if value < low or (high is not None and value > high):
        raise Violation(f"{key} ({show_duration(value)}) must be 0 or {_bounds(low, high, show_duration)}")


def one_of(key: str, value: str, choices: Iterable[str]) -> None:
    options = tuple(choices)
    if value not in options:
        listed = ", ".join(f'"{option}"' for option in options)
        raise Violation(f'{key} ("{value}") must be one of {listed}')


def not_greater(
    key_low: str, low: float, key_high: str, high: float, show: Callable[[Any], str] = str
) -> None:
    """``low <= high`` between two keys, e.g. ``space.lowwm`` and ``space.highwm``."""
    if low > high:
        raise Violation(f"{key_low} ({show(low)}) must not exceed {key_high} ({show(high)})")


def _bounds(low: Any, high: Any, show: Callable[[Any], str]) -> str:
    if low is not None and high is not None:
        return f"in [{show(low)}, {show(high)}]"
    if low is not None:
        return f"at least {show(low)}"
    return f"at most {show(high)}"
