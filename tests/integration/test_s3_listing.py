"""S3 buckets and listings through boto3 and s3fs: 2,500 keys over pages, delimiters, markers, versions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.exceptions
import pytest
import requests

from . import test_s3_support as support
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)
s3_server = pytest.fixture(scope="module", name="s3_server")(support.s3_server)
MANY = 2500


@pytest.fixture(scope="module")
def s3(s3_server: StrataServer) -> Any:
    return support.client(s3_server, max_pool_connections=16)


def _keys() -> list[str]:
    """2,500 keys: 25 "directories" of 99 files, 25 files at the top, and a few awkward names."""
    keys = [f"dir{d:02d}/file{f:03d}" for d in range(25) for f in range(99)]
    keys += [f"top{t:02d}" for t in range(21)]
    keys += ["sp ace/x", "plus+sign", "percent%25", "ünï/cødé"]
    assert len(keys) == MANY
    return sorted(keys)


@pytest.fixture(scope="module")
def big_bucket(s3: Any) -> str:
    name = support.new_bucket(s3, "list")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=name, Key=k, Body=k.encode()), _keys()))
    return name


def _code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return support.error_code(info.value)


def test_list_v2_pages_through_2500_keys(s3: Any, big_bucket: str) -> None:
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=big_bucket))
    assert len(pages) == 3 and [p["KeyCount"] for p in pages] == [1000, 1000, 500]
    assert pages[0]["IsTruncated"] and not pages[-1]["IsTruncated"]
    assert pages[1]["ContinuationToken"] == pages[0]["NextContinuationToken"]  # echoed
    keys = [o["Key"] for p in pages for o in p["Contents"]]
    assert keys == _keys()
    first = pages[0]["Contents"][0]
    assert first["Size"] == len(first["Key"].encode()) and first["ETag"].startswith('"')


def test_list_v1_pages_with_small_max_keys(s3: Any, big_bucket: str) -> None:
    pages = list(
        s3.get_paginator("list_objects").paginate(Bucket=big_bucket, PaginationConfig={"PageSize": 700})
    )
    assert [len(p["Contents"]) for p in pages] == [700, 700, 700, 400]
    assert [o["Key"] for p in pages for o in p["Contents"]] == _keys()
    assert pages[1]["Marker"] == pages[0]["Contents"][-1]["Key"]  # marker echoed


def test_delimiter_and_common_prefixes_over_pages(s3: Any, big_bucket: str) -> None:
    for operation in ("list_objects", "list_objects_v2"):
        pages = list(
            s3.get_paginator(operation).paginate(
                Bucket=big_bucket, Delimiter="/", PaginationConfig={"PageSize": 10}
            )
        )
        prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        assert prefixes == sorted({k.split("/")[0] + "/" for k in _keys() if "/" in k}), operation
        assert keys == [k for k in _keys() if "/" not in k], operation
    inside = s3.list_objects_v2(Bucket=big_bucket, Prefix="dir03/", Delimiter="/")
    assert inside["KeyCount"] == 99 and not inside.get("CommonPrefixes")
    partial = s3.list_objects_v2(Bucket=big_bucket, Prefix="dir0", Delimiter="/")
    assert [c["Prefix"] for c in partial["CommonPrefixes"]] == [f"dir0{d}/" for d in range(10)]


def test_other_delimiters(s3: Any, big_bucket: str) -> None:
    result = s3.list_objects_v2(Bucket=big_bucket, Delimiter="file0", Prefix="dir01/")
    assert [c["Prefix"] for c in result["CommonPrefixes"]] == ["dir01/file0"]
    assert not result.get("Contents")  # file000..file098 all roll up
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=big_bucket, Delimiter="r", PaginationConfig={"PageSize": 3}
        )
    )
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert prefixes == sorted({k[: k.index("r") + 1] for k in _keys() if "r" in k})


def test_start_after_prefix_and_max_keys(s3: Any, big_bucket: str) -> None:
    result = s3.list_objects_v2(Bucket=big_bucket, StartAfter="dir24/file097", MaxKeys=3)
    assert [o["Key"] for o in result["Contents"]] == ["dir24/file098", "percent%25", "plus+sign"]
    assert result["StartAfter"] == "dir24/file097" and result["IsTruncated"]
    assert s3.list_objects_v2(Bucket=big_bucket, Prefix="top", MaxKeys=0)["KeyCount"] == 0
    result = s3.list_objects(Bucket=big_bucket, Prefix="ü")
    assert [o["Key"] for o in result["Contents"]] == ["ünï/cødé"]


@pytest.mark.parametrize("value", ["-1", "abc", "99999999999"])
def test_invalid_max_keys_is_400(s3_server: StrataServer, big_bucket: str, value: str) -> None:
    host = s3_server.endpoint.removeprefix("http://")
    query = f"list-type=2&max-keys={value}"
    headers, *_ = support.sign_headers(
        "GET", f"/s3/{big_bucket}", host, {}, support.EMPTY_SHA256, query=query
    )
    resp = requests.get(f"{s3_server.endpoint}/s3/{big_bucket}?{query}", headers=headers, timeout=10)
    assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text


def test_encoding_type_url(s3_server: StrataServer, big_bucket: str) -> None:
    host = s3_server.endpoint.removeprefix("http://")
    query = "encoding-type=url&list-type=2&prefix=p"
    headers, *_ = support.sign_headers(
        "GET", f"/s3/{big_bucket}", host, {}, support.EMPTY_SHA256, query=query
    )
    resp = requests.get(f"{s3_server.endpoint}/s3/{big_bucket}?{query}", headers=headers, timeout=10)
    assert "<Key>percent%2525</Key>" in resp.text and "<Key>plus%2Bsign</Key>" in resp.text
    assert "<EncodingType>url</EncodingType>" in resp.text


def test_list_object_versions_pages(s3: Any, big_bucket: str) -> None:
    pages = list(
        s3.get_paginator("list_object_versions").paginate(
            Bucket=big_bucket, PaginationConfig={"PageSize": 900}
        )
    )
    versions = [v for p in pages for v in p.get("Versions", [])]
    assert [v["Key"] for v in versions] == _keys()
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions)
    assert pages[0]["NextKeyMarker"] == versions[899]["Key"] and pages[0]["NextVersionIdMarker"] == "null"


def test_bucket_lifecycle(s3: Any) -> None:
    name = support.new_bucket(s3, "life")
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    s3.put_object(Bucket=name, Key="k", Body=b"k")
    assert _code(s3.delete_bucket, Bucket=name) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    assert _code(s3.head_bucket, Bucket=name) == "404"
    assert _code(s3.delete_bucket, Bucket=name) == "NoSuchBucket"
    assert _code(s3.list_objects_v2, Bucket=name) == "NoSuchBucket"


@pytest.mark.parametrize("name", ["ab", "UpperCase", "under_score", "-lead", "a..b", "192.168.1.1"])
def test_invalid_bucket_names(s3_server: StrataServer, name: str) -> None:
    host = s3_server.endpoint.removeprefix("http://")
    headers, *_ = support.sign_headers("PUT", f"/s3/{name}", host, {}, support.EMPTY_SHA256)
    resp = requests.put(f"{s3_server.endpoint}/s3/{name}", headers=headers, timeout=10)
    assert resp.status_code == 400 and "<Code>InvalidBucketName</Code>" in resp.text


def test_s3fs_sees_the_same_tree(s3_server: StrataServer, s3: Any) -> None:
    s3fs = pytest.importorskip("s3fs")
    keys = support.USERS["alice"]
    fs = s3fs.S3FileSystem(
        key=keys["access_key"],
        secret=keys["secret_key"],
        client_kwargs={"endpoint_url": f"{s3_server.endpoint}/s3", "region_name": support.REGION},
        config_kwargs={"s3": {"addressing_style": "path"}},
        use_listings_cache=False,
    )
    name = support.new_bucket(s3, "fsspec")
    with fs.open(f"{name}/a/b/c.txt", "wb") as f:
        f.write(b"from s3fs")
    fs.pipe(f"{name}/a/d.txt", b"piped")
    assert fs.cat(f"{name}/a/b/c.txt") == b"from s3fs"
    assert sorted(fs.ls(f"{name}/a", detail=False)) == [f"{name}/a/b", f"{name}/a/d.txt"]
    assert sorted(fs.find(f"{name}/")) == [f"{name}/a/b/c.txt", f"{name}/a/d.txt"]
    assert fs.info(f"{name}/a/d.txt")["size"] == 5
    assert fs.isdir(f"{name}/a/b")
    fs.rm(f"{name}/a", recursive=True)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
