"""Remote buckets in the object path: Strata as a cache in front of an S3, GCS or Azure bucket, or of a
bucket of another AIS cluster.

A bucket whose provider is a cloud (``s3://b``, ``gs://b``, ``az://b``), a bucket of an attached remote
AIS cluster (``ais://@alias/b``, kept under the cluster's UUID: ``strata.backends.ais_clusters``), or
an ``ais://`` bucket whose ``backend_bck`` names a cloud bucket, keeps a local copy of what was read or
written through Strata; the backend (``strata.backends``) holds the truth (``remote_of``):

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
Objects of remote buckets are stored as any other write when the bucket compresses: cold GETs, blob
downloads (``strata.jobs.blob_download``) and write-through PUTs alike.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import msgspec

from strata.backends import Backend, BackendSettings, RemoteObject, ais_clusters, backend_for
from strata.config.bucket_props import BucketProps
from strata.core.names import BucketRef
from strata.storage.metadata import BACKEND_FACTS, ObjectMetadata

CLOUD_PROVIDERS = frozenset({"aws", "gcp", "azure"})
PRESENT_ONLY = ("2", "3", "4")  # ``?presence=`` values that mean "in the BMD / cluster" (wave-2 §2.4)

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
    """Run a backend call (a network round trip) off the event loop, in ``backend_pool``, as the
    request it serves (its context, with the principal the object service checks, goes along)."""
    return await asyncio.get_running_loop().run_in_executor(
        backend_pool(), contextvars.copy_context().run, work
    )


def is_remote(bck: BucketRef) -> bool:
    """Whether the bucket lives in a cloud backend or another AIS cluster (a local cache of it here)."""
    return bck.provider in CLOUD_PROVIDERS or is_remote_ais(bck)


def is_remote_ais(bck: BucketRef) -> bool:
    """``ais://@uuid/b``: a bucket of another AIS cluster (an ais namespace with a UUID names one)."""
    return bck.provider == "ais" and bool(bck.ns_uuid)


def backend(bck: BucketRef, props: BucketProps | None = None) -> Backend:
    """The backend client for a remote bucket: a cloud's configured by the bucket's ``extra`` props, a
    remote AIS cluster's by ``backend.ais``."""
    if is_remote_ais(bck):
        return _cluster_backend(bck.ns_uuid, bck.ns_name)
    return _backend(bck.provider, props)


def _backend(provider: str, props: BucketProps | None) -> Backend:
    extra = msgspec.to_builtins(props.extra) if props is not None else {}
    return backend_for(provider, BackendSettings.from_extra(extra))


def _cluster_backend(cluster: str, namespace: str) -> Backend:
    """The ``ais`` backend at a remote cluster's URLs, for its buckets in ``namespace`` (the UUID is
    dropped on the way there: the remote's own buckets are in its global namespace or a named one)."""
    return backend_for("ais", BackendSettings(ais=ais_clusters.current().settings(cluster, namespace)))


def remote_cluster_buckets(namespace: str) -> list[BucketRef]:
    """The buckets of attached remote AIS clusters, asked of each: ``@alias[#ns]`` or ``@uuid[#ns]``
    names one cluster, ``@`` / ``@@`` every one (``GET /v1/buckets?namespace=``). Network calls."""
    cluster, _, ns_name = namespace.removeprefix("@").partition("#")
    clusters = ais_clusters.current()
    wanted = sorted(clusters.attached()) if cluster in ("", "@") else [cluster]
    found = []
    for name in wanted:
        uuid = clusters.resolve(name)
        for bucket in _cluster_backend(name, ns_name).list_buckets():
            found.append(BucketRef(name=bucket, provider="ais", ns_uuid=uuid, ns_name=ns_name))
    return found


class Remote(NamedTuple):
    """Where a caching bucket's objects really live: a provider, and the bucket's name there.

    Cheap to make (every GET of a bucket asks whether it has one); the client is looked up only when
    ``backend`` is used: a cold GET, a write-through, a listing page.
    """

    provider: str
    name: str
    props: BucketProps
    cluster: str = ""  # a remote AIS cluster's UUID (``ais://@uuid/b``); "" for a cloud
    namespace: str = ""  # the bucket's namespace name in that cluster

    @property
    def backend(self) -> Backend:
        if self.cluster:
            return _cluster_backend(self.cluster, self.namespace)
        return _backend(self.provider, self.props)


def may_cache_remote(bck: BucketRef, props: BucketProps) -> bool:
    """Whether the bucket may hold copies of a backend's objects: a superset of ``remote_of`` that
    builds nothing, for the warm-read path (only such buckets are validated against a backend or
    evicted by LRU, so only their reads are noted: ``storage.atimes``)."""
    return bck.provider != "ais" or bool(bck.ns_uuid) or bool(props.backend_bck.name)


def remote_of(bck: BucketRef, props: BucketProps) -> Remote | None:
    """The backend behind a bucket: its own when it is a cloud bucket (``s3://b``), the one its
    ``backend_bck`` names when it is an ``ais://`` bucket fronting a cloud bucket, the remote
    cluster's when it is ``ais://@uuid/b``; None otherwise."""
    if bck.provider in CLOUD_PROVIDERS:
        return Remote(bck.provider, bck.name, props)
    if bck.ns_uuid and bck.provider == "ais":
        return Remote("ais", bck.name, props, bck.ns_uuid, bck.ns_name)
    linked = props.backend_bck
    if linked.name and linked.provider in CLOUD_PROVIDERS:
        return Remote(linked.provider, linked.name, props)
    if linked.name and linked.provider == "ais" and linked.namespace.uuid:  # a remote cluster's bucket
        return Remote("ais", linked.name, props, linked.namespace.uuid, linked.namespace.name)
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
    return {
        key: value
        for key, value in custom.items()
        if key not in BACKEND_FACTS and key.replace("-", "").replace("_", "").isalnum() and value.isascii()
    }
