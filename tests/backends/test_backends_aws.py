"""The aws backend on moto: credentials the AWS ways (profiles in ``AIS_S3_CONFIG_DIR``, the ``AWS_*``
variables, ``S3_ENDPOINT``), refused credentials as 403, ``extra.aws.*`` props, multipart part sizes and
versioned buckets."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from strata.backends import AwsSettings, BackendSettings, backend_for
from strata.backends.aws import AwsBackend
from strata.core.errors import Forbidden, InvalidRequest

from .conftest import FAST, Remote
from .emulators import MotoServer

pytestmark = pytest.mark.timeout(120)

MiB = 1024 * 1024


@pytest.fixture
def bucket(remote_aws: Remote) -> str:
    return remote_aws.new_bucket()


@pytest.fixture
def clean_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """No AWS settings from the machine leak in (and never the instance metadata service)."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "S3_ENDPOINT",
        "AIS_S3_CONFIG_DIR", "AWS_REGION", "AWS_DEFAULT_REGION",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture
def own_backends() -> Iterator[list[AwsBackend]]:
    """Backends built outside the registry (they read the patched environment); closed after."""
    made: list[AwsBackend] = []
    yield made
    for backend in made:
        backend.close()


def test_refused_credentials_are_403(moto: MotoServer, bucket: str) -> None:
    aws = AwsSettings(endpoint=moto.endpoint, profile="refused", config_dir=str(moto.config_dir))
    backend = backend_for("aws", BackendSettings(aws=aws, transport=FAST))
    for call in (
        lambda: backend.head(bucket, "x"),
        lambda: backend.get(bucket, "x"),
        lambda: backend.put(bucket, "x", b"1", 1),
        lambda: backend.list_page(bucket),
        lambda: backend.head_bucket(bucket),
    ):
        with pytest.raises(Forbidden) as caught:
            call()
        assert caught.value.status == 403
        assert f"s3://{bucket}" in caught.value.message


def test_credentials_and_endpoint_from_the_aws_variables(
    moto: MotoServer, bucket: str, clean_aws_environment: pytest.MonkeyPatch, own_backends: list[AwsBackend]
) -> None:
    clean_aws_environment.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    clean_aws_environment.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    clean_aws_environment.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    backend = AwsBackend(BackendSettings(transport=FAST))
    own_backends.append(backend)
    backend.put(bucket, "from-env", b"abc", 3)
    assert backend.head(bucket, "from-env").size == 3
    assert backend.head_bucket(bucket).region == "us-east-1"


def test_profile_from_ais_s3_config_dir_and_s3_endpoint(
    moto: MotoServer, bucket: str, clean_aws_environment: pytest.MonkeyPatch, own_backends: list[AwsBackend]
) -> None:
    clean_aws_environment.setenv("S3_ENDPOINT", moto.endpoint)
    clean_aws_environment.setenv("AIS_S3_CONFIG_DIR", str(moto.config_dir))
    backend = AwsBackend(BackendSettings(aws=AwsSettings(profile=moto.profile), transport=FAST))
    own_backends.append(backend)
    backend.put(bucket, "from-profile", b"abcd", 4)
    assert backend.get(bucket, "from-profile").read_all() == b"abcd"


def test_no_credentials_at_all_is_403(
    moto: MotoServer, bucket: str, clean_aws_environment: pytest.MonkeyPatch, own_backends: list[AwsBackend]
) -> None:
    backend = AwsBackend(BackendSettings(aws=AwsSettings(endpoint=moto.endpoint), transport=FAST))
    own_backends.append(backend)
    with pytest.raises(Forbidden, match="no usable AWS credentials"):
        backend.head(bucket, "x")


def test_unknown_profile_is_400(moto: MotoServer, bucket: str) -> None:
    aws = AwsSettings(endpoint=moto.endpoint, profile="nobody", config_dir=str(moto.config_dir))
    with pytest.raises(InvalidRequest, match='profile "nobody"'):
        backend_for("aws", BackendSettings(aws=aws, transport=FAST)).head(bucket, "x")


def test_bucket_extra_props_set_the_part_size(moto: MotoServer, bucket: str) -> None:
    """``extra.aws`` as the props carry it; 5 MiB parts make a 12 MiB object three parts."""
    data = bytes(range(256)) * (12 * MiB // 256)
    for multipart_size, expected_parts in (("5MiB", 3), (-1, 0), (0, 0)):
        extra = {
            "aws": {
                "endpoint": moto.endpoint,
                "profile": moto.profile,
                "cloud_region": "us-east-1",
                "multipart_size": multipart_size,
            }
        }
        settings = BackendSettings.from_extra(extra, FAST)
        settings = replace(settings, aws=replace(settings.aws, config_dir=str(moto.config_dir)))
        backend = backend_for("aws", settings)
        stored = backend.put(bucket, f"parts-{multipart_size}", data, len(data))
        if expected_parts:
            assert stored.etag.endswith(f"-{expected_parts}") and stored.md5 == ""
        else:  # one PUT (12 MiB is under the 16 MiB default part): the ETag is the MD5
            assert stored.md5 == stored.etag == hashlib.md5(data).hexdigest()
        assert backend.head(bucket, f"parts-{multipart_size}").size == len(data)


def test_versioned_bucket(remote_aws: Remote, moto: MotoServer, bucket: str) -> None:
    client = moto.s3()
    try:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    finally:
        client.close()
    backend = remote_aws.backend
    assert backend.head_bucket(bucket).versioning is True
    first = backend.put(bucket, "v", b"one", 3)
    second = backend.put(bucket, "v", b"two", 3)
    assert first.version and second.version and first.version != second.version
    assert backend.head(bucket, "v").version == second.version
    assert backend.head(bucket, "v").cold_get_metadata("aws")["version"] == second.version


def test_unversioned_bucket_reports_no_version(remote_aws: Remote, bucket: str) -> None:
    backend = remote_aws.backend
    assert backend.head_bucket(bucket).versioning is False
    assert backend.put(bucket, "plain", b"x", 1).version == ""
    assert "version" not in backend.head(bucket, "plain").cold_get_metadata("aws")
