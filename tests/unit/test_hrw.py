"""HRW must agree with AIStore (test vectors) and with the official SDK's own placement code."""

from __future__ import annotations

import random

from aistore.sdk.types import Smap as SdkSmap
from aistore.sdk.utils import get_digest, xoshiro256_hash

from strata.core.hrw import MASK64, digest, pick, scramble, uname
from strata.core.names import BucketRef
from strata.storage.mountpaths import Mountpaths


def test_scramble_matches_aistore_test_vectors() -> None:
    assert scramble(0) == 1905207664160064169
    assert scramble(4573842) == 5026071747115404967
    assert scramble(MASK64) == 10227601306713020730


def test_scramble_and_digest_match_the_sdk() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        x = rng.getrandbits(64)
        assert scramble(x) == xoshiro256_hash(x)
    for name in ["", "a", "ais/@#/bucket/object", "ünïcode/päth", "x" * 1000]:
        assert digest(name) == get_digest(name)


def _sdk_smap(ids: list[str]) -> SdkSmap:
    def node(i: str, kind: str) -> dict[str, object]:
        net = {"node_hostname": "h", "daemon_port": "1", "direct_url": f"http://{i}"}
        return {"daemon_id": i, "daemon_type": kind, "public_net": net, "flags": 0, "id_digest": digest(i)}

    return SdkSmap(
        tmap={i: node(i, "target") for i in ids},
        pmap={"p1": node("p1", "proxy")},
        proxy_si=node("p1", "proxy"),
    )


def test_target_choice_matches_sdk_for_many_names() -> None:
    ids = ["tKrNwLQa", "TQnVqGzb", "xYz12345", "abcdEFGH", "t5"]
    sdk = _sdk_smap(ids)
    bck = BucketRef.parse("images")
    for n in range(3000):
        name = f"shard-{n:05d}.tar"
        expected = sdk.get_target_for_object(bck.object_uname(name)).daemon_id
        assert pick(((digest(i), i) for i in ids), digest(uname("ais", "@#", "images", name))) == expected


def test_pick_spreads_evenly_and_is_stable() -> None:
    candidates = [(digest(f"/mnt/disk{i}"), i) for i in range(4)]
    counts = [0] * 4
    for n in range(8000):
        chosen = pick(candidates, digest(f"ais/@#/b/obj-{n}"))
        assert chosen is not None
        counts[chosen] += 1
        assert pick(list(reversed(candidates)), digest(f"ais/@#/b/obj-{n}")) == chosen
    assert min(counts) > 1600, counts


def test_pick_with_no_candidates() -> None:
    assert pick([], 1) is None


def test_mountpath_choice_is_hrw_over_path_digests(tmp_path: object) -> None:
    roots = [f"{tmp_path}/mp{i}" for i in range(3)]
    mps = Mountpaths(roots)
    bck = BucketRef.parse("b")
    for n in range(200):
        name = f"o{n}"
        best = max(mps.all, key=lambda m: scramble(m.digest ^ digest(f"ais/@#/b/{name}")))
        assert mps.for_object(bck, name) is best
