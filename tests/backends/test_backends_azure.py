"""The azure backend on azurite: the ways an account is configured (connection string, account + key +
``AIS_AZURE_URL``), refused keys as 403, MD5 and content type, bad settings as clear 4xx."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from strata.backends import AzureSettings, BackendSettings, backend_for
from strata.backends.azure import AzureBackend
from strata.core.errors import Forbidden, InvalidRequest

from .conftest import FAST, Remote
from .emulators import AZURITE_ACCOUNT, AZURITE_KEY, Azurite

pytestmark = pytest.mark.timeout(120)

WRONG_KEY = "A" * 86 + "=="


@pytest.fixture
def bucket(remote_azure: Remote) -> str:
    return remote_azure.new_bucket()


@pytest.fixture
def clean_azure_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT",
        "AZURE_STORAGE_KEY",
        "AIS_AZURE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def own_backends() -> Iterator[list[AzureBackend]]:
    made: list[AzureBackend] = []
    yield made
    for backend in made:
        backend.close()


def test_refused_key_is_403(azurite: Azurite, bucket: str) -> None:
    azure = AzureSettings(account=AZURITE_ACCOUNT, key=WRONG_KEY, endpoint=azurite.account_url)
    backend = backend_for("azure", BackendSettings(azure=azure, transport=FAST))
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
        assert f"az://{bucket}" in caught.value.message


def test_connection_string_from_the_environment(
    azurite: Azurite,
    bucket: str,
    clean_azure_environment: pytest.MonkeyPatch,
    own_backends: list[AzureBackend],
) -> None:
    clean_azure_environment.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    backend = AzureBackend(BackendSettings(transport=FAST))
    own_backends.append(backend)
    backend.put(bucket, "from-env", b"abc", 3)
    assert backend.head(bucket, "from-env").size == 3


def test_account_key_and_ais_azure_url_from_the_environment(
    azurite: Azurite,
    bucket: str,
    clean_azure_environment: pytest.MonkeyPatch,
    own_backends: list[AzureBackend],
) -> None:
    clean_azure_environment.setenv("AZURE_STORAGE_ACCOUNT", AZURITE_ACCOUNT)
    clean_azure_environment.setenv("AZURE_STORAGE_KEY", AZURITE_KEY)
    clean_azure_environment.setenv("AIS_AZURE_URL", azurite.account_url)
    backend = AzureBackend(BackendSettings(transport=FAST))
    own_backends.append(backend)
    assert bucket in backend.list_buckets()
    assert backend.head_bucket(bucket).props["endpoint"].startswith(azurite.account_url)


def test_md5_and_content_type(remote_azure: Remote, bucket: str) -> None:
    backend = remote_azure.backend
    data = b"azure bytes " * 999
    stored = backend.put(bucket, "obj.txt", data, len(data), {"a": "1"}, "text/plain")
    assert stored.md5 == hashlib.md5(data).hexdigest()
    head = backend.head(bucket, "obj.txt")
    assert (head.md5, head.content_type, head.custom) == (stored.md5, "text/plain", {"a": "1"})
    assert head.etag == stored.etag and head.last_modified_ns == stored.last_modified_ns


def test_bad_settings_are_clear_4xx(
    clean_azure_environment: pytest.MonkeyPatch, own_backends: list[AzureBackend]
) -> None:
    nothing = AzureBackend(BackendSettings(transport=FAST))
    broken = AzureBackend(BackendSettings(azure=AzureSettings(connection_string="not a connection string")))
    own_backends += [nothing, broken]
    with pytest.raises(Forbidden, match="no Azure storage account"):
        nothing.head("bucket", "x")
    with pytest.raises(InvalidRequest, match="invalid"):
        broken.head("bucket", "x")
