"""Remote backends: the clouds and clusters Strata is the fast tier in front of (issue 11).

Why it exists: AIStore's main use is caching cloud buckets (``s3://``, ``gs://``, ``az://``), plain
HTTP(S) origins (``ht://``) and other AIS clusters (``ais://@alias/b``). This package is the one
interface to all of them (``interface.Backend``: head, get with ranges, put with multipart, delete,
list pages, head/list buckets, multipart calls), each implementation on the provider's official client:

    aws    boto3                   ``AWS_*`` variables and profiles, ``extra.aws.*``
    gcp    google-cloud-storage    ``GOOGLE_APPLICATION_CREDENTIALS``, ``STORAGE_EMULATOR_HOST``
    azure  azure-storage-blob      ``AZURE_STORAGE_*``, ``AIS_AZURE_URL``, connection strings (azurite)
    ht     urllib3                 read-only GET/HEAD under ``extra.http.original_url``
    ais    urllib3                 a remote AIS cluster (another Strata, an AIStore) over the AIS API

``backend_for(provider, settings)`` hands out shared, lazily built, fork-safe instances. Every failure
is a Strata error (``strata.core.errors``): 404 for missing buckets and objects, 403 for refused
credentials, 424 (never retried by the SDK) for a backend that is down or broken.

What it is not yet: nothing calls it. The object service does not cold-GET through it, write through
it, or add remote buckets to the BMD; that wiring (and the jobs, listing merges, LRU) comes next. It
imports only ``strata.core`` and ``strata.config`` and sits beside ``storage`` in the layer order.
"""

from __future__ import annotations

from .interface import Backend, Body, ListPage, RemoteBucket, RemoteEntry, RemoteObject, RemoteReader
from .registry import ALIASES, backend_for, close_backends, normalize_backend_provider
from .settings import (
    AisSettings,
    AwsSettings,
    AzureSettings,
    BackendSettings,
    GcpSettings,
    HttpSettings,
    Transport,
)

__all__ = [
    "ALIASES",
    "AisSettings",
    "AwsSettings",
    "AzureSettings",
    "Backend",
    "BackendSettings",
    "Body",
    "GcpSettings",
    "HttpSettings",
    "ListPage",
    "RemoteBucket",
    "RemoteEntry",
    "RemoteObject",
    "RemoteReader",
    "Transport",
    "backend_for",
    "close_backends",
    "normalize_backend_provider",
]
