"""Object-name templates as AIStore writes them: ``prefix{0000..9999}suffix`` and friends.

- A range is ``{start..end}`` or ``{start..end..step}``; several ranges multiply
  (``a-{0..2}-b-{00..10..5}`` is 3 x 3 names).
- Zero padding: when ``start`` is written with leading zeros, every number gets its width.
- A template with no range is a prefix: it selects every object whose name starts with it (the
  empty template selects the whole bucket).
- ``{a,b,c}`` lists alternatives, as bash brace expansion does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from strata.core.errors import InvalidRequest

MAX_TEMPLATE_NAMES = 10_000_000
_GROUP = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)(?:\.\.(\d+))?")


def is_prefix(template: str) -> bool:
    """True when the template names no range: it is then a prefix of object names."""
    return _GROUP.search(template) is None


def _expand_group(body: str, template: str) -> list[str]:
    match = _RANGE.fullmatch(body)
    if match is None:
        if "," in body:
            return body.split(",")
        raise InvalidRequest(f'invalid template "{template}": cannot parse "{{{body}}}"')
    start_s, end_s, step_s = match.groups()
    start, end = int(start_s), int(end_s)
    step = int(step_s) if step_s else 1
    if step <= 0:
        raise InvalidRequest(f'invalid template "{template}": step must be positive')
    if end < start:
        raise InvalidRequest(f'invalid template "{template}": range end {end} is below its start {start}')
    width = len(start_s.lstrip("-")) if start_s.lstrip("-").startswith("0") and len(start_s) > 1 else 0
    count = (end - start) // step + 1
    if count > MAX_TEMPLATE_NAMES:
        raise InvalidRequest(f'invalid template "{template}": more than {MAX_TEMPLATE_NAMES} names')
    return [str(n).zfill(width) if width else str(n) for n in range(start, end + 1, step)]


def expand_template(template: str) -> Iterator[str]:
    """All names a template with ranges stands for, in order (the last range varies fastest)."""
    pieces: list[list[str]] = []
    pos = 0
    total = 1
    for match in _GROUP.finditer(template):
        literal = template[pos : match.start()]
        if "{" in literal or "}" in literal:
            raise InvalidRequest(f'invalid template "{template}": unbalanced braces')
        pieces.append([literal])
        values = _expand_group(match.group(1), template)
        total *= len(values)
        if total > MAX_TEMPLATE_NAMES:
            raise InvalidRequest(f'invalid template "{template}": more than {MAX_TEMPLATE_NAMES} names')
        pieces.append(values)
        pos = match.end()
    if "{" in template[pos:] or "}" in template[pos:]:
        raise InvalidRequest(f'invalid template "{template}": unbalanced braces')
    pieces.append([template[pos:]])
    for combo in itertools.product(*pieces):
        yield "".join(combo)
