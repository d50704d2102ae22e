"""Highest-random-weight placement, bit-for-bit as AIStore computes it.

Placement is a pure function of names: the same code picks the target for an object (over the
Smap), the mountpath within a target, and later the node that runs a job. The SDK's
``direct=True`` reads compute the target themselves, so ``target_for`` must agree with
``aistore.sdk.types.Smap.get_target_for_object`` for every smap (a unit test pins that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import xxhash

MASK64 = (1 << 64) - 1
DIGEST_SEED = 1103515245  # MLCG32, AIStore's xxhash seed
_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB

T = TypeVar("T")


def digest(name: str) -> int:
    """XXH64 of the UTF-8 name with AIStore's seed: node ids, mountpaths and unames all use it."""
    return xxhash.xxh64_intdigest(name.encode(), DIGEST_SEED)


def scramble(x: int) -> int:
    """AIStore's xoshiro256-derived mixer (cmn/xoshiro256): spreads XOR-ed digests uniformly."""
    z = (x + _GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * _C1) & MASK64
    z = ((z ^ (z >> 27)) * _C2) & MASK64
    z = ((z ^ (z >> 31)) + _GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * _C1) & MASK64
    z = ((z ^ (z >> 27)) * _C2) & MASK64
    z = ((z ^ (z >> 31)) * 5) & MASK64
    z = ((z << 7) | (z >> 57)) & MASK64
    return (z * 9) & MASK64


def uname(provider: str, namespace_uname: str, bucket: str, object_name: str) -> str:
    """The fully qualified object name that HRW hashes, e.g. ``ais/@#/bucket/object``."""
    return f"{provider}/{namespace_uname}/{bucket}/{object_name}"


def pick(candidates: Iterable[tuple[int, T]], key_digest: int) -> T | None:
    """Return the candidate whose ``scramble(candidate_digest ^ key_digest)`` is the largest.

    ``candidates`` yields ``(candidate_digest, candidate)``. Ties keep the first seen, as the
    SDK does (strict ``>``). ``None`` when there are no candidates.
    """
    best: T | None = None
    best_weight = -1
    for candidate_digest, candidate in candidates:
        weight = scramble(candidate_digest ^ key_digest)
        if weight > best_weight:
            best_weight, best = weight, candidate
    return best
