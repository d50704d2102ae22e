"""The blob downloader: one large remote object fetched as parallel ranged reads into one local object.

Why: a cold GET reads a remote object through one connection, which for a multi-GiB object is bound
by one stream's throughput. AIStore's blob downloader (``blob-download``, wave-2 contract §2.7) splits
the object into chunks that several workers read side by side with ranged GETs. Here:

- ``ParallelChunks`` runs the ranged GETs on ``workers`` threads and hands the chunks back *in
  order*; at most ``workers`` chunks are fetched or waiting at any time (plus the one the caller
  holds), so memory is bounded by ``(workers + 1) x chunk size`` whatever the object's size.
- ``blob_fetch`` writes those chunks, in order, into one ``ObjectPut`` of the object service: the
  bucket's checksum, compression, ledger and fsync apply as to any write, and the object appears only
  when the last byte is stored (``commit``), with the remote facts (version, ETag, Last-Modified,
  user metadata) as its custom metadata. Any failure or an abort leaves nothing behind.
- ``blob_job`` is the work of a ``blob-download`` job (``POST /v1/objects/B {"action":
  "blob-download"}``); ``blob_stream`` serves the streaming GET (``Ais-Blob-Download: true``), the
  same chunks going to the client while they are stored.

Defaults as AIStore: chunk 4 MiB (32 KiB..16 MiB); workers ``min(ceil(size / 256 MiB), 32)`` unless
asked (at most 128; -1 means one); a chunk that takes longer than the read timeout (1 minute) fails
the download.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from strata.backends import Backend, RemoteObject
from strata.config.bucket_props import BucketProps
from strata.config.units import parse_duration, parse_size_iec
from strata.core.errors import FailedDependency, InvalidRequest
from strata.core.names import BucketRef
from strata.jobs.registry import Job, JobAborted
from strata.objects.put import ObjectPut
from strata.objects.remote import Remote, remote_of, same_remote_version
from strata.objects.service import ObjectService
from strata.storage.metadata import ObjectMetadata

KiB = 1 << 10
MiB = 1 << 20
MIN_CHUNK = 32 * KiB
MAX_CHUNK = 16 * MiB
DEFAULT_CHUNK = 4 * MiB
BYTES_PER_WORKER = 256 * MiB  # one worker per this much of the object, by default
MAX_AUTO_WORKERS = 32
MAX_WORKERS = 128
DEFAULT_READ_TIMEOUT = 60.0
STREAM_MIN_SIZE = 128 * KiB  # a streaming blob GET of a smaller object is a plain cold GET
MIN_PREFETCH_THRESHOLD = 1 * MiB  # prefetch's ``blob-threshold`` may not be lower


@dataclass(frozen=True)
class BlobParams:
    """How one blob download runs: ``workers`` 0 picks by size, -1 means a single reader."""

    chunk_size: int = DEFAULT_CHUNK
    workers: int = 0
    latest: bool = False
    full_size: int = 0  # the object's size when the client knows it (no HEAD then)
    read_timeout: float = DEFAULT_READ_TIMEOUT

    def workers_for(self, size: int) -> int:
        """Workers for an object of ``size`` bytes: never more than it has chunks."""
        if self.workers > 0:
            wanted = self.workers
        elif self.workers < 0:
            wanted = 1
        else:
            wanted = min(math.ceil(size / BYTES_PER_WORKER), MAX_AUTO_WORKERS)
        return max(1, min(wanted, math.ceil(size / self.chunk_size)))


def _size(raw: Any, what: str) -> int:
    """A size given as a number of bytes or an IEC/SI string (``"4MiB"``, ``"1mb"``, ``"128k"``)."""
    if isinstance(raw, bool):
        raise InvalidRequest(f"invalid {what}: {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return parse_size_iec(raw.strip())
        except ValueError:
            pass
    raise InvalidRequest(f'invalid {what}: {raw!r} (expected bytes, e.g. 4194304 or "4MiB")')


def _whole(raw: Any, what: str) -> int:
    if isinstance(raw, bool):
        raise InvalidRequest(f"invalid {what}: {raw!r}")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidRequest(f"invalid {what}: {raw!r} (expected a whole number)") from None


def _timeout(raw: Any) -> float:
    """A Go duration string (``"30s"``) or Go's JSON for one (a number of nanoseconds); 0 = default."""
    if isinstance(raw, str):
        try:
            seconds = parse_duration(raw)
        except ValueError as error:
            raise InvalidRequest(f"invalid chunk-read-timeout: {error}") from None
    else:
        seconds = _whole(raw, "chunk-read-timeout") / 1e9
    if seconds < 0:
        raise InvalidRequest(f"invalid chunk-read-timeout {raw!r}: negative")
    return seconds or DEFAULT_READ_TIMEOUT


def blob_params(
    chunk_size: Any = None,
    workers: Any = None,
    *,
    latest: bool = False,
    full_size: Any = None,
    read_timeout: Any = None,
) -> BlobParams:
    """Validated parameters (a 400 for anything out of range); None or 0 take the defaults."""
    chunk = _size(chunk_size, "chunk-size") if chunk_size not in (None, "", 0) else DEFAULT_CHUNK
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise InvalidRequest(f"invalid chunk-size {chunk}: must be within 32KiB..16MiB")
    count = _whole(workers, "num-workers") if workers not in (None, "") else 0
    if not -1 <= count <= MAX_WORKERS:
        raise InvalidRequest(f"invalid num-workers {count}: must be within -1..{MAX_WORKERS}")
    size = _size(full_size, "full-size") if full_size not in (None, "") else 0
    if size < 0:
        raise InvalidRequest(f"invalid full-size {size}: negative")
    timeout = _timeout(read_timeout) if read_timeout not in (None, "", 0) else DEFAULT_READ_TIMEOUT
    return BlobParams(chunk, count, latest, size, timeout)


def params_from_message(value: Any) -> BlobParams:
    """The ``value`` of a ``blob-download`` action (the SDK's ``BlobMsg``: unset sizes omitted)."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidRequest('"blob-download" expects a JSON object as its value')
    latest = value.get("latest-ver", False)
    return blob_params(
        value.get("chunk-size"),
        value.get("num-workers"),
        latest=latest is True or (isinstance(latest, str) and latest.lower() == "true"),
        full_size=value.get("full-size"),
        read_timeout=value.get("chunk-read-timeout"),
    )


def params_from_headers(headers: Mapping[str, str], latest: bool = False) -> BlobParams:
    """The streaming GET's ``Ais-Blob-Chunk``, ``Ais-Blob-Workers`` and ``Ais-Blob-Read-Timeout``."""
    return blob_params(
        headers.get("ais-blob-chunk") or None,
        headers.get("ais-blob-workers") or None,
        latest=latest,
        read_timeout=headers.get("ais-blob-read-timeout") or None,
    )


# -- parallel ranged reads, handed back in order ---------------------------------------------------------


class ParallelChunks:
    """The bytes of ``[0, size)`` of a remote object, in order, read as ranged GETs by ``workers`` threads.

    Iterating yields one chunk at a time; the next ``workers`` chunks are being fetched meanwhile, and
    no more: memory is at most ``(workers + 1) x chunk_size``. Every chunk must come back whole and from
    the same version of the object (ETag/version of each ranged answer equal to the first's): an object
    changed in the middle of a download fails it rather than mixing two versions. ``close`` stops the
    workers (a chunk in flight is dropped at its next piece).
    """

    def __init__(self, backend: Backend, bucket: str, key: str, size: int, params: BlobParams) -> None:
        self.backend = backend
        self.bucket = bucket
        self.key = key
        self.size = size
        self.chunk_size = params.chunk_size
        self.workers = params.workers_for(size)
        self.read_timeout = params.read_timeout
        self.info: RemoteObject | None = None  # what the first chunk's answer said about the object
        self.chunks = 0  # ranged GETs made
        self.peak_parallel = 0  # most ranged GETs in flight at once (evidence the workers overlap)
        self.peak_held = 0  # most bytes fetched and not yet handed over (the memory bound at work)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="blob-chunk")
        self._pending: collections.deque[Future[bytearray]] = collections.deque()
        self._next = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active = 0
        self._held = 0

    @property
    def uri(self) -> str:
        return self.backend.object_uri(self.bucket, self.key)

    def _submit(self) -> None:
        while len(self._pending) < self.workers and self._next < self.size:
            offset, length = self._next, min(self.chunk_size, self.size - self._next)
            self._next += length
            self._pending.append(self._pool.submit(self._fetch, offset, length))

    def _fetch(self, offset: int, length: int) -> bytearray:
        if self._stop.is_set():
            raise JobAborted(self.uri)
        with self._lock:
            self._active += 1
            self.chunks += 1
            self.peak_parallel = max(self.peak_parallel, self._active)
        try:
            buffer = bytearray(length)
            filled = 0
            with self.backend.get(self.bucket, self.key, offset, length) as reader:
                self._same_object(reader.info)
                for piece in reader:
                    if self._stop.is_set():
                        raise JobAborted(self.uri)
                    end = filled + len(piece)
                    if end > length:
                        break
                    buffer[filled:end] = piece
                    filled = end
            if filled != length:
                raise FailedDependency(
                    f"{self.uri}: the chunk at {offset} came back with {filled} of {length} bytes"
                    " (the object changed during the download?)"
                )
            with self._lock:
                self._held += length
                self.peak_held = max(self.peak_held, self._held)
            return buffer
        finally:
            with self._lock:
                self._active -= 1

    def _same_object(self, info: RemoteObject) -> None:
        with self._lock:
            first = self.info
            if first is None:
                self.info = info
                return
        changed = (info.etag and first.etag and info.etag != first.etag) or (
            info.version and first.version and info.version != first.version
        )
        if changed or (info.size >= 0 and info.size != self.size):
            raise FailedDependency(f"{self.uri}: the object changed during the download")

    def __iter__(self) -> Iterator[bytearray]:
        self._submit()
        while self._pending:
            future = self._pending.popleft()
            try:
                data = future.result(timeout=self.read_timeout)
            except FutureTimeout:
                raise FailedDependency(
                    f"{self.uri}: a chunk was not read within {self.read_timeout:g}s"
                ) from None
            with self._lock:
                self._held -= len(data)
            self._submit()  # keep the workers busy while the caller stores this chunk
            yield data

    def close(self) -> None:
        self._stop.set()
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


# -- one object: fetched into the object service -----------------------------------------------------


def _remote(bck: BucketRef, props: BucketProps) -> Remote:
    remote = remote_of(bck, props)
    if remote is None:
        raise InvalidRequest(
            f'"blob-download" applies to remote buckets; {bck.uri} is an ais bucket without a backend_bck'
        )
    return remote


class BlobFetch:
    """One blob download in progress: the chunk readers and the local write they fill."""

    def __init__(
        self,
        objects: ObjectService,
        bck: BucketRef,
        object_name: str,
        props: BucketProps,
        params: BlobParams,
        info: RemoteObject | None = None,
    ) -> None:
        """Opens the write (PUT access) and starts the first ranged reads. HEADs the backend unless
        ``info`` or ``params.full_size`` gives the size: a network call, made off the event loop."""
        remote = _remote(bck, props)
        if info is None and not params.full_size:
            info = remote.backend.head(remote.name, object_name)
        self.size = info.size if info is not None else params.full_size
        self.head = info
        self.provider = remote.provider
        self.chunks = ParallelChunks(remote.backend, remote.name, object_name, self.size, params)
        self.out: ObjectPut = objects.put(bck, object_name, props, size_hint=self.size, through=False)
        self._iterator = iter(self.chunks)
        self.written = 0

    def next_chunk(self) -> bytearray | None:
        """Fetch (in order) and store the next chunk; None after the last. Runs on a thread."""
        data = next(self._iterator, None)
        if data is not None:
            self.out.write(data)
            self.written += len(data)
        return data

    def commit(self) -> ObjectMetadata:
        """Publish the object with the remote facts (the object must have come whole)."""
        if self.written != self.size:
            raise FailedDependency(f"{self.chunks.uri}: {self.written} of {self.size} bytes arrived")
        facts = self.chunks.info or self.head
        custom = facts.cold_get_metadata(self.provider) if facts is not None else {"source": self.provider}
        return self.out.commit(custom=custom, etag=facts.etag if facts is not None else "")

    def abort(self) -> None:
        self.chunks.close()
        self.out.abort()

    def stats(self) -> dict[str, Any]:
        """What the job shows about the download (``extra`` of its record)."""
        chunks = self.chunks
        return {
            "size": self.size,
            "chunk_size": chunks.chunk_size,
            "workers": chunks.workers,
            "chunks": chunks.chunks,
            "peak_parallel": chunks.peak_parallel,
            "peak_held_bytes": chunks.peak_held,
        }


def blob_fetch(
    objects: ObjectService,
    bck: BucketRef,
    object_name: str,
    props: BucketProps,
    params: BlobParams,
    job: Job | None = None,
    info: RemoteObject | None = None,
) -> ObjectMetadata:
    """Fetch a remote object in parallel chunks and store it as one local object (on a thread).

    ``job`` (if any) is checked between chunks -- an abort stops the download and leaves nothing -- and
    counts the bytes stored.
    """
    fetch = BlobFetch(objects, bck, object_name, props, params, info)
    try:
        while True:
            if job is not None:
                job.check()
            data = fetch.next_chunk()
            if data is None:
                break
            if job is not None:
                job.add(0, len(data))
                job.record.extra.update(fetch.stats())
        md = fetch.commit()
    except BaseException:
        fetch.abort()
        raise
    fetch.chunks.close()
    if job is not None:
        job.record.extra.update(fetch.stats())
    return md


def blob_job(
    job: Job,
    objects: ObjectService,
    bck: BucketRef,
    object_name: str,
    props: BucketProps,
    params: BlobParams,
    info: RemoteObject | None = None,
) -> None:
    """The work of a ``blob-download`` job: the object, unless the cached copy is current already.
    ``info``: the backend's HEAD of the object, when the caller made it."""
    job.record.extra["object"] = object_name
    cached = objects.listed(bck, object_name)
    if cached is not None:
        if not params.latest:
            job.record.extra["skipped"] = "the object is cached (use latest-ver to check its version)"
            return
        if info is None:
            remote = _remote(bck, props)
            info = remote.backend.head(remote.name, object_name)
        if same_remote_version(cached[1], info):
            job.record.extra["skipped"] = "the cached object is the backend's current version"
            return
    md = blob_fetch(objects, bck, object_name, props, params, job, info)
    job.add(1, 0)
    job.record.extra["stored_size"] = md.stored or md.size


# -- the streaming GET -----------------------------------------------------------------------------------


async def blob_stream(fetch: BlobFetch, job: Job) -> AsyncIterator[bytearray]:
    """The body of a streaming blob GET: each chunk fetched and stored on a thread, then sent; the
    object committed after the last. A client that goes away, an abort of the job, or a failed chunk
    leaves nothing stored."""
    loop = asyncio.get_running_loop()
    stored = False
    error = ""
    try:
        while True:
            if job.aborted():  # not job.check(): its throttle may sleep, and this is the event loop
                raise JobAborted(job.id)
            data = await loop.run_in_executor(None, fetch.next_chunk)
            if data is None:
                break
            job.add(0, len(data))
            yield data
        await loop.run_in_executor(None, fetch.commit)
        stored = True
    except (JobAborted, GeneratorExit, asyncio.CancelledError):
        raise  # an abort (recorded by the marker) or a client that went away
    except BaseException as exc:
        error = str(exc) or type(exc).__name__
        raise
    finally:
        fetch.chunks.close()
        job.record.extra.update(fetch.stats())
        if stored:
            job.add(1, 0)
            job.finish()
        else:
            fetch.out.abort()
            job.finish(error=error or ("" if job.aborted() else "the client went away"))
