"""S3 objects through boto3: PUT/GET/HEAD/DELETE, metadata, ranges, conditionals, copy, batch delete.

Also: the same objects through the AIS ``/v1`` API (official SDK) and ``/s3`` -- one store, two fronts.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import uuid
from typing import Any

import botocore.exceptions
import crc32c
import pytest
import requests
from aistore.sdk.errors import AISError

from . import test_s3_support as support
from .helpers import fast_client, raw_exact
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)
s3_server = pytest.fixture(scope="module", name="s3_server")(support.s3_server)


@pytest.fixture(scope="module")
def s3(s3_server: StrataServer) -> Any:
    return support.client(s3_server)


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    return support.new_bucket(s3, "objects")


def _fails(code: str, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    assert support.error_code(info.value) == code, info.value.response
    return info.value.response  # type: ignore[no-any-return]


def test_put_get_head_delete_roundtrip(s3: Any, bucket: str) -> None:
    data = b"hello, strata" * 1000
    put = s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=data)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'  # MD5 whatever the bucket checksum
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == len(data)
    assert got["ContentType"] == "binary/octet-stream"
    head = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]
    assert head["LastModified"].tzinfo is not None
    s3.delete_object(Bucket=bucket, Key="dir/obj.bin")
    _fails("NoSuchKey", s3.get_object, Bucket=bucket, Key="dir/obj.bin")
    _fails("404", s3.head_object, Bucket=bucket, Key="dir/obj.bin")
    s3.delete_object(Bucket=bucket, Key="dir/obj.bin")  # deleting a missing key is a 204 too


def test_large_object_streams_both_ways(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * (12 * 4096 + 3)  # ~12 MiB: sendfile on the way out
    s3.put_object(Bucket=bucket, Key="large", Body=data)
    assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == data


def test_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


def test_metadata_and_content_headers_are_kept(s3: Any, bucket: str) -> None:
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    s3.put_object(
        Bucket=bucket,
        Key="meta",
        Body=b"x",
        ContentType="text/plain; charset=utf-8",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="x.txt"',
        ContentLanguage="en",
        CacheControl="max-age=60",
        Expires=expires,
        Metadata={"color": "blue", "Mixed-Case": "v"},
    )
    head = s3.head_object(Bucket=bucket, Key="meta")
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["ContentEncoding"] == "identity"
    assert head["ContentDisposition"] == 'attachment; filename="x.txt"'
    assert head["ContentLanguage"] == "en"
    assert head["CacheControl"] == "max-age=60"
    assert head["Expires"] == expires
    assert head["Metadata"] == {"color": "blue", "mixed-case": "v"}


@pytest.fixture(scope="module")
def shared_bucket(s3: Any) -> str:
    """A bucket whose canned ACL lets anyone read and write: what an anonymous /v1 client may use while
    S3 users are configured (the /v1 front refuses what S3 would refuse)."""
    name = f"shared-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    return name


def test_unicode_user_metadata_round_trips(s3_server: StrataServer, s3: Any, shared_bucket: str) -> None:
    """UTF-8 metadata bytes (as sent by clients that allow them) come back byte for byte."""
    bucket = shared_bucket
    path = f"/s3/{bucket}/unicode-meta"
    value = "café ☕ 日本"
    headers = {"x-amz-meta-note": value.encode().decode("latin-1")}
    resp = support.raw_put(s3_server, path, b"u", headers, hashlib.sha256(b"u").hexdigest())
    assert resp.status_code == 200, resp.text
    head = s3.head_object(Bucket=bucket, Key="unicode-meta")
    assert head["Metadata"]["note"].encode("latin-1").decode() == value
    # the metadata lives in the object's custom metadata, visible through /v1 too
    attrs = fast_client(s3_server.endpoint).bucket(bucket).object("unicode-meta").head()
    assert attrs.custom_metadata["s3.m.note"].encode("latin-1").decode() == value  # requests reads Latin-1


def test_ranges_and_part_number(s3: Any, bucket: str) -> None:
    data = bytes(range(200))
    s3.put_object(Bucket=bucket, Key="ranged", Body=data)
    part = s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=10-19")
    assert part["Body"].read() == data[10:20]
    assert part["ContentRange"] == "bytes 10-19/200"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=190-")["Body"].read() == data[190:]
    assert s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=150-999")["Body"].read() == data[150:]
    response = _fails("InvalidRange", s3.get_object, Bucket=bucket, Key="ranged", Range="bytes=500-600")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 416
    # a single-part object is its own part 1
    whole = s3.get_object(Bucket=bucket, Key="ranged", PartNumber=1)
    assert whole["Body"].read() == data and whole["PartsCount"] == 1
    _fails("InvalidPartNumber", s3.get_object, Bucket=bucket, Key="ranged", PartNumber=2)


def test_response_header_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="override", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket,
        Key="override",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="de",
        ResponseContentEncoding="gzip",
        ResponseExpires=datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC),
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "de"
    assert got["ContentEncoding"] == "gzip"


def test_conditional_get(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="cond", Body=b"v1")["ETag"]
    head = s3.head_object(Bucket=bucket, Key="cond")
    modified = head["LastModified"]
    before = modified - datetime.timedelta(hours=1)
    after = modified + datetime.timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag)["Body"].read() == b"v1"
    _fails("PreconditionFailed", s3.get_object, Bucket=bucket, Key="cond", IfMatch='"nope"')
    _fails("304", s3.get_object, Bucket=bucket, Key="cond", IfNoneMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="cond", IfNoneMatch='"other"')["Body"].read() == b"v1"
    _fails("304", s3.get_object, Bucket=bucket, Key="cond", IfModifiedSince=after)
    assert s3.get_object(Bucket=bucket, Key="cond", IfModifiedSince=before)["Body"].read() == b"v1"
    _fails("PreconditionFailed", s3.get_object, Bucket=bucket, Key="cond", IfUnmodifiedSince=before)
    assert s3.get_object(Bucket=bucket, Key="cond", IfUnmodifiedSince=after)["Body"].read() == b"v1"
    # If-Match wins over a failing If-Unmodified-Since, If-None-Match over If-Modified-Since (RFC 7232)
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag, IfUnmodifiedSince=before)["ETag"] == etag
    _fails("304", s3.head_object, Bucket=bucket, Key="cond", IfNoneMatch=etag, IfModifiedSince=before)


def test_conditional_put_if_none_match(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    _fails("PreconditionFailed", s3.put_object, Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])  # CRC32C needs awscrt in botocore
def test_flexible_checksums_are_verified_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    key = f"ck-{algorithm}"
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"checksummed" * 100, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"]
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]
    assert got["Body"].read() == b"checksummed" * 100  # botocore validates the checksum as it reads


def test_crc32c_checksum(s3_server: StrataServer, s3: Any, bucket: str) -> None:
    body = b"crc32c body" * 50
    value = base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
    sha = hashlib.sha256(body).hexdigest()
    resp = support.raw_put(s3_server, f"/s3/{bucket}/crc32c", body, {"x-amz-checksum-crc32c": value}, sha)
    assert resp.status_code == 200 and resp.headers["x-amz-checksum-crc32c"] == value
    head = s3.head_object(Bucket=bucket, Key="crc32c", ChecksumMode="ENABLED")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-crc32c"] == value


def test_wrong_checksum_and_md5_are_bad_digests(s3_server: StrataServer, s3: Any, bucket: str) -> None:
    body = b"payload"
    sha = hashlib.sha256(body).hexdigest()
    wrong_crc = base64.b64encode(b"\0\0\0\0").decode()
    resp = support.raw_put(s3_server, f"/s3/{bucket}/bad-ck", body, {"x-amz-checksum-crc32": wrong_crc}, sha)
    assert resp.status_code == 400 and "<Code>BadDigest</Code>" in resp.text
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    resp = support.raw_put(s3_server, f"/s3/{bucket}/bad-md5", body, {"content-md5": wrong_md5}, sha)
    assert resp.status_code == 400 and "<Code>BadDigest</Code>" in resp.text
    resp = support.raw_put(s3_server, f"/s3/{bucket}/bad-md5", body, {"content-md5": "zz"}, sha)
    assert resp.status_code == 400 and "<Code>InvalidDigest</Code>" in resp.text
    _fails("NoSuchKey", s3.get_object, Bucket=bucket, Key="bad-ck")  # nothing was published
    good_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="good-md5", Body=body, ContentMD5=good_md5)


def test_copy_object_copy_and_replace(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/x-src", Metadata={"a": "1"})
    other = support.new_bucket(s3, "copy-dst")
    result = s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert result["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    head = s3.head_object(Bucket=other, Key="dst")
    assert head["ContentType"] == "text/x-src" and head["Metadata"] == {"a": "1"}
    s3.copy_object(
        Bucket=other,
        Key="dst2",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        ContentType="text/x-new",
        Metadata={"b": "2"},
    )
    head = s3.head_object(Bucket=other, Key="dst2")
    assert head["ContentType"] == "text/x-new" and head["Metadata"] == {"b": "2"}
    assert s3.get_object(Bucket=other, Key="dst2")["Body"].read() == b"copy me"
    # onto itself: only with REPLACE
    _fails("InvalidRequest", s3.copy_object, Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    s3.copy_object(
        Bucket=bucket, Key="src", CopySource=f"{bucket}/src", MetadataDirective="REPLACE", Metadata={"c": "3"}
    )
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"copy me"
    _fails("NoSuchKey", s3.copy_object, Bucket=other, Key="x", CopySource=f"{bucket}/missing")
    _fails("NoSuchBucket", s3.copy_object, Bucket=other, Key="x", CopySource="no-such-bucket-zz/k")


def test_conditional_copy(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="csrc", Body=b"c")["ETag"]
    s3.copy_object(Bucket=bucket, Key="c1", CopySource=f"{bucket}/csrc", CopySourceIfMatch=etag)
    _fails(
        "PreconditionFailed",
        s3.copy_object,
        Bucket=bucket,
        Key="c2",
        CopySource=f"{bucket}/csrc",
        CopySourceIfMatch='"nope"',
    )
    _fails(
        "PreconditionFailed",
        s3.copy_object,
        Bucket=bucket,
        Key="c3",
        CopySource=f"{bucket}/csrc",
        CopySourceIfNoneMatch=etag,
    )
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    _fails(
        "PreconditionFailed",
        s3.copy_object,
        Bucket=bucket,
        Key="c4",
        CopySource=f"{bucket}/csrc",
        CopySourceIfModifiedSince=future,
    )


def test_delete_objects_batch(s3: Any, bucket: str) -> None:
    keys = [f"batch/{i}" for i in range(30)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"b")
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in [*keys, "batch/missing"]]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted([*keys, "batch/missing"])
    assert not result.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="batch/")["KeyCount"] == 0
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x"}], "Quiet": True})
    assert not quiet.get("Deleted")


def test_same_objects_through_v1_and_s3(
    s3_server: StrataServer, s3: Any, bucket: str, shared_bucket: str
) -> None:
    with pytest.raises(AISError) as private:  # anonymous /v1 on a user's private bucket: as over S3
        fast_client(s3_server.endpoint).bucket(bucket).object("from-v1").get_writer().put_content(b"x")
    assert private.value.status_code == 403
    bucket = shared_bucket
    ais = fast_client(s3_server.endpoint).bucket(bucket)
    ais.object("from-v1").get_writer().put_content(b"written via /v1")
    assert s3.get_object(Bucket=bucket, Key="from-v1")["Body"].read() == b"written via /v1"
    s3.put_object(Bucket=bucket, Key="from-s3", Body=b"written via /s3", Metadata={"k": "v"})
    assert ais.object("from-s3").get_reader().read_all() == b"written via /s3"
    names = {e.name for e in ais.list_all_objects()}
    assert {"from-v1", "from-s3"} <= names
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"from-v1", "from-s3"} <= listed


def test_errors_are_s3_xml(s3_server: StrataServer, s3: Any, bucket: str) -> None:
    resp = requests.get(f"{s3_server.endpoint}/s3/{bucket}/missing", timeout=10)
    assert resp.status_code == 403  # anonymous, private bucket
    assert resp.headers["Content-Type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in resp.text and "<RequestId>" in resp.text
    _fails("NoSuchBucket", s3.get_object, Bucket="no-such-bucket-zz", Key="k")
    _fails("NoSuchBucket", s3.put_object, Bucket="no-such-bucket-zz", Key="k", Body=b"")
    _fails("NotImplemented", s3.get_object_tagging, Bucket=bucket, Key="k")
    status, _headers, body = raw_exact(s3_server.endpoint, "GET", f"/s3/{bucket}/a/../b")
    assert status == 400 and body.startswith(b"<?xml") and b"<Code>InvalidArgument</Code>" in body


def test_version_ids_name_the_current_version(s3: Any, bucket: str) -> None:
    """Only the latest version is kept: "null" (as ListObjectVersions shows it) names it."""
    s3.put_object(Bucket=bucket, Key="versioned", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="versioned", VersionId="null")["Body"].read() == b"v"
    _fails("NoSuchVersion", s3.get_object, Bucket=bucket, Key="versioned", VersionId="no-such-version")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "versioned", "VersionId": "null"}]})
    assert result["Deleted"] == [{"Key": "versioned", "VersionId": "null"}]
    _fails("NoSuchKey", s3.get_object, Bucket=bucket, Key="versioned")
