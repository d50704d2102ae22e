"""Remote buckets in the object path: Strata as a cache in front of an S3, GCS or Azure bucket.

A bucket whose provider is a cloud (``s3://b``, ``gs://b``, ``az://b``), or an ``ais://`` bucket whose
``backend_bck`` names one, keeps a local copy of what was read or written through Strata; the backend
(``strata.backends``) holds the truth (``remote_of``):

- **cold GET**: an object not here yet is fetched from the backend into a local write (streamed, in
  bounded memory) and published with the remote facts as custom metadata (``source``, ``version``,
  ``ETag``, ``md5``, ``Last-Modified``...); the read that follows is a local read. The fetch runs off the
  event loop (a network call): the fronts await ``ObjectService.fetch``.
- **warm GET**: a local read, as for an ``ais://`` bucket.
- **write-through**: a PUT is uploaded to the backend from the local work file before it is committed
  locally with the backend's version and ETag; a backend failure fails the PUT and nothing is kept. A
  DELETE deletes remotely, then locally (a missing local copy is not an error).

The bucket's ``extra`` props (``extra.aws.endpoint``, ``profile``, ``cloud_region``...) configure its
backend client; the environment does the rest (``AWS_*``, ``STORAGE_EMULATOR_HOST``, ``AZURE_*``).
Objects of remote buckets are stored as they come (no compression yet: write-through uploads the work
file's bytes).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import msgspec

from strata.backends import Backend, BackendSettings, RemoteObject, backend_for
from strata.config.bucket_props import BucketProps
from strata.core.names import BucketRef
from strata.storage.metadata import ObjectMetadata

CLOUD_PROVIDERS = frozenset({"aws", "gcp", "azure"})
BACKEND_THREADS = 32
"""Threads per worker process for backend calls. They wait on the network, not on a core: a cold GET or
a write-through must not queue behind the codec threads (as many as cores) or a handful of its peers,
which would cap the requests in flight to the backend far below what the client sends."""

T = TypeVar("T")
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def backend_pool() -> ThreadPoolExecutor:
    """The threads that make backend calls (made in the worker process that uses them, after fork)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(BACKEND_THREADS, "backend"))
        return _pool[1]


async def off_loop_backend(work: Callable[[], T]) -> T:
    """Run a backend call (a network round trip) off the event loop, in ``backend_pool``."""
    return await asyncio.get_running_loop().run_in_executor(backend_pool(), work)


def is_remote(bck: BucketRef) -> bool:
    """Whether the bucket lives in a cloud backend (a local cache of it here)."""
    return bck.provider in CLOUD_PROVIDERS


def backend(bck: BucketRef, props: BucketProps | None = None) -> Backend:
    """The backend client for a cloud bucket, configured by its ``extra`` props."""
    return _backend(bck.provider, props)


def _backend(provider: str, props: BucketProps | None) -> Backend:
    extra = msgspec.to_builtins(props.extra) if props is not None else {}
    return backend_for(provider, BackendSettings.from_extra(extra))


class Remote(NamedTuple):
    """Where a caching bucket's objects really live: a provider, and the bucket's name there.

    Cheap to make (every GET of a bucket asks whether it has one); the client is looked up only when
    ``backend`` is used: a cold GET, a write-through, a listing page.
    """

    provider: str
    name: str
    props: BucketProps

    @property
    def backend(self) -> Backend:
        return _backend(self.provider, self.props)


def remote_of(bck: BucketRef, props: BucketProps) -> Remote | None:
    """The backend behind a bucket: its own when it is a cloud bucket (``s3://b``), the one its
    ``backend_bck`` names when it is an ``ais://`` bucket fronting a cloud bucket; None otherwise."""
    if bck.provider in CLOUD_PROVIDERS:
        return Remote(bck.provider, bck.name, props)
    linked = props.backend_bck
    if linked.name and linked.provider in CLOUD_PROVIDERS:
        return Remote(linked.provider, linked.name, props)
    return None


def same_remote_version(cached: ObjectMetadata, remote: RemoteObject) -> bool:
    """Whether the cached copy is the backend's current object: same size, and the same version or
    ETag where the backend gives them (what AIStore's warm-GET validation compares)."""
    custom = cached.custom
    if cached.size != remote.size:
        return False
    if remote.version and custom.get("version"):
        return remote.version == custom["version"]
    if remote.etag and custom.get("ETag"):
        return remote.etag == custom["ETag"]
    return bool(remote.md5) and remote.md5 == custom.get("md5", "")


def uploadable(custom: dict[str, str]) -> dict[str, str]:
    """Custom metadata a backend can carry as user metadata (header-safe names and values); the facts
    a cold GET records (``source``, ``ETag``...) are the backend's own and do not go back."""
    own = {"source", "version", "ETag", "md5", "crc32c", "LastModified", "Last-Modified"}
    return {
        key: value
        for key, value in custom.items()
        if key not in own and key.replace("-", "").replace("_", "").isalnum() and value.isascii()
    }
