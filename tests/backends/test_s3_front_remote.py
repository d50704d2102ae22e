"""Remote buckets through Strata's S3 front: boto3 and s3fs against Strata in front of moto. A cloud
bucket in the BMD answers to its plain name on ``/s3``: cold and warm GETs, HEAD of objects not cached,
listings that are the backend's (with delimiters and continuation tokens), PUT (also multipart) and
DELETE written through, user metadata carried both ways."""

from __future__ import annotations

import io
import os
import uuid
from typing import Any

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.integration.compression_support import s3_client
from tests.integration.server import StrataServer

from .emulators import MotoServer


def _known_remote_bucket(moto: MotoServer, cache: StrataServer, keys: dict[str, bytes]) -> str:
    """A bucket in the emulator, referenced once through ``/v1`` (so it is in Strata's BMD)."""
    s3 = moto.s3()
    name = f"s3f-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for key, data in keys.items():
        s3.put_object(Bucket=name, Key=key, Body=data, Metadata={"team": "vision"})
    head = requests.head(f"{cache.endpoint}/v1/buckets/{name}", params={"provider": "aws"}, timeout=10)
    assert head.status_code == 200
    return name


def _list_all(client: Any, bucket: str, **kwargs: Any) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kwargs):
        pages += 1
        keys += [item["Key"] for item in page.get("Contents", [])]
        prefixes += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
    return keys, prefixes, pages


def test_reads_and_listings_of_a_remote_bucket_through_s3(moto: MotoServer, cache: StrataServer) -> None:
    keys = {f"img/{i:03d}.jpg": os.urandom(1000 + i) for i in range(7)}
    keys |= {"labels.csv": b"a,b\n1,2\n", "meta/x.json": b"{}", "meta/y.json": b"[]"}
    name = _known_remote_bucket(moto, cache, keys)
    client = s3_client(cache.endpoint)
    assert name in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]
    # HEAD of an object not cached: the backend's size, ETag and user metadata
    head = client.head_object(Bucket=name, Key="img/003.jpg")
    assert head["ContentLength"] == len(keys["img/003.jpg"]) and head["Metadata"] == {"team": "vision"}
    # listings are the backend's: all keys over pages, and with a delimiter
    listed, _prefixes, pages = _list_all(client, name, PaginationConfig={"PageSize": 3})
    assert listed == sorted(keys) and pages == 4
    top, prefixes, _pages = _list_all(client, name, Delimiter="/", PaginationConfig={"PageSize": 1})
    assert top == ["labels.csv"] and prefixes == ["img/", "meta/"]
    # (moto, with its auth on, refuses any signed listing whose prefix holds a "/": none here)
    v1 = client.list_objects(Bucket=name, Prefix="img", Marker="img/004.jpg")
    assert [item["Key"] for item in v1["Contents"]] == ["img/005.jpg", "img/006.jpg"]
    # cold GET (streamed while stored), ranged cold GET, then warm
    got = client.get_object(Bucket=name, Key="img/000.jpg")
    assert got["Body"].read() == keys["img/000.jpg"] and got["Metadata"] == {"team": "vision"}
    ranged = client.get_object(Bucket=name, Key="img/001.jpg", Range="bytes=10-19")["Body"].read()
    assert ranged == keys["img/001.jpg"][10:20]
    moto.s3().put_object(Bucket=name, Key="img/000.jpg", Body=b"changed behind the cache")
    assert client.get_object(Bucket=name, Key="img/000.jpg")["Body"].read() == keys["img/000.jpg"]
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket=name, Key="img/999.jpg")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_writes_to_a_remote_bucket_through_s3_reach_the_backend(
    moto: MotoServer, cache: StrataServer
) -> None:
    name = _known_remote_bucket(moto, cache, {"old": b"old"})
    client, backend = s3_client(cache.endpoint), moto.s3()
    client.put_object(Bucket=name, Key="new.txt", Body=b"written through", Metadata={"owner": "ml"})
    stored = backend.get_object(Bucket=name, Key="new.txt")
    assert stored["Body"].read() == b"written through" and stored["Metadata"] == {"owner": "ml"}
    assert client.head_object(Bucket=name, Key="new.txt")["Metadata"] == {"owner": "ml"}
    big = os.urandom(12 * 1024 * 1024)
    small_parts = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    client.upload_fileobj(io.BytesIO(big), name, "big.bin", Config=small_parts)
    assert backend.get_object(Bucket=name, Key="big.bin")["Body"].read() == big
    assert client.get_object(Bucket=name, Key="big.bin")["Body"].read() == big
    client.delete_object(Bucket=name, Key="new.txt")
    with pytest.raises(ClientError):
        backend.head_object(Bucket=name, Key="new.txt")
    deleted = client.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "old"}, {"Key": "big.bin"}]})
    assert sorted(item["Key"] for item in deleted["Deleted"]) == ["big.bin", "old"]
    assert backend.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0
    assert client.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0


def test_s3fs_and_an_unknown_name(moto: MotoServer, cache: StrataServer) -> None:
    import s3fs

    name = _known_remote_bucket(moto, cache, {"data/part-0.csv": b"x,y\n1,2\n"})
    fs = s3fs.S3FileSystem(
        key="k",
        secret="s",
        client_kwargs={"endpoint_url": f"{cache.endpoint}/s3", "region_name": "us-east-1"},
    )
    assert fs.ls(name) == [f"{name}/data"]  # (a listing of "data/" would meet moto's "/"-prefix bug)
    assert fs.find(name) == [f"{name}/data/part-0.csv"]
    assert fs.cat(f"{name}/data/part-0.csv") == b"x,y\n1,2\n"
    with pytest.raises(ClientError) as unknown:
        s3_client(cache.endpoint).list_objects_v2(Bucket=f"never-{uuid.uuid4().hex[:6]}")
    assert unknown.value.response["Error"]["Code"] == "NoSuchBucket"
