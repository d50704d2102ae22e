"""The gcp backend on gcp-storage-emulator: ``STORAGE_EMULATOR_HOST``, generations as versions, the MD5 and
CRC32C GCS reports (hex, as AIS keeps them), and what the emulator cannot show (refused credentials)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import crc32c
import pytest

from strata.backends import BackendSettings, GcpSettings
from strata.backends.gcp import GcpBackend
from strata.core.errors import Forbidden

from .conftest import FAST, Remote
from .emulators import GcsEmulator

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def bucket(remote_gcp: Remote) -> str:
    return remote_gcp.new_bucket()


@pytest.fixture
def own_backends() -> Iterator[list[GcpBackend]]:
    made: list[GcpBackend] = []
    yield made
    for backend in made:
        backend.close()


def test_emulator_from_storage_emulator_host(
    gcs: GcsEmulator, bucket: str, monkeypatch: pytest.MonkeyPatch, own_backends: list[GcpBackend]
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    backend = GcpBackend(BackendSettings(transport=FAST))
    own_backends.append(backend)
    backend.put(bucket, "from-env", b"abc", 3)
    assert backend.head(bucket, "from-env").size == 3
    assert bucket in backend.list_buckets()


def test_checksums_and_generations(remote_gcp: Remote, bucket: str) -> None:
    backend = remote_gcp.backend
    data = b"the quick brown fox" * 1000
    first = backend.put(bucket, "obj", data, len(data), content_type="text/plain")
    assert first.md5 == hashlib.md5(data).hexdigest()
    assert first.crc32c == crc32c.crc32c(data).to_bytes(4, "big").hex()
    head = backend.head(bucket, "obj")
    assert (head.md5, head.crc32c, head.content_type) == (first.md5, first.crc32c, "text/plain")
    metadata = head.cold_get_metadata("gcp")
    assert metadata["crc32c"] == first.crc32c and metadata["md5"] == first.md5
    assert first.version.isdigit()
    second = backend.put(bucket, "obj", b"new", 3)
    assert second.version != first.version  # a new generation
    assert backend.head(bucket, "obj").version == second.version


def test_a_broken_credentials_file_is_403(remote_gcp: Remote, bucket: str, tmp_path: Path) -> None:
    creds = tmp_path / "service-account.json"
    creds.write_text("{not json")
    backend = GcpBackend(BackendSettings(gcp=GcpSettings(application_creds=str(creds)), transport=FAST))
    try:
        with pytest.raises(Forbidden, match="no usable GCP credentials"):
            backend.head(bucket, "x")
    finally:
        backend.close()


def test_refused_credentials_are_403() -> None:
    pytest.skip(
        "gcp-storage-emulator accepts any credentials (it checks none), so a refusal cannot be provoked; "
        "the 401/403 -> Forbidden mapping is the same code path as aws and azure"
    )
