"""Fixtures of the backend tests: one real emulator per provider for the session, and ``remote``, the same
contract checks run against each writable provider (aws on moto, gcp on gcp-storage-emulator, azure on
azurite, ais on a second ``strata serve``).

A ``Remote`` bundles the backend under test with what the test does *around* it through the provider's
own client: creating buckets, writing objects out of band, and building the same backend pointed at
another endpoint (an unreachable one). Buckets are fresh per test; emulators live for the session.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from azure.storage.blob import BlobServiceClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from strata.backends import (
    AisSettings,
    AwsSettings,
    AzureSettings,
    Backend,
    BackendSettings,
    GcpSettings,
    Transport,
    backend_for,
    close_backends,
)
from tests.integration.server import StrataServer

from .emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Azurite,
    EmulatorUnavailable,
    GcsEmulator,
    HttpOrigin,
    MotoServer,
)

FAST = Transport(connect_timeout=2.0, read_timeout=10.0, max_attempts=2, retry_deadline=2.0)
"""Tests use short limits so an unreachable endpoint fails within seconds."""


@dataclass
class Remote:
    provider: str
    settings: BackendSettings
    create_bucket: Callable[[str], None]
    write: Callable[[str, str, bytes, dict[str, str]], None]  # out of band, through the provider's client
    at_endpoint: Callable[[str], BackendSettings]  # the same provider at another endpoint
    paginates: bool = True  # gcp-storage-emulator answers every listing in one page
    delete_missing_is_error: bool = True  # S3 answers 204 for a missing key
    buckets: list[str] = field(default_factory=list)

    @property
    def backend(self) -> Backend:
        return backend_for(self.provider, self.settings)

    def new_bucket(self) -> str:
        name = f"bk-{uuid.uuid4().hex[:16]}"
        self.create_bucket(name)
        self.buckets.append(name)
        return name


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """A connection left open by a backend is found by the test that left it, not by a later one.

    An error's traceback keeps the frames of a failed call alive in a reference cycle, so a response
    held there is freed (and its socket reported unclosed, an error here) only when the collector next
    runs, in whatever test that is. Collecting after each test makes that report land on the culprit.
    """
    yield
    gc.collect()


@pytest.fixture(scope="session", autouse=True)
def _close_backends_at_exit() -> Iterator[None]:
    yield
    close_backends()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


def strata_in_front_of(moto: MotoServer, directory: Path) -> StrataServer:
    """A started Strata whose ``aws`` backend is the emulator, set the ordinary way (AWS_* variables)."""
    env = {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": moto.access_key,
        "AWS_SECRET_ACCESS_KEY": moto.secret_key,
        "AWS_REGION": moto.region,
    }
    return StrataServer(directory / "data", directory / "server.log", workers=1, env=env).start()


@pytest.fixture
def cache(moto: MotoServer, tmp_path: Path) -> Iterator[StrataServer]:
    """A Strata in front of the session's S3 emulator, for one test."""
    server = strata_in_front_of(moto, tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs"))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    emulator = Azurite(tmp_path_factory.mktemp("azurite"))
    try:
        emulator.start()
    except EmulatorUnavailable as error:
        pytest.skip(str(error))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def remote_strata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    """A second Strata, the remote AIS cluster of the ``ais`` backend."""
    base = tmp_path_factory.mktemp("remote-strata")
    server = StrataServer(base / "data", base / "server.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpOrigin]:
    origin = HttpOrigin(tmp_path_factory.mktemp("origin")).start()
    yield origin
    origin.stop()


# --- one Remote per provider, with the provider's own client for what the test does around it ----
@pytest.fixture(scope="session")
def remote_aws(moto: MotoServer) -> Iterator[Remote]:
    client = moto.s3()

    def create(name: str) -> None:
        client.create_bucket(Bucket=name)

    def write(bucket: str, key: str, data: bytes, custom: dict[str, str]) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=custom)

    def settings_at(endpoint: str) -> BackendSettings:
        aws = AwsSettings(endpoint=endpoint, profile=moto.profile, config_dir=str(moto.config_dir))
        return BackendSettings(aws=aws, transport=FAST)

    yield Remote("aws", settings_at(moto.endpoint), create, write, settings_at, delete_missing_is_error=False)
    client.close()


@pytest.fixture(scope="session")
def remote_gcp(gcs: GcsEmulator) -> Iterator[Remote]:
    client = storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs.endpoint}
    )

    def create(name: str) -> None:
        client.create_bucket(name)

    def write(bucket: str, key: str, data: bytes, custom: dict[str, str]) -> None:
        blob = client.bucket(bucket).blob(key)
        blob.metadata = custom or None
        blob.upload_from_string(data)

    def settings_at(endpoint: str) -> BackendSettings:
        return BackendSettings(gcp=GcpSettings(endpoint=endpoint), transport=FAST)

    yield Remote("gcp", settings_at(gcs.endpoint), create, write, settings_at, paginates=False)
    client.close()


@pytest.fixture(scope="session")
def remote_azure(azurite: Azurite) -> Iterator[Remote]:
    client = BlobServiceClient.from_connection_string(azurite.connection_string())

    def create(name: str) -> None:
        client.create_container(name)

    def write(bucket: str, key: str, data: bytes, custom: dict[str, str]) -> None:
        client.get_container_client(bucket).upload_blob(key, data, metadata=custom, overwrite=True)

    def settings_at(endpoint: str) -> BackendSettings:
        account_url = f"{endpoint}/{AZURITE_ACCOUNT}"
        azure = AzureSettings(account=AZURITE_ACCOUNT, key=AZURITE_KEY, endpoint=account_url)
        return BackendSettings(azure=azure, transport=FAST)

    yield Remote("azure", settings_at(azurite.endpoint), create, write, settings_at)
    client.close()


@pytest.fixture(scope="session")
def remote_ais(remote_strata: StrataServer) -> Iterator[Remote]:
    endpoint = remote_strata.endpoint
    session = requests.Session()

    def create(name: str) -> None:
        message = {"action": "create-bck", "name": "", "value": None}
        session.post(
            f"{endpoint}/v1/buckets/{name}?provider=ais", json=message, timeout=30
        ).raise_for_status()

    def write(bucket: str, key: str, data: bytes, custom: dict[str, str]) -> None:
        url = f"{endpoint}/v1/objects/{bucket}/{key}?provider=ais"
        session.put(url, data=data, timeout=30).raise_for_status()
        if custom:
            session.patch(
                url, json={"action": "", "name": "", "value": custom}, timeout=30
            ).raise_for_status()

    def settings_at(url: str) -> BackendSettings:
        return BackendSettings(ais=AisSettings(alias="remote", urls=(url,)), transport=FAST)

    yield Remote("ais", settings_at(endpoint), create, write, settings_at)
    session.close()


@pytest.fixture(params=["aws", "gcp", "azure", "ais"])
def remote(request: pytest.FixtureRequest) -> Remote:
    """Each writable provider in turn, on its emulator."""
    found: Remote = request.getfixturevalue(f"remote_{request.param}")
    return found
