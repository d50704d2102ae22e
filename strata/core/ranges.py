"""HTTP ``Range`` for objects and archived files: one ``bytes=`` range, RFC 9110 semantics."""

from __future__ import annotations

from strata.core.errors import InvalidRequest, RangeNotSatisfiable


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` | ``bytes=a-`` | ``bytes=-n`` -> (offset, length); None for the whole object."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        raise InvalidRequest(f'unsupported Range "{header}" (one "bytes=" range is supported)')
    first, dash, last = spec.strip().partition("-")
    if not dash or (not first and not last):
        raise InvalidRequest(f'invalid Range "{header}"')
    try:
        if not first:  # suffix: the last N bytes
            n = int(last)
            if n <= 0:
                raise RangeNotSatisfiable(f'range "{header}" is not satisfiable', size)
            n = min(n, size)
            return size - n, n
        start = int(first)
        end = int(last) if last else None
    except ValueError:
        raise InvalidRequest(f'invalid Range "{header}"') from None
    if start < 0 or (end is not None and end < start):
        raise InvalidRequest(f'invalid Range "{header}"')
    if start >= size:
        raise RangeNotSatisfiable(f'range "{header}" is not satisfiable (object size {size})', size)
    if end is None:
        end = size - 1
    end = min(end, size - 1)
    return start, end - start + 1
