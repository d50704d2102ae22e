"""Remote buckets through a real Strata in front of a real S3 emulator (moto): the first wiring of
issue 11 -- a cloud bucket joins on first reference, a cold GET fills the cache, a warm GET reads it,
PUT and DELETE write through to the backend first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError
from aistore.sdk.list_object_flag import ListObjectFlag

from tests.integration.server import REPO_ROOT, StrataServer

from .emulators import MotoServer


def _cached_files(server: StrataServer, name: str) -> list[Path]:
    """The cached copies of ``name`` (a destroyed bucket's files wait in ``.trash``: gone already)."""
    found = server.data_dir.rglob(name)
    return [p for p in found if p.is_file() and "%ob" in p.parts and ".trash" not in p.parts]


def test_cold_get_fills_the_cache_and_a_warm_get_reads_it(moto: MotoServer, cache: StrataServer) -> None:
    s3 = moto.s3()
    name = f"cold-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    data = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=name, Key="dir/k", Body=data, Metadata={"team": "ml"})
    bucket = Client(cache.endpoint).bucket(name, provider="aws")
    head = requests.head(f"{cache.endpoint}/v1/objects/{name}/dir/k", params={"provider": "aws"}, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    assert not _cached_files(cache, "k")  # a HEAD does not fetch
    assert bucket.object("dir/k").get_reader(byte_range="bytes=10-19").read_all() == data[10:20]
    assert len(_cached_files(cache, "k")) == 1  # the cold GET stored the whole object
    props = bucket.object("dir/k").head()
    assert props.size == len(data)
    s3.put_object(Bucket=name, Key="big", Body=data * 6)  # ~19 MiB: streamed to us while stored
    assert bucket.object("big").get_reader().read_all() == data * 6
    deadline = time.monotonic() + 10  # the commit follows the last byte sent
    while not _cached_files(cache, "big") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.stat().st_size for p in _cached_files(cache, "big")] == [len(data) * 6]
    s3.put_object(Bucket=name, Key="dir/k", Body=b"changed behind the cache")
    assert bucket.object("dir/k").get_reader().read_all() == data  # warm: the cached copy
    s3.close()


def test_put_and_delete_write_through_to_the_backend(moto: MotoServer, cache: StrataServer) -> None:
    s3 = moto.s3()
    name = f"wt-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    bucket = Client(cache.endpoint).bucket(name, provider="aws")
    bucket.object("w").get_writer().put_content(b"written through")
    assert s3.get_object(Bucket=name, Key="w")["Body"].read() == b"written through"
    assert bucket.object("w").get_reader().read_all() == b"written through"
    bucket.object("w").delete()
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=name, Key="w")
    assert not _cached_files(cache, "w")
    s3.close()


def test_the_node_names_its_backends(cache: StrataServer) -> None:
    answer = requests.get(f"{cache.endpoint}/v1/cluster", params={"what": "backends"}, timeout=10)
    assert answer.status_code == 200 and answer.json() == ["aws", "azure", "gcp"]


def test_a_bucket_missing_in_the_backend_is_a_404(cache: StrataServer) -> None:
    missing = Client(cache.endpoint).bucket(f"nope-{uuid.uuid4().hex[:8]}", provider="aws")
    with pytest.raises(AISError) as info:
        missing.object("k").get_reader().read_all()
    assert info.value.status_code == 404


def test_listing_a_remote_bucket_pages_through_the_backend_and_marks_what_is_cached(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    name = f"ls-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for i in range(5):
        s3.put_object(Bucket=name, Key=f"o-{i}", Body=b"x" * (i + 1))
    bucket = Client(cache.endpoint).bucket(name, provider="aws")
    bucket.object("o-3").get_reader().read_all()  # cached now
    names, sizes, cached = [], [], []
    token = ""
    pages = 0
    while True:
        page = bucket.list_objects(props="name,size,cached", page_size=2, continuation_token=token)
        pages += 1
        for entry in page.entries:
            names.append(entry.name)
            sizes.append(entry.size)
            if entry.is_cached():
                cached.append(entry.name)
        token = page.continuation_token
        if not token:
            break
    assert names == [f"o-{i}" for i in range(5)] and sizes == [1, 2, 3, 4, 5]
    assert pages >= 3  # the backend's continuation tokens carried the listing across pages
    assert cached == ["o-3"]
    assert len(bucket.list_all_objects()) == 5  # the default: every name the backend has
    here = bucket.list_all_objects(flags=[ListObjectFlag.CACHED])  # only what is cached here
    assert [entry.name for entry in here] == ["o-3"]
    elsewhere = bucket.list_all_objects(flags=[ListObjectFlag.NOT_CACHED])  # only what is not
    assert [entry.name for entry in elsewhere] == ["o-0", "o-1", "o-2", "o-4"]
    s3.close()


def test_prefetch_by_template_and_evict_by_list(moto: MotoServer, cache: StrataServer) -> None:
    s3 = moto.s3()
    name = f"pf-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for i in range(6):
        s3.put_object(Bucket=name, Key=f"shard-{i:02d}", Body=bytes([i]) * 1000)
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    job_id = bucket.objects(obj_template="shard-{00..03}").prefetch()
    client.job(job_id).wait(timeout=60)
    cached = [e.name for e in bucket.list_all_objects(flags=[ListObjectFlag.CACHED])]
    assert cached == ["shard-00", "shard-01", "shard-02", "shard-03"]
    job_id = bucket.objects(obj_names=["shard-01", "shard-02"]).evict()
    client.job(job_id).wait(timeout=60)
    cached = [e.name for e in bucket.list_all_objects(flags=[ListObjectFlag.CACHED])]
    assert cached == ["shard-00", "shard-03"]
    assert s3.get_object(Bucket=name, Key="shard-02")["Body"].read() == bytes([2]) * 1000  # kept remotely
    job_id = bucket.objects(obj_template="shard-").prefetch()  # a prefix: the backend's listing
    client.job(job_id).wait(timeout=60)
    assert len(bucket.list_all_objects(flags=[ListObjectFlag.CACHED])) == 6
    s3.close()


def test_evict_remote_bucket_drops_the_cache_and_destroy_is_refused(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    name = f"ev-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"kept remotely")
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    assert bucket.object("k").get_reader().read_all() == b"kept remotely"
    refused = requests.delete(  # the SDK refuses it itself; the server must too
        f"{cache.endpoint}/v1/buckets/{name}",
        params={"provider": "aws"},
        json={"action": "destroy-bck"},
        timeout=10,
    )
    assert refused.status_code == 400 and "evict-remote-bck" in refused.text
    bucket.evict(keep_md=True)
    assert bucket.list_all_objects(flags=[ListObjectFlag.CACHED]) == []
    assert bucket.object("k").get_reader().read_all() == b"kept remotely"  # cold again
    bucket.evict(keep_md=False)
    assert not _cached_files(cache, "k")
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"kept remotely"
    s3.close()


def test_latest_version_and_synchronize_check_the_backend_on_a_warm_get(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    name = f"lv-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"first")
    url = f"{cache.endpoint}/v1/objects/{name}/k"
    assert requests.get(url, params={"provider": "aws"}, timeout=10).content == b"first"
    s3.put_object(Bucket=name, Key="k", Body=b"second, longer")
    assert requests.get(url, params={"provider": "aws"}, timeout=10).content == b"first"  # warm
    latest = requests.get(url, params={"provider": "aws", "latest-ver": "true"}, timeout=10)
    assert latest.content == b"second, longer"  # the backend changed: fetched again
    assert requests.get(url, params={"provider": "aws"}, timeout=10).content == b"second, longer"
    bucket = Client(cache.endpoint).bucket(name, provider="aws")
    bucket.make_request(
        "PATCH", "set-bprops", value={"versioning": {"validate_warm_get": True, "synchronize": True}}
    )
    s3.delete_object(Bucket=name, Key="k")
    gone = requests.get(url, params={"provider": "aws"}, timeout=10)
    assert gone.status_code == 404
    assert not _cached_files(cache, "k")  # synchronize: the cached copy went with the remote one
    s3.close()


def test_listing_buckets_of_a_cloud_provider_asks_the_backend_unless_only_present_ones_are_wanted(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    seen, unseen = f"seen-{uuid.uuid4().hex[:8]}", f"unseen-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=seen)
    s3.create_bucket(Bucket=unseen)
    client = Client(cache.endpoint)
    client.bucket(seen, provider="aws").list_all_objects()  # referenced once: in the BMD now
    everything = {bucket.name for bucket in client.cluster().list_buckets(provider="aws")}
    assert {seen, unseen} <= everything
    present = requests.get(
        f"{cache.endpoint}/v1/buckets", params={"provider": "aws", "presence": "2"}, timeout=10
    ).json()
    assert [bucket["name"] for bucket in present] == [seen]
    s3.close()


def test_an_ais_bucket_with_a_backend_bck_reads_and_writes_through_the_cloud_bucket(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    name = f"bb-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="from-cloud", Body=b"in the cloud bucket")
    client = Client(cache.endpoint)
    front = client.bucket(f"front-{name}").create()
    missing = {"backend_bck": {"name": f"missing-{name}", "provider": "aws"}}
    url = f"{cache.endpoint}/v1/buckets/{front.name}"
    unreachable = requests.patch(url, json={"action": "set-bprops", "value": missing}, timeout=30)
    assert unreachable.status_code == 404  # the named cloud bucket does not exist: an error now
    front.make_request("PATCH", "set-bprops", value={"backend_bck": {"name": name, "provider": "aws"}})
    assert front.object("from-cloud").get_reader().read_all() == b"in the cloud bucket"  # cold GET
    front.object("from-front").get_writer().put_content(b"written through the front")
    assert s3.get_object(Bucket=name, Key="from-front")["Body"].read() == b"written through the front"
    names = [entry.name for entry in front.list_all_objects()]
    assert names == ["from-cloud", "from-front"]
    s3.close()


def test_strata_ls_of_a_provider_shows_present_buckets_and_all_with_all(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    seen, unseen = f"cli-seen-{uuid.uuid4().hex[:6]}", f"cli-unseen-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=seen)
    s3.create_bucket(Bucket=unseen)
    Client(cache.endpoint).bucket(seen, provider="aws").list_all_objects()  # in the BMD now

    def ls(*args: str) -> str:
        command = [sys.executable, "-m", "strata", "--endpoint", cache.endpoint, "ls", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    present = ls("s3:")
    assert f"aws://{seen}" in present and unseen not in present
    everything = ls("s3://", "--all")
    assert f"aws://{seen}" in everything and f"aws://{unseen}" in everything
    s3.close()


def test_a_prefetch_started_by_name_brings_the_whole_remote_bucket(
    moto: MotoServer, cache: StrataServer
) -> None:
    s3 = moto.s3()
    name = f"pn-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for i in range(4):
        s3.put_object(Bucket=name, Key=f"all-{i}", Body=b"y" * 100)
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    job_id = client.job(job_kind="prefetch-listrange").start(buckets=[bucket])
    client.job(job_id).wait(timeout=60)
    assert len(bucket.list_all_objects(flags=[ListObjectFlag.CACHED])) == 4
    s3.close()
