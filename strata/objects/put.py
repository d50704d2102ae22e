"""A write in progress, and a cold read that writes as it reads: what the object service hands out.

``ObjectPut`` is every write of the object path (PUT on both fronts, copies, jobs, multipart and append
completes, cold GETs): plain, compressing (``compression.EncodingWrite``), a stored copy arriving from
another target, or a write-through to a remote bucket's backend. From a thread it is ``write`` then
``commit``; from the event loop ``feed`` then ``finish``, which keeps compression off the loop.
``ColdRead`` pairs a backend's reader with the ``ObjectPut`` it fills, for a response that streams the
bytes to the client while they are stored.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import BinaryIO, cast

from strata.backends import Body, RemoteObject, RemoteReader
from strata.cluster.transfer import FileBody
from strata.config.bucket_props import BucketProps
from strata.config.features import FEATURE_FSYNC_PUT
from strata.core.errors import FailedDependency, InvalidRequest
from strata.core.metrics import Metrics
from strata.objects.compression import INLINE_MAX, EncodingWrite, codec_pool
from strata.objects.remote import Remote, backend_pool, uploadable
from strata.storage.commit import Encoded
from strata.storage.interface import PendingWrite
from strata.storage.metadata import ObjectMetadata
from strata.storage.objects import ObjectWriter

OFFLOAD_CHUNK = 1 << 20  # a streamed PUT hands the codec threads at least this much at a time


def fsync_wanted(props: BucketProps) -> bool:
    return bool(int(props.features) & FEATURE_FSYNC_PUT)


def count_put(metrics: Metrics, md: ObjectMetadata) -> None:
    """Count one stored write (PUT, copy, multipart complete, a job's copy or shard) of ``md.size``."""
    metrics.add("put_count")
    metrics.add("put_bytes", md.size)


class ObjectPut:
    """A write in progress: bytes go to a work file as they arrive; ``commit`` publishes them.

    Checksum, versioning, fsync and compression follow the bucket's props as they were when the write
    began. Two ways in: ``write``/``commit`` from a thread (jobs, multipart, copies: compression runs
    inline), and ``feed``/``finish`` from the event loop (streamed PUT bodies): when the bucket
    compresses, 1 MiB chunks go to the codec threads in order, at most a frame's worth queued before
    the client is held back (``set_flow_control``), and ``finish`` awaits them.
    """

    __slots__ = (
        "_busy",
        "_chunk",
        "_chunk_size",
        "_encoding",
        "_error",
        "_metrics",
        "_pause",
        "_paused",
        "_queue",
        "_remote",
        "_resume",
        "_stored",
        "props",
        "writer",
    )

    def __init__(
        self,
        writer: PendingWrite,
        props: BucketProps,
        metrics: Metrics,
        encoding: EncodingWrite | None = None,
        stored: ObjectMetadata | None = None,
        remote: tuple[Remote, str] | None = None,
    ) -> None:
        """``stored``: the bytes arrive in this version's stored form (a copy between targets).
        ``remote``: (backend, bucket, name) to upload to before the local commit (write-through)."""
        self._stored = stored
        self._remote = remote
        self.writer = writer
        self.props = props
        self._metrics = metrics
        self._encoding = encoding
        self._chunk: list[bytes] = []  # pieces not yet handed to the codec threads
        self._chunk_size = 0
        self._queue: collections.deque[list[bytes]] = collections.deque()
        self._busy: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._pause: Callable[[], None] | None = None
        self._resume: Callable[[], None] | None = None
        self._paused = False

    @property
    def size(self) -> int:
        """Original bytes written so far."""
        return self._encoding.size if self._encoding is not None else self.writer.size

    @property
    def compressing(self) -> bool:
        return self._encoding is not None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._encoding is not None:
            self._encoding.write(data)
        else:
            self.writer.write(data)

    def commit(
        self,
        *,
        custom: dict[str, str] | None = None,
        expected_checksum: tuple[str, str] | None = None,
        etag: str = "",
    ) -> ObjectMetadata:
        versioning = self.props.versioning.enabled
        if self._remote is not None:
            md = self._commit_through(self._remote, versioning, custom, expected_checksum, etag)
        elif self._encoding is not None:
            md = self._encoding.commit(
                versioning=versioning, custom=custom, expected_checksum=expected_checksum, etag=etag
            )
        elif self._stored is not None:
            md = self._commit_stored(self._stored, versioning)
        else:
            md = self.writer.commit(
                versioning=versioning, custom=custom, expected_checksum=expected_checksum, etag=etag
            )
            if self.props.compression.enabled:  # too small to compress (or compression not wanted)
                self._metrics.add("passthrough_put_count")
        count_put(self._metrics, md)
        return md

    def _commit_stored(self, source: ObjectMetadata, versioning: bool) -> ObjectMetadata:
        """A new version from a copy's stored bytes, keeping the source's codec, original size and
        checksum, custom metadata and ETag (the bytes are checked against the stored size)."""
        if self.writer.size != source.stored:
            self.writer.abort()
            raise InvalidRequest(f"a stored copy of {source.stored} B arrived with {self.writer.size} B")
        return self.writer.commit(
            versioning=versioning,
            custom=dict(source.custom),
            etag=source.etag,
            encoded=Encoded(source.codec, source.size, source.checksum_type, source.checksum_value),
        )

    def _commit_through(
        self,
        remote: tuple[Remote, str],
        versioning: bool,
        custom: dict[str, str] | None,
        expected_checksum: tuple[str, str] | None,
        etag: str,
    ) -> ObjectMetadata:
        """Write-through: upload the original bytes to the backend, then commit locally with the remote
        facts; a backend failure fails the write and nothing is kept. A compressing bucket seals its
        stored form first and uploads the original decoded from it, a frame at a time."""
        target, name = remote
        writer, encoding = self.writer, self._encoding
        try:
            body: Body
            if encoding is not None:
                encoding.seal()
                body, size = encoding.original_chunks(), encoding.size
            elif isinstance(writer, ObjectWriter):
                body, size = cast(BinaryIO, FileBody(writer.fd, writer.size)), writer.size
            else:
                body, size = bytes(getattr(writer, "buffer", b"")), writer.size
            uploaded = target.backend.put(target.name, name, body, size, custom=uploadable(custom or {}))
        except BaseException:
            self.abort()
            raise
        merged = {**(custom or {}), **uploaded.cold_get_metadata(target.provider)}
        if encoding is not None:
            return encoding.publish(
                versioning=versioning, custom=merged, expected_checksum=expected_checksum, etag=etag
            )
        return writer.commit(
            versioning=versioning, custom=merged, expected_checksum=expected_checksum, etag=etag
        )

    def abort(self) -> None:
        self._queue.clear()
        self._chunk, self._chunk_size = [], 0
        if self._encoding is not None:
            self._encoding.abort()
        else:
            self.writer.abort()

    # -- from the event loop -----------------------------------------------------------------------

    def set_flow_control(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        """How to hold back and let go the client sending the body (the HTTP connection's)."""
        self._pause, self._resume = pause, resume

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """The next piece of a streamed body, on the event loop: never compresses here."""
        encoding = self._encoding
        if encoding is None:
            self.writer.write(data)
            return
        if self._error is not None:
            raise self._error
        self._chunk.append(bytes(data) if type(data) is not bytes else data)  # the server's, not a copy
        self._chunk_size += len(data)
        if self._chunk_size >= OFFLOAD_CHUNK:
            self._queue.append(self._chunk)
            self._chunk, self._chunk_size = [], 0
            self._kick()
            if self._backlogged() and self._pause is not None and not self._paused:
                self._paused = True
                self._pause()

    def _backlogged(self) -> bool:
        """Whether the codec threads are a frame behind: hold the client back until they catch up."""
        assert self._encoding is not None
        return len(self._queue) * OFFLOAD_CHUNK >= max(self._encoding.frame, 2 * OFFLOAD_CHUNK)

    def _kick(self) -> None:
        if self._busy is not None or not self._queue or self._encoding is None:
            return
        pieces = self._queue.popleft()
        self._busy = asyncio.get_running_loop().run_in_executor(codec_pool(), self._write_all, pieces)
        self._busy.add_done_callback(self._done)

    def _write_all(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self.write(piece)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._busy = None
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._error = error
            self._queue.clear()
        else:
            self._kick()
        if self._paused and (error is not None or not self._backlogged()):
            self._paused = False
            if self._resume is not None:
                self._resume()

    def finish(
        self,
        *,
        custom: dict[str, str] | None = None,
        expected_checksum: tuple[str, str] | None = None,
        etag: str = "",
    ) -> ObjectMetadata | Awaitable[ObjectMetadata]:
        """Commit a fed write: at once when nothing heavy is left, else in the codec threads."""
        if (self._remote is None and self._encoding is None) or (
            self._remote is None
            and self._busy is None
            and not self._queue
            and self._error is None
            and self.size + self._chunk_size <= INLINE_MAX
        ):
            self._write_all(self._chunk)
            self._chunk, self._chunk_size = [], 0
            return self.commit(custom=custom, expected_checksum=expected_checksum, etag=etag)
        return self._finish(custom, expected_checksum, etag)

    async def _finish(
        self, custom: dict[str, str] | None, expected_checksum: tuple[str, str] | None, etag: str
    ) -> ObjectMetadata:
        try:
            while self._busy is not None:
                await asyncio.wait([self._busy])
            if self._error is not None:
                raise self._error
            loop = asyncio.get_running_loop()
            if self._chunk:
                pieces, self._chunk, self._chunk_size = self._chunk, [], 0
                await loop.run_in_executor(codec_pool(), self._write_all, pieces)

            def commit() -> ObjectMetadata:
                return self.commit(custom=custom, expected_checksum=expected_checksum, etag=etag)

            # a write-through's commit uploads to the backend first: a network wait, not codec work
            return await loop.run_in_executor(backend_pool() if self._remote else codec_pool(), commit)
        except BaseException:
            self.abort()
            raise


class ColdRead:
    """A cold GET in progress: the backend's bytes go to the client and into the cache at once.

    Nothing is visible until the last byte is stored (``commit`` publishes the local write with the
    remote facts); a client that goes away, or a backend that breaks off, leaves nothing behind.
    """

    __slots__ = ("out", "provider", "reader")

    def __init__(self, reader: RemoteReader, out: ObjectPut, provider: str) -> None:
        self.reader = reader
        self.out = out
        self.provider = provider

    @property
    def info(self) -> RemoteObject:
        return self.reader.info

    def commit(self) -> ObjectMetadata:
        return self.out.commit(custom=self.info.cold_get_metadata(self.provider), etag=self.info.etag)

    def advance(self, chunks: Iterator[bytes]) -> tuple[bytes, bool]:
        """In a backend thread: the next chunk, written (and compressed, if the bucket says so) here,
        and whether the object is complete -- then committed too, so the last read and the commit cost
        no thread hop of their own (a 256 KiB object is one hop after the GET is opened). A body
        shorter or longer than the backend said the object is (when it said: an HTTP origin may not)
        is an error, never a stored object."""
        expected = self.info.size
        chunk = next(chunks, None)
        more = None
        if chunk is not None:
            self.out.write(chunk)
            if expected < 0 or self.out.size < expected:
                return chunk, False
            more = next((piece for piece in chunks if piece), None)  # the end, normally
        if more is not None or (expected >= 0 and self.out.size != expected):
            raise FailedDependency(
                f"{self.provider} object {self.info.name}: the backend sent a body of another size "
                f"than the {expected} bytes it announced"
            )
        self.commit()
        return chunk or b"", True

    async def stream(self) -> AsyncIterator[bytes]:
        """The body of the response: each chunk read from the backend and stored off the event loop,
        then sent; the commit with the last one."""
        loop = asyncio.get_running_loop()
        pool = backend_pool()
        chunks = iter(self.reader)
        stored = False
        try:
            while not stored:
                chunk, stored = await loop.run_in_executor(pool, self.advance, chunks)
                if chunk:
                    yield chunk
        finally:
            if not stored:
                self.out.abort()
            self.reader.close()
