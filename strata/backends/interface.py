"""The one backend interface: what the object service asks of S3, GCS, Azure, HTTP and remote AIS alike.

Every call takes the *remote* bucket name (the name on the provider's side) and an object name, and
either answers with plain facts (``RemoteObject``, ``RemoteEntry``, ``RemoteBucket``) or raises a
Strata error (``strata.core.errors``) whose message names the object the way the SDK classifies it
(``s3://bucket/key``): missing bucket -> ``BucketNotFound``, missing object -> ``ObjectNotFound``
(both 404), credentials refused -> ``Forbidden`` (403), backend down or silent -> ``BackendUnreachable``
(424, which no client retries for 90 s), a fault of the backend's own -> ``FailedDependency`` (424).
No provider exception leaks out of a backend.

Bodies are streamed both ways in bounded memory: ``get`` answers a ``RemoteReader`` (an iterator of
byte chunks that must be closed), ``put`` takes bytes, a binary file or an iterable of byte chunks plus
the exact size.
"""

from __future__ import annotations

import email.utils
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import BinaryIO, ClassVar, NamedTuple

from strata.core.errors import MethodNotAllowed, NotImplementedYet
from strata.core.names import URI_SCHEMES

from .settings import BackendSettings

Body = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]
"""What ``put`` and ``upload_part`` take: the bytes, a binary file read from its current position, or
chunks; exactly ``size`` bytes are sent."""


@dataclass(frozen=True)
class RemoteObject:
    """One object as the backend describes it (HEAD, or the answer to a PUT)."""

    name: str
    size: int
    etag: str = ""  # unquoted
    version: str = ""  # S3 VersionId, GCS generation, Azure version id, AIS version; "" = not versioned
    last_modified_ns: int = 0  # 0 when the backend did not say (an S3 PUT answers no date)
    custom: dict[str, str] = field(default_factory=dict)  # user metadata (S3 ``x-amz-meta-*``...)
    content_type: str = ""
    md5: str = ""  # hex, when the backend vouches for it (S3 single-part ETag, GCS/Azure MD5)
    crc32c: str = ""  # hex (GCS)

    def cold_get_metadata(self, provider: str) -> dict[str, str]:
        """The custom metadata AIS keeps on a cold GET (wave-2 contract §2.5), user metadata included."""
        found = dict(self.custom)
        found["source"] = provider
        if self.version:
            found["version"] = self.version
        if self.etag:
            found["ETag"] = self.etag
        if self.md5:
            found["md5"] = self.md5
        if self.crc32c:
            found["crc32c"] = self.crc32c
        if self.last_modified_ns:
            found["LastModified"] = rfc3339(self.last_modified_ns)
            found["Last-Modified"] = rfc1123(self.last_modified_ns)
        return found


@dataclass(frozen=True)
class RemoteEntry:
    """One line of a remote listing page."""

    name: str
    size: int
    etag: str = ""
    version: str = ""
    last_modified_ns: int = 0


class ListPage(NamedTuple):
    """A page of a remote listing; ``next_token`` is "" on the last page (pass it back for the next)."""

    entries: list[RemoteEntry]
    next_token: str


@dataclass(frozen=True)
class RemoteBucket:
    """What HEAD bucket learns: it exists, and the props a remote bucket inherits (§2.2)."""

    name: str
    versioning: bool = False  # the cloud side keeps versions (S3 "Enabled", GCS versioning, AIS props)
    region: str = ""  # ``extra.aws.cloud_region`` for S3; the location for GCS
    props: dict[str, str] = field(default_factory=dict)  # other facts, e.g. {"endpoint": ...}


class RemoteReader:
    """The bytes of a GET, as an iterator of chunks; ``info`` describes the whole object being read.

    Close it (or use ``with``) when done, even early: that returns the connection. Errors met while
    iterating are already Strata errors (the backend wraps its chunk source).
    """

    def __init__(
        self,
        info: RemoteObject,
        offset: int,
        length: int,
        chunks: Iterator[bytes],
        close: Callable[[], None],
    ) -> None:
        self.info = info
        self.offset = offset
        self.length = length  # the number of bytes this reader yields in all
        self._chunks = chunks
        self._close = close
        self._closed = False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def read_all(self) -> bytes:
        """Everything, joined (for small objects and tests); closes the reader."""
        with self:
            return b"".join(self._chunks)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._close()

    def __enter__(self) -> RemoteReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Backend(ABC):
    """One provider's client. Instances come from ``strata.backends.backend_for`` and are shared by
    threads; the provider client inside is made on first use and forgotten in a forked child."""

    provider: ClassVar[str]  # normalized: aws | gcp | azure | ht | ais
    read_only: ClassVar[bool] = False
    supports_multipart: ClassVar[bool] = False

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.transport = settings.transport

    # --- naming --------------------------------------------------------------------------------
    def bucket_uri(self, bucket: str) -> str:
        """How errors name the bucket: ``s3://b``, ``gs://b``, ``az://b`` (the SDK parses it)."""
        return f"{URI_SCHEMES.get(self.provider, self.provider)}://{bucket}"

    def object_uri(self, bucket: str, key: str) -> str:
        return f"{self.bucket_uri(bucket)}/{key}"

    # --- objects -------------------------------------------------------------------------------
    @abstractmethod
    def head(self, bucket: str, key: str) -> RemoteObject:
        """The object's facts; ``ObjectNotFound`` or ``BucketNotFound`` when missing."""

    @abstractmethod
    def get(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> RemoteReader:
        """Stream ``length`` bytes from ``offset`` (all of the rest when None)."""

    @abstractmethod
    def put(
        self,
        bucket: str,
        key: str,
        body: Body,
        size: int,
        custom: Mapping[str, str] | None = None,
        content_type: str = "",
    ) -> RemoteObject:
        """Store exactly ``size`` bytes (multipart where the provider needs it); the stored facts."""

    @abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Delete the object; ``ObjectNotFound`` where the provider tells a missing one apart."""

    @abstractmethod
    def set_custom(self, bucket: str, key: str, custom: Mapping[str, str]) -> RemoteObject:
        """Replace the object's user metadata with ``custom`` (its bytes stay); the stored facts after."""

    @abstractmethod
    def list_page(self, bucket: str, prefix: str = "", token: str = "", page_size: int = 0) -> ListPage:
        """One page of names under ``prefix`` in name order; ``page_size`` 0 = the provider's maximum."""

    # --- buckets -------------------------------------------------------------------------------
    @abstractmethod
    def head_bucket(self, bucket: str) -> RemoteBucket:
        """The bucket exists (else ``BucketNotFound``) and its inheritable props."""

    @abstractmethod
    def list_buckets(self) -> list[str]:
        """The names of the buckets these credentials can see."""

    # --- multipart (where the provider has it) --------------------------------------------------
    def create_multipart(
        self, bucket: str, key: str, custom: Mapping[str, str] | None = None, content_type: str = ""
    ) -> str:
        """Start an upload; returns its id."""
        raise self._no_multipart()

    def upload_part(
        self, bucket: str, key: str, upload_id: str, part_number: int, body: Body, size: int
    ) -> str:
        """Send part ``part_number`` (1-based); returns the part's ETag for ``complete_multipart``."""
        raise self._no_multipart()

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> RemoteObject:
        """Assemble the parts (``(part_number, etag)`` in order) into the object."""
        raise self._no_multipart()

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        raise self._no_multipart()

    def close(self) -> None:  # noqa: B027 -- a hook: a backend without a pool has nothing to release
        """Release connection pools (the registry calls it when it forgets the backend)."""

    def _no_multipart(self) -> Exception:
        if self.read_only:
            return MethodNotAllowed(f"the {self.provider} backend is read-only")
        return NotImplementedYet(f"multipart upload through the {self.provider} backend is not supported")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(ns: int) -> str:
    """``2026-12-01T17:41:43.123456Z`` (the ``LastModified`` custom key)."""
    moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace(
        "+00:00", "Z"
    )


def rfc1123(ns: int) -> str:
    """``Tue, 01 Dec 2026 17:41:43 GMT`` (the ``Last-Modified`` custom key and header)."""
    return email.utils.formatdate(ns / 1e9, usegmt=True)


def ns_from_datetime(moment: datetime | None) -> int:
    """Nanoseconds since the epoch from a provider's datetime (naive ones are UTC); 0 for None."""
    if moment is None:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH  # exact, unlike a float timestamp
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def ns_from_http_date(text: str | None) -> int:
    """Nanoseconds from an RFC 1123 ``Last-Modified`` header; 0 when absent or unreadable."""
    if not text:
        return 0
    try:
        return ns_from_datetime(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError):
        return 0


def translated_chunks(
    chunks: Iterable[bytes], translate: Callable[[Exception], Exception], *catch: type[Exception]
) -> Iterator[bytes]:
    """``chunks``, with the provider errors in ``catch`` raised as the Strata errors ``translate`` makes
    (a connection reset mid-body becomes ``BackendUnreachable``, not a provider exception)."""
    iterator = iter(chunks)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except catch as error:
            raise translate(error) from error
        if chunk:
            yield chunk
