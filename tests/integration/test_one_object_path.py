"""The AIS SDK and boto3 on one store meet the same rules (the object service under both fronts).

Real server process, real clients: bucket access bits refuse S3 writes as they refuse ``/v1`` ones, S3
traffic moves the Prometheus counters, and a corrupted object is refused at once -- with a status the
SDK does not retry -- counted in ``err_cksum_count`` and logged.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from aistore.sdk import Client
from aistore.sdk.errors import AISError
from botocore.config import Config

from .helpers import metric
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)


def _s3(server: StrataServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"{server.endpoint}/s3",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _metric(server: StrataServer, name: str) -> int:
    return metric(server.endpoint, name)


def _code(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def test_read_only_bucket_refuses_boto3_writes(server: StrataServer) -> None:
    name = f"ro-{uuid.uuid4().hex[:8]}"
    client = Client(server.endpoint)
    bucket = client.bucket(name).create()
    s3 = _s3(server)
    s3.put_object(Bucket=name, Key="kept", Body=b"v1")
    bucket.make_request("PATCH", "set-bprops", value={"access": "771"})  # ro: GET, HEAD, list
    with pytest.raises(botocore.exceptions.ClientError) as put:
        s3.put_object(Bucket=name, Key="kept", Body=b"v2")
    assert _code(put.value) == ("AccessDenied", 403)
    with pytest.raises(botocore.exceptions.ClientError) as delete:
        s3.delete_object(Bucket=name, Key="kept")
    assert _code(delete.value) == ("AccessDenied", 403)
    with pytest.raises(AISError) as sdk_put:
        bucket.object("kept").get_writer().put_content(b"v2")
    assert sdk_put.value.status_code == 403
    assert s3.get_object(Bucket=name, Key="kept")["Body"].read() == b"v1"


def test_s3_traffic_moves_the_counters(server: StrataServer) -> None:
    name = f"m-{uuid.uuid4().hex[:8]}"
    s3 = _s3(server)
    s3.create_bucket(Bucket=name)
    before = {
        n: _metric(server, n)
        for n in ("put_count", "get_count", "get_bytes", "delete_count", "err_get_count")
    }
    s3.put_object(Bucket=name, Key="k", Body=b"0123456789")
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"0123456789"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.get_object(Bucket=name, Key="missing")
    s3.delete_object(Bucket=name, Key="k")
    assert _metric(server, "put_count") - before["put_count"] >= 1
    assert _metric(server, "get_count") - before["get_count"] >= 1
    assert _metric(server, "get_bytes") - before["get_bytes"] >= 10
    assert _metric(server, "delete_count") - before["delete_count"] >= 1
    assert _metric(server, "err_get_count") - before["err_get_count"] >= 1
    s3.delete_bucket(Bucket=name)


def _object_file(data_dir: Path, bucket: str, name: str) -> Path:
    found = [p for p in data_dir.rglob(name) if bucket in str(p) and p.is_file()]
    assert len(found) == 1, found
    return found[0]


def test_corrupted_object_answers_at_once_and_is_counted(server_factory: Any) -> None:
    server = server_factory(workers=1)
    client = Client(server.endpoint)  # default retries: a 5xx would be retried for 90 s
    bucket = client.bucket("rot").create()
    bucket.object("obj").get_writer().put_content(b"a" * 4096)
    bucket.make_request("PATCH", "set-bprops", value={"checksum": {"validate_warm_get": True}})
    path = _object_file(server.data_dir, "rot", "obj")
    with path.open("r+b") as f:
        f.seek(100)
        f.write(b"b")
    started = time.monotonic()
    with pytest.raises(AISError) as caught:
        bucket.object("obj").get_reader().read_all()
    assert caught.value.status_code == 422
    assert time.monotonic() - started < 10
    with pytest.raises(botocore.exceptions.ClientError) as s3_caught:
        _s3(server).get_object(Bucket="rot", Key="obj")
    assert _code(s3_caught.value) == ("ObjectCorrupted", 422)
    assert _metric(server, "err_cksum_count") == 2
    assert "corrupted object ais://rot/obj" in server.full_output()
