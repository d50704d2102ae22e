"""What a backend needs to know besides the environment: per-bucket overrides and transport limits.

A bucket's ``extra`` props (``extra.aws.profile``, ``extra.aws.endpoint``, ``extra.aws.cloud_region``,
``extra.gcp.application_creds``, ``extra.http.original_url``...) become one frozen, hashable
``BackendSettings``; the registry keeps one client per provider and settings, so buckets with the same
overrides share a connection pool. Everything left empty falls back to the provider's ordinary
configuration (the ``AWS_*`` variables and profiles, ``GOOGLE_APPLICATION_CREDENTIALS`` /
``STORAGE_EMULATOR_HOST``, the ``AZURE_*`` variables), read when the client is first created.

``Transport`` bounds how long a backend call may take before it becomes ``BackendUnreachable``
(424): each official client retries connection failures on its own, for up to two minutes by
default (google-cloud-storage) or with 15 s back-offs (azure-storage-blob), so the clients are told
a small number of attempts and short timeouts here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strata.config.units import parse_size_iec

MiB = 1024 * 1024


@dataclass(frozen=True)
class Transport:
    """Time and retry limits every backend client is configured with."""

    connect_timeout: float = 5.0  # seconds to open a connection
    read_timeout: float = 60.0  # seconds without a byte from the backend, once connected
    max_attempts: int = 3  # attempts per call on a connection failure (1 = no retry)
    retry_deadline: float = 4.0  # total seconds a client may spend retrying one call (GCS, Azure)


@dataclass(frozen=True)
class AwsSettings:
    """``extra.aws.*``; empty values fall back to the AWS chain (``AWS_PROFILE``, ``AWS_REGION``...)."""

    profile: str = ""
    endpoint: str = ""  # also ``S3_ENDPOINT`` (cluster-wide), then ``AWS_ENDPOINT_URL`` (boto3's own)
    region: str = ""  # ``extra.aws.cloud_region``; default ``AWS_REGION`` / profile, else us-east-1
    max_pagesize: int = 0  # 0 = the provider's (1000)
    multipart_size: int = 0  # -1 = one PUT whatever the size, 0 = default part size, else the part size
    config_dir: str = ""  # a directory with ``config`` / ``credentials`` (also ``AIS_S3_CONFIG_DIR``)


@dataclass(frozen=True)
class GcpSettings:
    """``extra.gcp.application_creds``, else ``GOOGLE_APPLICATION_CREDENTIALS``; an endpoint for emulators."""

    application_creds: str = ""  # path of a service account JSON file
    project: str = ""  # else ``GOOGLE_CLOUD_PROJECT`` or the credentials' project
    endpoint: str = ""  # e.g. an emulator's URL; else ``STORAGE_EMULATOR_HOST`` or Google's


@dataclass(frozen=True)
class AzureSettings:
    """Azure Blob access; empty fields fall back to the variables of the contract (§2.9)."""

    connection_string: str = ""  # else ``AZURE_STORAGE_CONNECTION_STRING``
    account: str = ""  # else ``AZURE_STORAGE_ACCOUNT``
    key: str = ""  # else ``AZURE_STORAGE_KEY``
    endpoint: str = (
        ""  # else ``AIS_AZURE_URL``, else <AIS_AZURE_PROTO|https>://<account>.blob.core.windows.net
    )


@dataclass(frozen=True)
class HttpSettings:
    """``extra.http.original_url``: ``scheme://host/dir/``, the base that object names are joined to."""

    original_url: str = ""


@dataclass(frozen=True)
class AisSettings:
    """A remote AIS cluster (another Strata or an AIStore): ``backend.ais`` alias -> proxy URLs."""

    alias: str = ""
    urls: tuple[str, ...] = ()  # tried in order; all lead to the same cluster
    namespace: str = ""  # the bucket's namespace name on the remote (``#ns``), "" for the global one
    token: str = ""  # an AuthN token for the remote, sent as ``Authorization: Bearer``


@dataclass(frozen=True)
class BackendSettings:
    """Everything a backend is configured with; hashable, so the registry can cache clients by it."""

    aws: AwsSettings = field(default_factory=AwsSettings)
    gcp: GcpSettings = field(default_factory=GcpSettings)
    azure: AzureSettings = field(default_factory=AzureSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    ais: AisSettings = field(default_factory=AisSettings)
    transport: Transport = field(default_factory=Transport)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], transport: Transport | None = None) -> BackendSettings:
        """From a bucket's ``extra`` props as JSON builtins (``{"aws": {"cloud_region": ...}, ...}``)."""
        aws = _section(extra, "aws")
        gcp = _section(extra, "gcp")
        http = _section(extra, "http")
        return cls(
            aws=AwsSettings(
                profile=str(aws.get("profile") or ""),
                endpoint=str(aws.get("endpoint") or ""),
                region=str(aws.get("cloud_region") or ""),
                max_pagesize=int(aws.get("max_pagesize") or 0),
                multipart_size=_size(aws.get("multipart_size")),
            ),
            gcp=GcpSettings(application_creds=str(gcp.get("application_creds") or "")),
            http=HttpSettings(original_url=str(http.get("original_url") or "")),
            transport=transport or Transport(),
        )


def _section(extra: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = extra.get(name)
    return value if isinstance(value, Mapping) else {}


def _size(value: Any) -> int:
    """A size prop as it appears in JSON: a number, or an IEC string such as ``"16MiB"``."""
    if isinstance(value, str):
        return parse_size_iec(value)
    return int(value or 0)
