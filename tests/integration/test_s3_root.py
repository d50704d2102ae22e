"""S3 at ``/`` (``s3.root_access``) with no users configured: AIStore's unauthenticated default."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from .server import StrataServer

pytestmark = pytest.mark.timeout(60)


def test_root_access_without_users(server_factory: Callable[..., StrataServer], tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"s3": {"root_access": True}}))
    srv = server_factory(config=config)
    s3 = boto3.client(
        "s3",
        endpoint_url=srv.endpoint,
        aws_access_key_id="any",
        aws_secret_access_key="any",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    s3.create_bucket(Bucket="rooted")
    s3.put_object(Bucket="rooted", Key="k", Body=b"at the root")
    assert s3.get_object(Bucket="rooted", Key="k")["Body"].read() == b"at the root"
    assert requests.get(f"{srv.endpoint}/rooted/k", timeout=10).content == b"at the root"  # no auth
    assert requests.get(f"{srv.endpoint}/s3/rooted/k", timeout=10).content == b"at the root"
    assert requests.get(f"{srv.endpoint}/v1/health", timeout=10).status_code == 200  # /v1 unaffected
    missing = requests.get(f"{srv.endpoint}/rooted/missing", timeout=10)
    assert missing.status_code == 404 and "<Code>NoSuchKey</Code>" in missing.text
