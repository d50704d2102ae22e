"""S3 multipart upload: boto3's calls one by one and its managed transfers, awscli, and the edge cases."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3.s3.transfer
import botocore.exceptions
import pytest
from aistore.sdk.errors import AISError

from . import test_s3_support as support
from .helpers import fast_client
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)
s3_server = pytest.fixture(scope="module", name="s3_server")(support.s3_server)
MiB = 1 << 20


@pytest.fixture(scope="module")
def s3(s3_server: StrataServer) -> Any:
    return support.client(s3_server)


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    return support.new_bucket(s3, "mpu")


def _code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return support.error_code(info.value)


def _data(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def test_multipart_upload_step_by_step(s3_server: StrataServer, s3: Any, bucket: str) -> None:
    # 1. create with metadata, upload three parts out of order
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp/obj", ContentType="video/x-test", Metadata={"m": "1"}
    )
    upload_id = upload["UploadId"]
    parts = {1: _data(5 * MiB, 1), 2: _data(5 * MiB, 2), 3: _data(1234, 3)}
    etags = {}
    for number in (3, 1, 2):
        result = s3.upload_part(
            Bucket=bucket, Key="mp/obj", UploadId=upload_id, PartNumber=number, Body=parts[number]
        )
        etags[number] = result["ETag"]
        assert result["ETag"] == f'"{hashlib.md5(parts[number]).hexdigest()}"'
    # 2. the upload and its parts are listed
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp/obj", upload_id)]
    listed = s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] == [
        (n, len(parts[n]), etags[n]) for n in (1, 2, 3)
    ]
    page = s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=upload_id, MaxParts=2)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=upload_id, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert _code(s3.head_object, Bucket=bucket, Key="mp/obj") == "404"  # nothing visible yet
    # 3. complete: the ETag is the MD5 of the parts' MD5s, then -N
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp/obj",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
    )
    digest = hashlib.md5(b"".join(hashlib.md5(parts[n]).digest() for n in (1, 2, 3))).hexdigest()
    assert done["ETag"] == f'"{digest}-3"'
    whole = parts[1] + parts[2] + parts[3]
    got = s3.get_object(Bucket=bucket, Key="mp/obj")
    assert got["Body"].read() == whole and got["ETag"] == done["ETag"]
    assert got["ContentType"] == "video/x-test" and got["Metadata"] == {"m": "1"}
    # 4. parts read back by number; the upload is gone
    second = s3.get_object(Bucket=bucket, Key="mp/obj", PartNumber=2)
    assert second["Body"].read() == parts[2] and second["PartsCount"] == 3
    assert second["ContentRange"] == f"bytes {5 * MiB}-{10 * MiB - 1}/{len(whole)}"
    assert s3.head_object(Bucket=bucket, Key="mp/obj", PartNumber=3)["ContentLength"] == 1234
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert _code(s3.list_parts, Bucket=bucket, Key="mp/obj", UploadId=upload_id) == "NoSuchUpload"
    # 5. the same object through /v1: refused to an anonymous client while the bucket is private (S3
    #    users are configured: no side door), served once its owner makes it public-read
    sdk_object = fast_client(s3_server.endpoint).bucket(bucket).object("mp/obj")
    with pytest.raises(AISError) as refused:
        sdk_object.get_reader().read_all()
    assert refused.value.status_code == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    try:
        assert sdk_object.get_reader().read_all() == whole
    finally:
        s3.put_bucket_acl(Bucket=bucket, ACL="private")


def test_complete_rules(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="rules")["UploadId"]
    small = [
        s3.upload_part(Bucket=bucket, Key="rules", UploadId=upload_id, PartNumber=n, Body=b"x" * 100)["ETag"]
        for n in (1, 2)
    ]

    def complete(parts: list[dict[str, Any]]) -> str:
        return _code(
            s3.complete_multipart_upload,
            Bucket=bucket,
            Key="rules",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )

    assert (
        complete([{"PartNumber": 2, "ETag": small[1]}, {"PartNumber": 1, "ETag": small[0]}])
        == "InvalidPartOrder"
    )
    assert complete([{"PartNumber": 1, "ETag": '"0123"'}]) == "InvalidPart"
    assert complete([{"PartNumber": 7, "ETag": small[0]}]) == "InvalidPart"
    assert (
        complete([{"PartNumber": 1, "ETag": small[0]}, {"PartNumber": 2, "ETag": small[1]}])
        == "EntityTooSmall"
    )
    assert complete([]) == "MalformedXML"
    # a lone small part is fine (the last part has no minimum)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="rules",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": small[1]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="rules")["Body"].read() == b"x" * 100


def test_abort_and_unknown_uploads(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=1, Body=b"p")
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)
    assert (
        _code(s3.abort_multipart_upload, Bucket=bucket, Key="aborted", UploadId=upload_id) == "NoSuchUpload"
    )
    assert (
        _code(s3.upload_part, Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=2, Body=b"p")
        == "NoSuchUpload"
    )
    other = s3.create_multipart_upload(Bucket=bucket, Key="one-key")["UploadId"]
    assert _code(s3.list_parts, Bucket=bucket, Key="another-key", UploadId=other) == "NoSuchUpload"
    assert _code(s3.list_parts, Bucket=bucket, Key="one-key", UploadId="../../etc") == "NoSuchUpload"
    assert (
        _code(s3.upload_part, Bucket=bucket, Key="one-key", UploadId=other, PartNumber=10001, Body=b"p")
        == "InvalidArgument"
    )
    s3.abort_multipart_upload(Bucket=bucket, Key="one-key", UploadId=other)


def test_upload_part_copy_with_ranges(s3: Any, bucket: str) -> None:
    source = _data(7 * MiB, 9)
    s3.put_object(Bucket=bucket, Key="copy-src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="copied",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "copy-src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="copied",
        UploadId=upload_id,
        PartNumber=2,
        CopySource=f"{bucket}/copy-src",
        CopySourceRange=f"bytes={6 * MiB}-{7 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    assert first == f'"{hashlib.md5(source[: 5 * MiB]).hexdigest()}"'
    assert (
        _code(
            s3.upload_part_copy,
            Bucket=bucket,
            Key="copied",
            UploadId=upload_id,
            PartNumber=3,
            CopySource=f"{bucket}/copy-src",
            CopySourceRange=f"bytes=0-{8 * MiB}",
        )
        == "InvalidRange"
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="copied",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]},
    )
    expected = source[: 5 * MiB] + source[6 * MiB :]
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == expected


def test_managed_transfer_upload_and_download(s3: Any, bucket: str, tmp_path: Path) -> None:
    """boto3's upload_file/download_file: parallel parts and ranged GETs."""
    source = tmp_path / "big.bin"
    data = support.write(source, 13 * MiB + 5, seed=4)
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(source), bucket, "managed/big.bin", Config=config)
    assert s3.head_object(Bucket=bucket, Key="managed/big.bin")["ETag"].endswith('-3"')
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "managed/big.bin", str(target), Config=config)
    assert target.read_bytes() == data


def test_awscli_cp_ls_sync_rm(s3_server: StrataServer, s3: Any, bucket: str, tmp_path: Path) -> None:
    keys = support.USERS["alice"]
    config = tmp_path / "aws-config"
    config.write_text(
        "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n  multipart_threshold = 5MB\n"
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": keys["access_key"],
        "AWS_SECRET_ACCESS_KEY": keys["secret_key"],
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    def aws(*args: str) -> str:
        command = [sys.executable, "-m", "awscli", "--endpoint-url", f"{s3_server.endpoint}/s3", *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    local = tmp_path / "tree"
    (local / "sub").mkdir(parents=True)
    big = support.write(local / "sub" / "big.bin", 11 * MiB, seed=7)
    (local / "small.txt").write_text("small")
    aws("s3", "sync", str(local), f"s3://{bucket}/cli/")
    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/cli/")
    assert "cli/small.txt" in listing and "cli/sub/big.bin" in listing
    assert s3.get_object(Bucket=bucket, Key="cli/sub/big.bin")["Body"].read() == big
    aws("s3", "cp", f"s3://{bucket}/cli/sub/big.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == big
    assert aws("s3", "sync", str(local), f"s3://{bucket}/cli/").strip() == ""  # nothing changed
    versions = json.loads(aws("s3api", "list-object-versions", "--bucket", bucket, "--prefix", "cli/"))
    assert len(versions["Versions"]) == 2
    aws("s3", "rm", "--recursive", f"s3://{bucket}/cli/")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="cli/")["KeyCount"] == 0
