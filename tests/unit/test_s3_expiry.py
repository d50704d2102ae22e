"""Presigned URLs expire by the node's clock: a fake clock tests the expiry without waiting for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from strata.core.clock import FakeClock

from .inprocess import InProcessNode

HOST = {"host": "127.0.0.1:1"}  # what the URLs were signed for
KEYS = {"access_key": "AKIAUNIT00000000", "secret_key": "unit-secret-key"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def node(tmp_path: Path, clock: FakeClock) -> Iterator[InProcessNode]:
    in_process = InProcessNode(tmp_path, config={"s3": {"users": {"unit": KEYS}}}, clock=clock)
    yield in_process
    in_process.close()


def _presigned(method: str, key: str, expires: int, signature_version: str) -> tuple[str, str]:
    """A URL signed by botocore itself (no request is sent): its path and query."""
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:1/s3",
        aws_access_key_id=KEYS["access_key"],
        aws_secret_access_key=KEYS["secret_key"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version=signature_version),
    )
    params = {"Bucket": "bkt", "Key": key} if key else {"Bucket": "bkt"}
    url = s3.generate_presigned_url(method, Params=params, ExpiresIn=expires)
    parts = urlsplit(url)
    return parts.path, parts.query


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_get_expires_by_the_node_clock(
    node: InProcessNode, clock: FakeClock, signature_version: str
) -> None:
    path, query = _presigned("put_object", "k", 3600, signature_version)
    # with S3 users configured an anonymous /v1 request may not create buckets: the user does, over S3
    assert node.call("POST", "/v1/buckets/bkt", "provider=ais", b'{"action": "create-bck"}').status == 403
    create_path, create_query = _presigned("create_bucket", "", 3600, "s3v4")
    assert node.call("PUT", create_path, create_query, b"", HOST).status == 200
    assert node.call("PUT", path, query, b"hello", HOST).status == 200
    get_path, get_query = _presigned("get_object", "k", 60, signature_version)
    clock.advance(59)
    fresh = node.call("GET", get_path, get_query, headers=HOST)
    assert fresh.status == 200 and fresh.body == b"hello"
    clock.advance(2)
    expired = node.call("GET", get_path, get_query, headers=HOST)
    assert expired.status == 403 and b"<Code>AccessDenied</Code>" in expired.body
    assert b"expired" in expired.body
