"""The S3 front on a cluster proxy, with boto3 (which does not follow redirects): 3 targets, 2 proxies.

Object requests are forwarded to their HRW owner, listings merged from every target, DeleteBucket
checks every target; the same objects are visible through ``/v1``.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from strata.cluster.devcluster import DevCluster
from strata.cluster.etcd import Etcd
from strata.cluster.etcd_store import EtcdMetaStore
from strata.config.cluster import update_cluster_config

USERS = {
    "alice": {"access_key": "AKIAALICE0000000", "secret_key": "alice-secret-key"},
    "bob": {"access_key": "AKIABOB000000000", "secret_key": "bob-secret-key"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(str(tmp_path_factory.mktemp("s3-cluster") / "cluster"), workers=1)
    try:
        dev.up(targets=3, proxies=2)
        yield dev
    finally:
        dev.down()


def proxies(cluster: DevCluster) -> list[str]:
    return sorted(p.url for p in cluster.procs.values() if p.role == "proxy" and p.alive())


def targets(cluster: DevCluster) -> list[str]:
    return sorted(p.url for p in cluster.procs.values() if p.role == "target" and p.alive())


def client(endpoint: str, user: str = "", secret: str = "") -> Any:
    keys = USERS.get(user, {"access_key": "anything", "secret_key": "anything"})
    return boto3.client(
        "s3",
        endpoint_url=f"{endpoint}/s3",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=secret or keys["secret_key"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, max_pool_connections=16),
    )


@pytest.fixture
def s3(cluster: DevCluster) -> Any:
    return client(cluster.endpoint)


def new_bucket(s3: Any) -> str:
    name = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def local_keys(target_url: str, bucket: str) -> list[str]:
    """What one target holds (it answers S3 from its own disks)."""
    s3 = client(target_url)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def test_objects_through_the_proxy(cluster: DevCluster, s3: Any) -> None:
    bucket = new_bucket(s3)
    bodies = {f"obj/{i:03d}": os.urandom(i * 37 % 5000) for i in range(60)}
    bodies["big"] = os.urandom(5 << 20)  # streamed both ways, never held by the proxy
    for key, body in bodies.items():
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="x/test", Metadata={"k": key})
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    # spread over the targets
    held = {url: local_keys(url, bucket) for url in targets(cluster)}
    assert sum(len(keys) for keys in held.values()) == len(bodies)
    assert all(held.values()), {url: len(keys) for url, keys in held.items()}
    # read back through either proxy
    other = client(proxies(cluster)[-1])
    for key, body in bodies.items():
        got = other.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ContentType"] == "x/test" and got["Metadata"] == {"k": key}
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == 5 << 20
    ranged = s3.get_object(Bucket=bucket, Key="big", Range="bytes=100-199")
    assert ranged["Body"].read() == bodies["big"][100:200]
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="nope")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code(missing) == "NoSuchKey"
    # the same objects through /v1 (the proxy redirects there)
    answer = requests.get(
        f"{cluster.endpoint}/v1/objects/{bucket}/obj/007", params={"provider": "ais"}, timeout=10
    )
    assert answer.status_code == 200 and answer.content == bodies["obj/007"]
    # deletes: one by one and in a batch spanning targets
    s3.delete_object(Bucket=bucket, Key="big")
    batch = [{"Key": f"obj/{i:03d}"} for i in range(30)] + [{"Key": "never-existed"}]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch})
    assert len(result["Deleted"]) == 31 and not result.get("Errors")
    left = s3.list_objects_v2(Bucket=bucket)
    assert [c["Key"] for c in left["Contents"]] == [f"obj/{i:03d}" for i in range(30, 60)]


def test_copy_object(cluster: DevCluster, s3: Any) -> None:
    """Copies are forwarded to the destination's owner, which pulls a source held by another target
    (bytes and metadata); the copy lands on the destination key's owner."""
    bucket = new_bucket(s3)
    for i in range(12):
        s3.put_object(Bucket=bucket, Key=f"src-{i}", Body=f"body {i}".encode(), Metadata={"tag": f"v,{i}"})
    for i in range(12):
        s3.copy_object(Bucket=bucket, Key=f"dst-{i}", CopySource={"Bucket": bucket, "Key": f"src-{i}"})
        got = s3.get_object(Bucket=bucket, Key=f"dst-{i}")
        assert got["Body"].read() == f"body {i}".encode()
        assert got["Metadata"] == {"tag": f"v,{i}"}  # kept exactly, commas included
        holders = [u for u in targets(cluster) if f"dst-{i}" in local_keys(u, bucket)]
        assert len(holders) == 1
    upload = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    source = {"Bucket": bucket, "Key": "src-7"}  # one part (the last may be small), from wherever src-7 is
    part = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload,
        PartNumber=1,
        CopySource=source,
        CopySourceRange="bytes=2-5",
    )
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]}
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload, MultipartUpload=parts)
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == b"dy 7"
    with pytest.raises(ClientError) as missing:
        s3.copy_object(Bucket=bucket, Key="dst-x", CopySource={"Bucket": bucket, "Key": "no-such-src"})
    assert code(missing) == "NoSuchKey"


def test_multipart_upload(s3: Any) -> None:
    bucket = new_bucket(s3)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp/object")["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp/object", upload)]
    parts_data = [os.urandom(5 << 20), os.urandom(5 << 20), b"tail"]
    parts = []
    for number, data in enumerate(parts_data, 1):
        etag = s3.upload_part(Bucket=bucket, Key="mp/object", UploadId=upload, PartNumber=number, Body=data)
        parts.append({"PartNumber": number, "ETag": etag["ETag"]})
    listed = s3.list_parts(Bucket=bucket, Key="mp/object", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp/object", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=bucket, Key="mp/object")["Body"].read() == b"".join(parts_data)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    # an aborted upload is gone
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp/aborted")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/aborted", UploadId=upload)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_listing_merges_every_target(cluster: DevCluster, s3: Any) -> None:
    bucket = new_bucket(s3)
    keys = sorted(
        [f"dir{d}/file-{i:03d}" for d in range(3) for i in range(90)] + [f"top-{i:02d}" for i in range(30)]
    )
    assert len(keys) == 300
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    # v2 with small pages
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 70})
    )
    assert [len(p.get("Contents", [])) for p in pages] == [70, 70, 70, 70, 20]
    listed = [c["Key"] for p in pages for c in p["Contents"]]
    assert listed == keys
    first = pages[0]["Contents"][0]
    assert (
        first["Size"] == len(first["Key"])
        and first["ETag"] == f'"{hashlib.md5(first["Key"].encode()).hexdigest()}"'
    )
    # v1 with markers
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 100}))
    assert [c["Key"] for p in pages for c in p["Contents"]] == keys
    # delimiter: 3 common prefixes + 30 keys, paged across the prefixes
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    top = [c["Key"] for p in pages for c in p.get("Contents", [])]
    assert prefixes == ["dir0/", "dir1/", "dir2/"]
    assert top == [f"top-{i:02d}" for i in range(30)]
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=4)
    assert v1["IsTruncated"] and v1["NextMarker"] == "top-00"
    assert [c["Prefix"] for c in v1["CommonPrefixes"]] == ["dir0/", "dir1/", "dir2/"]
    # prefix + delimiter other than "/"
    under = s3.list_objects_v2(Bucket=bucket, Prefix="dir1/", Delimiter="-")
    assert [c["Prefix"] for c in under["CommonPrefixes"]] == ["dir1/file-"]
    # versions, paged
    pages = list(
        s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 128})
    )
    assert [v["Key"] for p in pages for v in p["Versions"]] == keys
    # url encoding survives the merge
    s3.put_object(Bucket=bucket, Key="top-zz ünï", Body=b"x")
    encoded = s3.list_objects_v2(Bucket=bucket, Prefix="top-z", EncodingType="url")  # boto3 leaves it encoded
    assert [c["Key"] for c in encoded["Contents"]] == ["top-zz%20%C3%BCn%C3%AF"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix="top-z")["Contents"]] == ["top-zz ünï"]
    # errors from the targets come through as they are
    with pytest.raises(ClientError) as bad:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert code(bad) == "InvalidArgument"
    with pytest.raises(ClientError) as gone:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert code(gone) == "NoSuchBucket"


def test_bucket_operations(cluster: DevCluster, s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.head_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    other = client(proxies(cluster)[-1])
    assert other.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"  # shared through etcd
    s3.put_object(Bucket=bucket, Key="only-one", Body=b"x")
    with pytest.raises(ClientError) as busy:
        s3.delete_bucket(Bucket=bucket)
    assert code(busy) == "BucketNotEmpty"
    s3.delete_object(Bucket=bucket, Key="only-one")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket=bucket)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_signatures_and_owners_across_nodes(cluster: DevCluster) -> None:
    answer = requests.put(
        f"{cluster.endpoint}/v1/cluster",
        json={"action": "set-config", "value": {"s3": {"users": USERS}}},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    alice, bob = client(cluster.endpoint, "alice"), client(proxies(cluster)[-1], "bob")
    try:
        deadline = time.monotonic() + 10
        while True:  # every node picks up the config from etcd
            try:
                client(cluster.endpoint).list_buckets()
            except ClientError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        bucket = new_bucket(alice)
        data = os.urandom(300_000)
        for i in range(10):  # verified again by each owner target (aws-chunked bodies included)
            alice.put_object(Bucket=bucket, Key=f"k{i}", Body=data)
            assert alice.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == data
        url = alice.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k3"}, ExpiresIn=60)
        assert requests.get(url, timeout=10).content == data
        # bob, through the other proxy, may not touch alice's bucket: its owner is known everywhere
        with pytest.raises(ClientError) as denied:
            bob.put_object(Bucket=bucket, Key="k0", Body=b"mine")
        assert code(denied) == "AccessDenied"
        with pytest.raises(ClientError) as denied:
            bob.list_objects_v2(Bucket=bucket)
        assert code(denied) == "AccessDenied"
        forged = client(cluster.endpoint, "alice", secret="wrong-secret")
        with pytest.raises(ClientError) as bad:
            forged.get_object(Bucket=bucket, Key="k0")
        assert code(bad) == "SignatureDoesNotMatch"
        assert len(alice.list_objects_v2(Bucket=bucket)["Contents"]) == 10
    finally:
        # with S3 users and no token auth, /v1 refuses an anonymous set-config (it would be a way
        # around the users): the operator changes the config in etcd
        refused = requests.put(
            f"{cluster.endpoint}/v1/cluster",
            json={"action": "set-config", "value": {"s3": {"users": {}}}},
            timeout=10,
        )
        store = EtcdMetaStore(Etcd([cluster.etcd_url]), "strata").start(watch=False)
        store.update_config(lambda cfg: update_cluster_config(cfg, {"s3": {"users": {}}}))
        assert refused.status_code == 403, refused.text


def test_target_down_is_503(tmp_path: Path) -> None:
    dev = DevCluster(str(tmp_path / "cluster"), workers=1)
    try:
        dev.up(targets=2, proxies=1)
        s3 = client(dev.endpoint)
        bucket = new_bucket(s3)
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        victim = next(name for name, p in dev.procs.items() if p.role == "target")
        dev.kill(victim)
        # until the map drops the dead target, requests it owns answer 503 (boto3 would retry)
        statuses = set()
        for i in range(20):
            try:
                s3.put_object(Bucket=bucket, Key=f"after-{i}", Body=b"y")
                statuses.add(200)
            except ClientError as exc:
                statuses.add(exc.response["ResponseMetadata"]["HTTPStatusCode"])
        assert statuses <= {200, 503}
    finally:
        dev.down()


def test_reads_during_a_rebalance_find_objects_not_moved_yet(cluster: DevCluster, s3: Any) -> None:
    """A new target owns keys it has not received yet: the proxy asks the neighbour that holds them."""
    bucket = new_bucket(s3)
    for i in range(60):
        s3.put_object(Bucket=bucket, Key=f"k{i:02d}", Body=f"v{i}".encode())
    cluster.add_node("target")
    cluster.wait_for_map(targets=4)
    for i in range(60):  # straight away, while the rebalance may still be moving them
        assert s3.get_object(Bucket=bucket, Key=f"k{i:02d}")["Body"].read() == f"v{i}".encode()
        assert s3.head_object(Bucket=bucket, Key=f"k{i:02d}")["ContentLength"] == len(f"v{i}")
