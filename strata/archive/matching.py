"""Selecting archive members by ``archregx`` + ``archmode``, as AIStore's archive reads do.

Modes: ``regexp`` (Python ``re.search``: unanchored, like Go's ``MatchString``), ``prefix``, ``suffix``,
``substr``, and ``wdskey``: the WebDataset sample key, i.e. the member name up to the first dot of its
last path segment, must equal the pattern (``a/0001`` selects ``a/0001.jpg`` and ``a/0001.seg.png``
but not ``a/00010.jpg``). An empty mode means ``regexp``.

Regular expressions come from clients; Python's engine backtracks, so a hostile pattern can be slow on
long names. Patterns are capped at ``MAX_PATTERN`` characters; names in archives are short.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from strata.core.errors import InvalidRequest

MODES = ("regexp", "prefix", "suffix", "substr", "wdskey")
MAX_PATTERN = 1024


def wds_key(name: str) -> str:
    """``dir/sample.ext1.ext2`` -> ``dir/sample``: WebDataset's grouping key."""
    slash = name.rfind("/") + 1
    dot = name.find(".", slash)
    return name if dot < 0 else name[:dot]


def matcher(pattern: str, mode: str) -> Callable[[str], bool]:
    """A predicate over member names; InvalidRequest for an unknown mode or a bad regular expression."""
    mode = (mode or "regexp").strip().lower()
    if len(pattern) > MAX_PATTERN:
        raise InvalidRequest(f"archive match pattern is longer than {MAX_PATTERN} characters")
    if mode == "regexp":
        try:
            compiled = re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise InvalidRequest(f'invalid regular expression "{pattern}": {exc}') from None
        return lambda name: compiled.search(name) is not None
    if mode == "prefix":
        return lambda name: name.startswith(pattern)
    if mode == "suffix":
        return lambda name: name.endswith(pattern)
    if mode == "substr":
        return lambda name: pattern in name
    if mode == "wdskey":
        return lambda name: wds_key(name) == pattern
    raise InvalidRequest(f'invalid archive match mode "{mode}" (expecting one of {", ".join(MODES)})')
