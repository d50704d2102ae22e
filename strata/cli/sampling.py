"""How ``strata estimate`` picks objects to compress and turns what they gave into a projection.

Pure arithmetic, no I/O, so the unit tests check the statistics without a server.

- **Strata by extension**, like s4 (``jpg``, ``csv``, ``(none)``): objects of one kind compress alike,
  so a stratum's ratio is measured on its own objects and a bucket that is 90% JPEG and 10% CSV is not
  judged by whichever kind the draw happened to favour.
- **Size-weighted draws without replacement**, streamed: while the listing goes by, each stratum keeps
  the ``limit`` objects with the largest key ``log(u) / size`` (Efraimidis-Spirakis A-Res, seeded), so
  memory is bounded by ``limit`` per stratum whatever the bucket's size, and a big object, which
  weighs more in the bytes to project, is more likely to be read.
- **The sample budget** (``--sample N``) is shared: every stratum with bytes gets one read (the largest
  strata first when there are more strata than reads), the rest goes by stratum bytes.
- **The estimator**. With draws proportional to size, the Hansen-Hurwitz estimate of a stratum's stored
  bytes is ``stratum bytes * mean(stored_i / original_i)``: the plain mean of the sampled fractions. (s4
  takes a size-weighted mean of a size-weighted draw, which counts big objects twice.) When every
  eligible object of the stratum was read, the projection is exact: ``sum fraction_i * size_i``.
- **Known without reading**: objects below the bucket's ``min_size`` are stored as they are, and empty
  objects take nothing; both are projected exactly and never spend a read.
"""

from __future__ import annotations

import heapq
import math
import random
import re
from dataclasses import dataclass, field

NO_EXTENSION = "(none)"
_EXTENSION = re.compile(r"[A-Za-z0-9_-]{1,12}")


def stratum_of(object_name: str) -> str:
    """The extension of the name's last path segment, lower-cased (``a/b.TAR.gz`` -> ``gz``).

    Only an extension that looks like one -- up to 12 letters, digits, ``_`` or ``-``, with a letter --
    makes a stratum; ``shard.000017``, ``.bashrc`` or a name ending in a dot fall in ``(none)``, so
    numbered or random suffixes do not split a bucket into thousands of one-object strata.
    """
    base = object_name.rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot or not stem or not _EXTENSION.fullmatch(extension):
        return NO_EXTENSION
    if not any(char.isalpha() for char in extension):
        return NO_EXTENSION
    return extension.lower()


@dataclass
class Candidate:
    """An object the stratum may read: its name, its size and its draw key (larger: drawn first)."""

    key: float
    name: str
    size: int

    def __lt__(self, other: Candidate) -> bool:
        return (self.key, self.name) < (other.key, other.name)


@dataclass
class Measured:
    """What compressing one sampled object's first bytes gave."""

    name: str
    size: int  # the whole object's size
    read: int  # bytes read and compressed (at most the read cap)
    stored: int  # what those bytes would take on disk (== read for a passed-through object)
    passthrough: bool  # the codec choice stored it as it is (already compressed, high entropy, ...)
    reason: str

    @property
    def fraction(self) -> float:
        """Stored / original of the bytes read (1.0 for nothing read)."""
        return self.stored / self.read if self.read else 1.0


@dataclass
class Stratum:
    """One extension's objects: counts from the whole listing, a bounded reservoir, the measurements."""

    name: str
    objects: int = 0
    bytes: int = 0
    small_objects: int = 0  # below min_size (or empty): stored as they are, projected without a read
    small_bytes: int = 0
    reservoir: list[Candidate] = field(default_factory=list)  # a min-heap on the draw key
    measured: list[Measured] = field(default_factory=list)
    unread: int = 0  # drawn, but gone (404) or unreadable by the time it was read

    @property
    def eligible_objects(self) -> int:
        return self.objects - self.small_objects

    @property
    def eligible_bytes(self) -> int:
        return self.bytes - self.small_bytes

    def offer(self, candidate: Candidate, capacity: int) -> None:
        """Keep ``candidate`` if it is among the ``capacity`` largest keys seen so far."""
        if len(self.reservoir) < capacity:
            heapq.heappush(self.reservoir, candidate)
        elif capacity and self.reservoir[0] < candidate:
            heapq.heapreplace(self.reservoir, candidate)

    def drawn(self, count: int) -> list[Candidate]:
        """The ``count`` candidates with the largest keys: a size-weighted draw without replacement."""
        return heapq.nlargest(count, self.reservoir)

    def fraction(self) -> float | None:
        """Projected stored / original over the eligible objects; None when nothing was measured."""
        if not self.measured:
            return None
        if len(self.measured) == self.eligible_objects and self.eligible_bytes:  # read them all: exact
            return sum(m.fraction * m.size for m in self.measured) / self.eligible_bytes
        return sum(m.fraction for m in self.measured) / len(self.measured)

    def projected(self, fallback: float) -> int:
        """Bytes the stratum would take compressed; ``fallback`` stands in for an unmeasured fraction."""
        fraction = self.fraction()
        return self.small_bytes + round(self.eligible_bytes * (fallback if fraction is None else fraction))

    @property
    def passthrough(self) -> int:
        return sum(1 for m in self.measured if m.passthrough)


class Sampler:
    """Sort a listing into strata and keep each stratum's draw candidates as it streams by."""

    def __init__(self, budget: int, seed: int, min_size: int) -> None:
        self.budget = budget
        self.min_size = min_size
        self.random = random.Random(seed)
        self.strata: dict[str, Stratum] = {}

    def add(self, object_name: str, size: int) -> None:
        name = stratum_of(object_name)
        stratum = self.strata.get(name)
        if stratum is None:
            stratum = self.strata[name] = Stratum(name)
        stratum.objects += 1
        stratum.bytes += size
        if size == 0 or size < self.min_size:
            stratum.small_objects += 1
            stratum.small_bytes += size
            return
        # A-Res key log(u)/w: u^(1/w) without underflow; 1 - random() lies in (0, 1], so log is defined
        key = math.log(1.0 - self.random.random()) / size
        stratum.offer(Candidate(key, object_name, size), self.budget)

    def plan(self) -> list[tuple[Stratum, list[Candidate]]]:
        """Which objects to read, stratum by stratum (largest strata first)."""
        allocation = allocate(
            {s.name: (s.eligible_bytes, len(s.reservoir)) for s in self.strata.values()}, self.budget
        )
        ordered = sorted(self.strata.values(), key=lambda s: (-s.bytes, s.name))
        return [(s, s.drawn(allocation.get(s.name, 0))) for s in ordered]


def allocate(strata: dict[str, tuple[int, int]], budget: int) -> dict[str, int]:
    """Share ``budget`` reads among strata given as ``name -> (eligible bytes, candidates)``.

    One read for every stratum with bytes (by bytes, largest first, while the budget lasts), then the
    rest in proportion to bytes by largest remainder, never more than a stratum has candidates; what a
    stratum cannot take goes round again to the others.
    """
    live = sorted(
        ((name, size, cap) for name, (size, cap) in strata.items() if size > 0 and cap > 0),
        key=lambda item: (-item[1], item[0]),
    )
    shares = {name: 0 for name, _size, _cap in live}
    left = budget
    for name, _size, _cap in live:
        if left == 0:
            break
        shares[name] = 1
        left -= 1
    while left > 0:
        open_strata = [(name, size, cap) for name, size, cap in live if shares[name] < cap]
        if not open_strata:
            break
        total = sum(size for _name, size, _cap in open_strata)
        quotas = [(name, left * size / total, cap) for name, size, cap in open_strata]
        given = 0
        for name, quota, cap in quotas:
            take = min(int(quota), cap - shares[name])
            shares[name] += take
            given += take
        remainders = sorted(quotas, key=lambda item: (-(item[1] - int(item[1])), item[0]))
        for name, _quota, cap in remainders:
            if given == left:
                break
            if shares[name] < cap:
                shares[name] += 1
                given += 1
        if given == 0:
            break
        left -= given
    return shares
