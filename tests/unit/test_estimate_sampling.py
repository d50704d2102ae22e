"""``strata estimate``'s statistics, without a server: strata, the shared budget, the draw, the estimator.

The estimator is checked against the truth: a bucket whose objects' compressed sizes are known is
sampled many times with different seeds, and the projections must centre on the true stored bytes
(the Hansen-Hurwitz mean of fractions under size-weighted draws), where a size-weighted mean of a
size-weighted draw -- s4's -- leans towards the large objects' ratio.
"""

from __future__ import annotations

import os
import statistics

import pytest

from strata.cli.estimate import Settings, measure
from strata.cli.sampling import NO_EXTENSION, Measured, Sampler, allocate, stratum_of


@pytest.mark.parametrize(
    ("name", "stratum"),
    [
        ("logs/a.CSV", "csv"),
        ("a/b.tar.gz", "gz"),
        ("plain", NO_EXTENSION),
        ("dir.d/plain", NO_EXTENSION),  # the dot is in a directory, not in the name
        (".bashrc", NO_EXTENSION),
        ("trailing.", NO_EXTENSION),
        ("shard.000017", NO_EXTENSION),  # a number is not a kind of file
        ("x.a1b2c3d4e5f6a7b8", NO_EXTENSION),  # too long: a random suffix
        ("model.safetensors", "safetensors"),
        ("img.jpeg-2", "jpeg-2"),
    ],
)
def test_stratum_is_the_extension_when_it_looks_like_one(name: str, stratum: str) -> None:
    assert stratum_of(name) == stratum


def test_budget_gives_every_stratum_one_read_then_shares_by_bytes() -> None:
    shares = allocate({"csv": (900, 100), "jpg": (90, 100), "txt": (10, 100)}, 12)
    assert sum(shares.values()) == 12
    assert shares["jpg"] >= 1 and shares["txt"] >= 1
    assert shares["csv"] == max(shares.values())


def test_budget_smaller_than_strata_goes_to_the_largest() -> None:
    shares = allocate({"a": (10, 5), "b": (30, 5), "c": (20, 5)}, 2)
    assert shares == {"a": 0, "b": 1, "c": 1}


def test_budget_never_exceeds_candidates_and_moves_what_is_left() -> None:
    shares = allocate({"big": (1000, 2), "small": (1, 50)}, 20)
    assert shares == {"big": 2, "small": 18}
    assert allocate({"a": (5, 3)}, 64) == {"a": 3}
    assert allocate({"empty": (0, 0)}, 8) == {"empty": 0} or allocate({"empty": (0, 0)}, 8) == {}


def test_objects_below_min_size_and_empty_ones_are_never_drawn() -> None:
    sampler = Sampler(budget=10, seed=1, min_size=100)
    for i in range(5):
        sampler.add(f"s{i}.txt", 99)
    sampler.add("zero.txt", 0)
    sampler.add("big.txt", 1000)
    [(stratum, drawn)] = sampler.plan()
    assert [c.name for c in drawn] == ["big.txt"]
    assert (stratum.objects, stratum.small_objects, stratum.small_bytes) == (7, 6, 5 * 99)


def test_the_draw_is_seeded_and_favours_large_objects() -> None:
    def draw(seed: int) -> list[str]:
        sampler = Sampler(budget=5, seed=seed, min_size=0)
        for i in range(200):
            sampler.add(f"o{i}.bin", 10_000 if i < 20 else 10)
        return [c.name for _s, drawn in sampler.plan() for c in drawn]

    assert draw(42) == draw(42)
    assert draw(42) != draw(43)
    picks = [name for seed in range(50) for name in draw(seed)]
    large = sum(1 for name in picks if int(name[1:].split(".")[0]) < 20)
    # the 20 large objects hold 99% of the bytes: nearly every draw picks them
    assert large / len(picks) > 0.9


def test_reading_every_object_projects_exactly() -> None:
    sampler = Sampler(budget=10, seed=0, min_size=10)
    for name, size in (("a.log", 100), ("b.log", 300), ("tiny.log", 5)):
        sampler.add(name, size)
    [(stratum, drawn)] = sampler.plan()
    fractions = {"a.log": 0.5, "b.log": 0.1}
    for candidate in drawn:
        read = candidate.size
        stratum.measured.append(
            Measured(candidate.name, candidate.size, read, round(read * fractions[candidate.name]), False, "")
        )
    assert stratum.projected(fallback=1.0) == 5 + 50 + 30


def _true_and_estimated(seed: int, budget: int) -> tuple[int, int, int]:
    """A stratum of 400 objects, sizes 1..400 KiB, where big objects compress 4x better than small ones."""
    sizes = {f"o{i}.dat": (i + 1) * 1024 for i in range(400)}

    def fraction(size: int) -> float:
        return 0.8 if size < 200 * 1024 else 0.2

    truth = sum(round(size * fraction(size)) for size in sizes.values())
    sampler = Sampler(budget=budget, seed=seed, min_size=0)
    for name, size in sizes.items():
        sampler.add(name, size)
    [(stratum, drawn)] = sampler.plan()
    for candidate in drawn:
        stored = round(candidate.size * fraction(candidate.size))
        stratum.measured.append(Measured(candidate.name, candidate.size, candidate.size, stored, False, ""))
    estimate = stratum.projected(fallback=1.0)
    measured = stratum.measured
    doubly_weighted = sum(m.fraction * m.size for m in measured) / sum(m.size for m in measured)
    return truth, estimate, round(doubly_weighted * stratum.bytes)


def test_projection_centres_on_the_truth_where_a_size_weighted_mean_does_not() -> None:
    runs = [_true_and_estimated(seed, budget=16) for seed in range(200)]
    truth = runs[0][0]
    ours = statistics.mean(run[1] for run in runs)
    theirs = statistics.mean(run[2] for run in runs)
    assert abs(ours - truth) / truth < 0.05, (ours, truth)
    assert abs(theirs - truth) / truth > 2 * abs(ours - truth) / truth, (theirs, ours, truth)


def test_measure_runs_the_real_codec() -> None:
    text = b"".join(b"GET /index.html 200 %d\n" % i for i in range(20_000))
    compressed = measure("a.log", len(text), text, Settings())
    assert not compressed.passthrough and compressed.stored < compressed.read / 4
    noise = os.urandom(1 << 16)
    random_bytes = measure("r.bin", len(noise), noise, Settings())
    assert random_bytes.passthrough and random_bytes.stored == random_bytes.read
    assert "entropy" in random_bytes.reason
    forced = measure("r.bin", len(noise), noise, Settings(codec="zstd"))
    assert not forced.passthrough and forced.read <= forced.stored < forced.read * 1.01
