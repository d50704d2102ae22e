"""``presence`` on a remote bucket (wave-2 contract §2.4): "present" questions are answered from the
BMD and the local disks without asking the backend or adding the bucket; "exists" questions (the SDK's
``info()`` default) count the backend's objects too."""

from __future__ import annotations

import json
import time
import uuid

import requests
from aistore.sdk import Client
from aistore.sdk.list_object_flag import ListObjectFlag

from tests.integration.server import StrataServer

from .emulators import MotoServer


def _remote_bucket(moto: MotoServer, objects: int) -> str:
    s3 = moto.s3()
    name = f"pres-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for index in range(objects):
        s3.put_object(Bucket=name, Key=f"o{index}", Body=b"x" * (100 + index), Metadata={"team": "vision"})
    return name


def _in_bmd(cache: StrataServer, name: str) -> bool:
    listed = requests.get(
        f"{cache.endpoint}/v1/buckets", params={"provider": "aws", "presence": "2"}, timeout=10
    ).json()
    return any(bucket["name"] == name for bucket in listed)


def test_present_only_questions_neither_ask_the_backend_nor_add_the_bucket(
    moto: MotoServer, cache: StrataServer
) -> None:
    name = _remote_bucket(moto, 2)
    url = f"{cache.endpoint}/v1/buckets/{name}"
    for presence in ("2", "3", "4"):
        head = requests.head(url, params={"provider": "aws", "presence": presence}, timeout=10)
        assert head.status_code == 404, presence
    listing = requests.get(
        url,
        params={"provider": "aws"},
        json={"action": "list", "value": {"flags": str(1 << ListObjectFlag.BCK_PRESENT.value)}},
        timeout=10,
    )
    assert listing.status_code == 404
    obj = requests.head(
        f"{cache.endpoint}/v1/objects/{name}/o0", params={"provider": "aws", "presence": "2"}, timeout=10
    )
    assert obj.status_code == 404
    probe = requests.head(url, params={"provider": "aws", "dont_add_remote_bck_md": "true"}, timeout=10)
    assert probe.status_code == 200
    assert int(json.loads(probe.headers["Ais-Bucket-Props"])["bid"]) == 0  # not stored
    assert not _in_bmd(cache, name)
    missing = requests.head(
        f"{cache.endpoint}/v1/buckets/nope-{uuid.uuid4().hex[:6]}",
        params={"provider": "aws", "dont_add_remote_bck_md": "true"},
        timeout=10,
    )
    assert missing.status_code == 404
    # an ordinary HEAD adds it; then "present" finds it, and a not-cached object is still 404 there
    assert requests.head(url, params={"provider": "aws"}, timeout=10).status_code == 200
    assert _in_bmd(cache, name)
    assert requests.head(url, params={"provider": "aws", "presence": "2"}, timeout=10).status_code in (
        200,
        202,
    )
    obj_url = f"{cache.endpoint}/v1/objects/{name}/o0"
    assert requests.head(obj_url, params={"provider": "aws", "presence": "2"}, timeout=10).status_code == 404
    exists = requests.head(obj_url, params={"provider": "aws"}, timeout=10)
    assert exists.status_code == 200 and exists.headers["Ais-Present"] == "false"
    Client(cache.endpoint).bucket(name, provider="aws").object("o0").get_reader().read_all()
    deadline = time.monotonic() + 10  # the cold GET's commit follows the last byte sent
    while (
        present := requests.head(obj_url, params={"provider": "aws", "presence": "2"}, timeout=10)
    ).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert present.status_code == 200


def test_info_counts_the_backends_objects_and_the_cached_ones(moto: MotoServer, cache: StrataServer) -> None:
    name = _remote_bucket(moto, 5)
    bucket = Client(cache.endpoint).bucket(name, provider="aws")
    for index in (0, 1):
        bucket.object(f"o{index}").get_reader().read_all()
    _props, info = bucket.info()  # flt_presence "exists", bsumm_remote=True: the SDK's defaults
    assert info["ObjCount"] == {"obj_count_present": "2", "obj_count_remote": "5"}
    assert int(info["TotalSize"]["size_all_present_objs"]) == 100 + 101
    assert int(info["TotalSize"]["size_all_remote_objs"]) == sum(100 + i for i in range(5))
    _props, present = bucket.info(bsumm_remote=False)
    assert present["ObjCount"]["obj_count_remote"] == "0"
    summary = bucket.summary(cached=False)
    assert summary["ObjCount"]["obj_count_remote"] == "5"
    assert bucket.summary()["ObjCount"]["obj_count_remote"] == "0"


def test_custom_metadata_is_written_through(moto: MotoServer, cache: StrataServer) -> None:
    """The SDK's ``set_custom_props`` on a remote bucket: the backend's user metadata first (cached or
    not), then the cached copy with the backend's new facts."""
    name = _remote_bucket(moto, 2)
    s3 = moto.s3()
    bucket = Client(cache.endpoint).bucket(name, provider="aws")
    cached = bucket.object("o0")
    cached.get_reader().read_all()
    cached.get_writer().set_custom_props({"stage": "train"})
    assert s3.head_object(Bucket=name, Key="o0")["Metadata"] == {"team": "vision", "stage": "train"}
    assert cached.head().custom_metadata["stage"] == "train"
    cached.get_writer().set_custom_props({"only": "this"}, replace_existing=True)
    assert s3.head_object(Bucket=name, Key="o0")["Metadata"] == {"only": "this"}
    custom = cached.head().custom_metadata
    assert custom["only"] == "this" and "team" not in custom and custom["source"] == "aws"
    assert cached.get_reader().read_all() == b"x" * 100  # still the cached bytes (same version)
    bucket.object("o1").get_writer().set_custom_props({"label": "cat"})  # not cached: the backend only
    assert s3.head_object(Bucket=name, Key="o1")["Metadata"] == {"team": "vision", "label": "cat"}
