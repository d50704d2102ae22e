"""S3 authentication and access: SigV4 headers, presigned URLs, aws-chunked bodies, users and owners."""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import socket
import time
import zlib
from typing import Any

import boto3
import botocore.exceptions
import pytest
import requests
from botocore.config import Config

from . import test_s3_support as support
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)
s3_server = pytest.fixture(scope="module", name="s3_server")(support.s3_server)


@pytest.fixture(scope="module")
def alice(s3_server: StrataServer) -> Any:
    return support.client(s3_server, "alice")


@pytest.fixture(scope="module")
def bucket(alice: Any) -> str:
    name = support.new_bucket(alice, "auth")
    alice.put_object(Bucket=name, Key="obj", Body=b"secret data")
    return name


def _code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    return support.error_code(info.value)


def _client_with(server: StrataServer, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"{server.endpoint}/s3",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=support.REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_wrong_secret_and_unknown_key(s3_server: StrataServer, bucket: str) -> None:
    wrong = _client_with(s3_server, support.USERS["alice"]["access_key"], "not-the-secret")
    assert _code(wrong.get_object, Bucket=bucket, Key="obj") == "SignatureDoesNotMatch"
    assert _code(wrong.put_object, Bucket=bucket, Key="x", Body=b"x") == "SignatureDoesNotMatch"
    unknown = _client_with(s3_server, "AKIAUNKNOWN", "whatever")
    assert _code(unknown.list_buckets) == "InvalidAccessKeyId"


def test_anonymous_requests_are_denied(s3_server: StrataServer, bucket: str) -> None:
    for method, path in [("GET", "/s3/"), ("GET", f"/s3/{bucket}"), ("GET", f"/s3/{bucket}/obj")]:
        resp = requests.request(method, s3_server.endpoint + path, timeout=10)
        assert resp.status_code == 403 and "<Code>AccessDenied</Code>" in resp.text
    resp = requests.put(f"{s3_server.endpoint}/s3/{bucket}/anon", data=b"x", timeout=10)
    assert resp.status_code == 403


def test_tampered_payload_is_refused(s3_server: StrataServer, bucket: str) -> None:
    claimed = hashlib.sha256(b"the real body").hexdigest()
    resp = support.raw_put(s3_server, f"/s3/{bucket}/tampered", b"another body", {}, claimed)
    assert resp.status_code == 400 and "XAmzContentSHA256Mismatch" in resp.text


def test_skewed_clock_is_refused(s3_server: StrataServer, bucket: str) -> None:
    host = s3_server.endpoint.removeprefix("http://")
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    headers, *_ = support.sign_headers("GET", f"/s3/{bucket}/obj", host, {}, support.EMPTY_SHA256, when=old)
    resp = requests.get(f"{s3_server.endpoint}/s3/{bucket}/obj", headers=headers, timeout=10)
    assert resp.status_code == 403 and "RequestTimeTooSkewed" in resp.text


def test_signature_v2_headers(s3_server: StrataServer, bucket: str) -> None:
    v2 = support.client(s3_server, signature_version="s3")
    assert v2.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"secret data"
    v2.put_object(Bucket=bucket, Key="v2-put", Body=b"v2")
    key = support.USERS["alice"]["access_key"]
    date = email.utils.formatdate(usegmt=True)
    resp = requests.get(
        f"{s3_server.endpoint}/s3/{bucket}/obj",
        headers={"Authorization": f"AWS {key}:abc", "Date": date},
        timeout=10,
    )
    assert resp.status_code == 403 and "SignatureDoesNotMatch" in resp.text


def test_presigned_get_and_put(s3_server: StrataServer, alice: Any, bucket: str) -> None:
    url = alice.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=60)
    assert requests.get(url, timeout=10).content == b"secret data"
    put_url = alice.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "presigned-put"}, ExpiresIn=60
    )
    assert requests.put(put_url, data=b"via presigned", timeout=10).status_code == 200
    assert alice.get_object(Bucket=bucket, Key="presigned-put")["Body"].read() == b"via presigned"
    # the signature covers the key: the same query on another key does not verify
    other = url.replace("/obj?", "/presigned-put?")
    resp = requests.get(other, timeout=10)
    assert resp.status_code == 403 and "SignatureDoesNotMatch" in resp.text


def test_presigned_url_sigv4(s3_server: StrataServer, bucket: str) -> None:
    v4 = support.client(s3_server, signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    assert requests.get(url, timeout=10).content == b"secret data"
    put_url = v4.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "v4-put"}, ExpiresIn=60
    )
    assert requests.put(put_url, data=b"v4", timeout=10).status_code == 200
    resp = requests.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10)
    assert resp.status_code == 403 and "SignatureDoesNotMatch" in resp.text


@pytest.mark.parametrize("version", ["s3", "s3v4"])
def test_presigned_url_expires(s3_server: StrataServer, bucket: str, version: str) -> None:
    alice = support.client(s3_server, signature_version=version)
    url = alice.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=1)
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(2.1)
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 403 and "Request has expired" in resp.text


def test_presigned_url_expiry_is_bounded(s3_server: StrataServer, bucket: str) -> None:
    alice = support.client(s3_server, signature_version="s3v4")
    too_long = alice.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=8 * 24 * 3600
    )
    resp = requests.get(too_long, timeout=10)
    assert resp.status_code == 400 and "AuthorizationQueryParametersError" in resp.text


def test_aws_chunked_signed_upload(s3_server: StrataServer, alice: Any, bucket: str) -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes in 64 KiB chunks
    host = s3_server.endpoint.removeprefix("http://")
    path = f"/s3/{bucket}/chunked-signed"
    extra = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    for tamper in (True, False):
        headers, key, date_scope, seed = support.sign_headers(
            "PUT", path, host, extra, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        )
        body = support.aws_chunked_signed(data, 65536, key, date_scope, seed, tamper=tamper)
        resp = requests.put(s3_server.endpoint + path, data=body, headers=headers, timeout=30)
        if tamper:
            assert resp.status_code == 403 and "SignatureDoesNotMatch" in resp.text
            assert _code(alice.head_object, Bucket=bucket, Key="chunked-signed") == "404"
        else:
            assert resp.status_code == 200, resp.text
            assert resp.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert alice.get_object(Bucket=bucket, Key="chunked-signed")["Body"].read() == data


def test_unsigned_payload_with_trailing_checksum(s3_server: StrataServer, alice: Any, bucket: str) -> None:
    """What current boto3 sends over HTTPS: aws-chunked, unsigned, CRC32 in the trailer."""
    data = b"trailer checked " * 5000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }
    payload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    ok = support.aws_chunked_unsigned(data, 8192, {"x-amz-checksum-crc32": crc})
    resp = support.raw_put(s3_server, f"/s3/{bucket}/trailer", ok, headers, payload)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-amz-checksum-crc32"] == crc
    got = alice.get_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumCRC32"] == crc
    bad = support.aws_chunked_unsigned(data, 8192, {"x-amz-checksum-crc32": "AAAAAA=="})
    resp = support.raw_put(s3_server, f"/s3/{bucket}/trailer-bad", bad, headers, payload)
    assert resp.status_code == 400 and "BadDigest" in resp.text
    truncated = ok[: len(ok) // 2]
    headers["content-length"] = str(len(truncated))
    resp = support.raw_put(s3_server, f"/s3/{bucket}/trailer-short", truncated, headers, payload)
    assert resp.status_code == 400 and "IncompleteBody" in resp.text


def test_bad_signature_is_answered_before_the_body(s3_server: StrataServer, bucket: str) -> None:
    """With ``Expect: 100-continue`` a refused upload never has to be sent."""
    host = s3_server.endpoint.removeprefix("http://")
    path = f"/s3/{bucket}/expect"
    headers, *_ = support.sign_headers("PUT", path, host, {}, "UNSIGNED-PAYLOAD", user="alice")
    headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    lines = [f"PUT {path} HTTP/1.1", "Content-Length: 10000000", "Expect: 100-continue"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", s3_server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = sock.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 403") and "SignatureDoesNotMatch" in reply


def test_second_user_cannot_touch_first_users_bucket(
    s3_server: StrataServer, alice: Any, bucket: str
) -> None:
    bob = support.client(s3_server, "bob")
    assert _code(bob.get_object, Bucket=bucket, Key="obj") == "AccessDenied"
    assert _code(bob.put_object, Bucket=bucket, Key="bob", Body=b"b") == "AccessDenied"
    assert _code(bob.delete_object, Bucket=bucket, Key="obj") == "AccessDenied"
    assert _code(bob.list_objects_v2, Bucket=bucket) == "AccessDenied"
    assert _code(bob.delete_bucket, Bucket=bucket) == "AccessDenied"
    assert _code(bob.create_bucket, Bucket=bucket) == "BucketAlreadyExists"
    assert _code(alice.create_bucket, Bucket=bucket) == "BucketAlreadyOwnedByYou"
    assert bucket not in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    assert bucket in [b["Name"] for b in alice.list_buckets()["Buckets"]]
    # bob's own bucket is his; the admin sees and may touch everything
    mine = support.new_bucket(bob, "bobs")
    assert _code(alice.put_object, Bucket=mine, Key="x", Body=b"x") == "AccessDenied"
    root = support.client(s3_server, "root")
    names = [b["Name"] for b in root.list_buckets()["Buckets"]]
    assert bucket in names and mine in names
    assert root.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"secret data"


def test_public_read_acl_allows_anonymous_reads_only(s3_server: StrataServer, alice: Any) -> None:
    name = support.new_bucket(alice, "public")
    alice.put_object(Bucket=name, Key="pub", Body=b"for everyone")
    assert requests.get(f"{s3_server.endpoint}/s3/{name}/pub", timeout=10).status_code == 403
    alice.put_bucket_acl(Bucket=name, ACL="public-read")
    grants = alice.get_bucket_acl(Bucket=name)["Grants"]
    assert any(g["Permission"] == "READ" and "AllUsers" in g["Grantee"].get("URI", "") for g in grants)
    assert requests.get(f"{s3_server.endpoint}/s3/{name}/pub", timeout=10).content == b"for everyone"
    listing = requests.get(f"{s3_server.endpoint}/s3/{name}?list-type=2", timeout=10)
    assert listing.status_code == 200 and "<Key>pub</Key>" in listing.text
    resp = requests.put(f"{s3_server.endpoint}/s3/{name}/anon", data=b"x", timeout=10)
    assert resp.status_code == 403
    bob = support.client(s3_server, "bob")
    assert bob.get_object(Bucket=name, Key="pub")["Body"].read() == b"for everyone"
    assert _code(bob.put_object, Bucket=name, Key="bob", Body=b"x") == "AccessDenied"
    assert _code(bob.put_bucket_acl, Bucket=name, ACL="public-read-write") == "AccessDenied"


def test_virtual_host_addressing(s3_server: StrataServer, alice: Any, bucket: str) -> None:
    """``<bucket>.<domain>`` in the Host header names the bucket (the name resolves to us here)."""
    host = f"{bucket}.{support.DOMAIN}:{s3_server.port}"
    headers, *_ = support.sign_headers("GET", "/obj", host, {}, support.EMPTY_SHA256)
    resp = requests.get(f"{s3_server.endpoint}/obj", headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.content == b"secret data"
