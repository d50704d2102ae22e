"""``strata prefetch`` and ``strata evict`` as a person runs them, against a real Strata in front of moto:
by list, template and prefix, each following its job to the end with a meter; the whole-bucket evict."""

from __future__ import annotations

import uuid

from aistore.sdk import Client
from aistore.sdk.list_object_flag import ListObjectFlag

from tests.integration.server import StrataServer

from .emulators import MotoServer
from .test_download_cli import strata


def _cached(node: StrataServer, bucket: str) -> list[str]:
    listed = (
        Client(node.endpoint).bucket(bucket, provider="aws").list_all_objects(flags=[ListObjectFlag.CACHED])
    )
    return sorted(entry.name for entry in listed)


def test_prefetch_and_evict_verbs(moto: MotoServer, cache: StrataServer) -> None:
    s3 = moto.s3()
    name = f"clicache-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for index in range(6):
        s3.put_object(Bucket=name, Key=f"shard-{index:02d}.tar", Body=b"t" * (1000 + index))
    s3.put_object(Bucket=name, Key="labels/a.csv", Body=b"a,b\n")
    bucket = f"s3://{name}"

    done = strata(cache, "prefetch", bucket, "--template", "shard-{00..02}.tar", "--progress")
    assert done.returncode == 0, done.stderr
    assert f"prefetch {bucket}: 3 objects" in done.stdout and "PREFETCH" in done.stderr
    assert _cached(cache, name) == ["shard-00.tar", "shard-01.tar", "shard-02.tar"]

    done = strata(cache, "prefetch", bucket, "--list", "shard-04.tar,labels/a.csv")
    assert done.returncode == 0, done.stderr
    done = strata(cache, "prefetch", f"{bucket}/shard-05")  # a prefix
    assert done.returncode == 0, done.stderr
    assert len(_cached(cache, name)) == 6

    done = strata(cache, "evict", bucket, "--template", "shard-{00..01}.tar")
    assert done.returncode == 0 and f"evict {bucket}: " in done.stdout, done.stderr
    assert _cached(cache, name) == ["labels/a.csv", "shard-02.tar", "shard-04.tar", "shard-05.tar"]

    queued = strata(cache, "prefetch", bucket, "--no-wait")
    assert queued.returncode == 0 and queued.stdout.strip(), queued.stderr
    Client(cache.endpoint).job(queued.stdout.strip()).wait(timeout=60)
    assert len(_cached(cache, name)) == 7

    done = strata(cache, "evict", bucket, "--keep-md")
    assert done.returncode == 0 and "kept" in done.stdout, done.stderr
    assert _cached(cache, name) == []
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 7  # the backend keeps everything


def test_bad_use_is_a_clear_error(cache: StrataServer) -> None:
    plain = strata(cache, "prefetch", "ais://local")
    assert plain.returncode != 0 and "remote bucket" in plain.stderr
    both = strata(cache, "evict", "s3://x", "--list", "a", "--template", "b{0..1}")
    assert both.returncode != 0 and "not both" in both.stderr
    keep = strata(cache, "evict", "s3://x/prefix", "--keep-md")
    assert keep.returncode != 0 and "whole bucket" in keep.stderr
