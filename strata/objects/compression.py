"""Compression at rest in the object path: how a write is stored, and how a compressed version is read.

The bucket's ``compression`` props decide, per write, whether the bytes are stored as they come or as
zstd seekable frames (``strata.compress``); the metadata records which (``codec``, ``stored_size``),
so turning compression on or off never rewrites anything and both kinds stay readable.

Writes (``EncodingWrite``): the original bytes are hashed here -- the checksum, ETag and size are
always the original's -- and the stored form goes to the store's ``PendingWrite``, which publishes it
with an ``Encoded`` record. With ``codec: auto`` the first 4 KiB decide (``compress.choose_codec``):
already-compressed data is passed through as it is. An object that fits one frame and does not shrink
is stored as it is too; bigger ones cannot grow by more than zstd's raw-block overhead (0.003%).

Reads (``Decoded``): a compressed version is read through its seek table, decoding only the frames a
range touches (``frames_decoded_count``); a frame that fails zstd's checksum is ``ObjectCorrupted``
(422, never retried), counted in ``err_cksum_count`` and logged, like any checksum mismatch.

CPU: compressing and decoding whole frames is heavy, so the event loop never does it for big pieces:
``CODEC_POOL`` threads do (zstd releases the GIL, so both cores work), and a streamed PUT keeps at
most two chunks queued before it holds back the client (``ObjectPut.feed`` in ``service.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from strata.compress import (
    SAMPLE_SIZE,
    FrameEncoder,
    ReadAt,
    StoredReader,
    choose_codec,
    frame_size_for,
    read_at_fd,
)
from strata.config.bucket_props import BucketProps
from strata.core.errors import ObjectCorrupted
from strata.core.metrics import Metrics
from strata.storage.checksum import Hasher, new_hasher
from strata.storage.commit import Encoded
from strata.storage.interface import PendingWrite
from strata.storage.metadata import ObjectMetadata
from strata.storage.objects import OpenObject

log = logging.getLogger("strata.objects")

ZSTD = "zstd"
INLINE_MAX = 64 << 10  # pieces up to this size are (de)compressed in place: a thread hop costs more
READ_CHUNK = 1 << 20  # an uncompressed work file is read back (for a write-through) this much at a time

_pools: dict[str, tuple[int, ThreadPoolExecutor]] = {}
_pools_lock = threading.Lock()


def _pool(name: str) -> ThreadPoolExecutor:
    with _pools_lock:
        found = _pools.get(name)
        if found is None or found[0] != os.getpid():  # made after fork, in the worker that uses it
            found = _pools[name] = (os.getpid(), ThreadPoolExecutor(max(2, os.cpu_count() or 2), name))
        return found[1]


def codec_pool() -> ThreadPoolExecutor:
    """Threads that run a request's compression work off the event loop (one piece at a time each)."""
    return _pool("codec")


def frame_pool() -> ThreadPoolExecutor:
    """Threads that compress single frames of a big object side by side. Apart from ``codec_pool``
    because its threads wait for these: sharing one pool could leave every thread waiting."""
    return _pool("frame")


T = TypeVar("T")
_END = object()


async def off_loop(work: Callable[[], T]) -> T:
    """Run ``work`` in the codec threads (decoding a compressed shard's members, encoding a file),
    as the request it serves: its context (``strata.auth.CURRENT``, the principal whose access the
    object service checks) goes along -- a bare executor call would run it as no one."""
    return await asyncio.get_running_loop().run_in_executor(
        codec_pool(), contextvars.copy_context().run, work
    )


def _next_or_end(items: Iterator[T]) -> T | object:
    return next(items, _END)


async def iterate_off_loop(items: Iterator[T]) -> AsyncIterator[T]:
    """Each next item of ``items`` produced in the codec threads: a response body whose every piece
    may decode frames. Closing this closes ``items`` (its ``finally`` releases what it holds)."""
    loop = asyncio.get_running_loop()
    pool = codec_pool()
    context = contextvars.copy_context()  # the request's principal goes along (see ``off_loop``)
    try:
        while True:
            item: object = await loop.run_in_executor(pool, context.run, _next_or_end, items)
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def compresses(props: BucketProps, size_hint: int | None = None) -> bool:
    """Whether a write of ``size_hint`` bytes (None: unknown) into the bucket may be compressed."""
    conf = props.compression
    if not conf.enabled or conf.codec == "none":
        return False
    return size_hint is None or size_hint >= conf.min_size


def same_stored_form(md: ObjectMetadata, props: BucketProps) -> bool:
    """Whether a version's stored bytes can be taken as they are by a write into ``props``' bucket
    (copies, rebalance): the codec agrees and the checksum type is the one the bucket keeps."""
    if not md.codec:
        return not compresses(props, md.size)
    return compresses(props) and md.checksum_type == props.checksum.type and bool(md.checksum_value)


class EncodingWrite:
    """A write into a compressing bucket: original bytes in, stored form (raw or zstd frames) out.

    ``writer`` is the store's write (made with checksum type "none": the original is hashed here).
    Memory: the 4 KiB sample, then at most one frame of input inside the encoder.
    """

    __slots__ = (
        "_encoder",
        "_extra",
        "_hasher",
        "_metrics",
        "_sample",
        "checksum_type",
        "codec",
        "conf_codec",
        "frame_size",
        "level",
        "min_size",
        "size",
        "size_hint",
        "writer",
    )

    def __init__(
        self,
        writer: PendingWrite,
        props: BucketProps,
        metrics: Metrics,
        *,
        size_hint: int | None = None,
        extra_hasher: Hasher | None = None,
    ) -> None:
        conf = props.compression
        self.writer = writer
        self.checksum_type = props.checksum.type
        self._hasher = new_hasher(self.checksum_type)
        self._extra = extra_hasher
        self._metrics = metrics
        self.conf_codec = conf.codec
        self.level = conf.level
        self.frame_size = int(conf.frame_size) or None
        self.min_size = int(conf.min_size)
        self.size_hint = size_hint
        self.size = 0  # original bytes so far
        self.codec: str | None = None  # None until the sample decided: "" (as is) or "zstd"
        self._sample = bytearray()
        self._encoder: FrameEncoder | None = None

    @property
    def frame(self) -> int:
        """Input bytes per frame (what a streamed PUT hands the codec threads at a time)."""
        return self._encoder.frame_size if self._encoder is not None else SAMPLE_SIZE

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._hasher.update(data)
        if self._extra is not None:
            self._extra.update(data)
        self.size += len(data)
        if self.codec is None:
            self._sample += data
            if len(self._sample) >= SAMPLE_SIZE:
                self._decide()
        elif self._encoder is None:
            self.writer.write(data)
        else:
            for frame in self._encoder.write(data):
                self.writer.write(frame)

    def _decide(self) -> None:
        sample, self._sample = self._sample, bytearray()
        decision = choose_codec(sample, self.conf_codec)
        if decision.codec == ZSTD:
            self.codec = ZSTD
            frame_size = self.frame_size or frame_size_for(self.size_hint)
            big = self.size_hint is None or self.size_hint > frame_size  # several frames: in parallel
            executor = frame_pool() if big else None
            self._encoder = FrameEncoder(self.level, frame_size, self.size_hint, executor=executor)
            for frame in self._encoder.write(sample):
                self.writer.write(frame)
        else:
            self.codec = ""
            self.writer.write(sample)

    def commit(
        self,
        *,
        versioning: bool,
        custom: dict[str, str] | None = None,
        expected_checksum: tuple[str, str] | None = None,
        etag: str = "",
    ) -> ObjectMetadata:
        """Finish the stored form (the last frame and the seek table) and publish it."""
        self.seal()
        return self.publish(
            versioning=versioning, custom=custom, expected_checksum=expected_checksum, etag=etag
        )

    def seal(self) -> None:
        """Finish the stored form in the work file (the last frame and the seek table) without
        publishing it: a write-through uploads the original from it first (``original_chunks``)."""
        try:
            if self.codec is None:  # the whole object is the sample
                if self.size < self.min_size:
                    self.codec = ""
                    self.writer.write(self._sample)
                    self._sample = bytearray()
                else:
                    self._decide()
            if self._encoder is not None:
                whole = self._encoder.whole_input()
                tail = self._encoder.finish()
                if whole is not None and len(tail) >= len(whole):  # one frame that did not shrink
                    self.codec = ""
                    tail = whole
                self.writer.write(tail)
        except BaseException:
            self.writer.abort()
            raise

    def original_chunks(self) -> Iterator[bytes]:
        """The original bytes of the sealed work file, a frame at a time (what a write-through sends)."""
        read_at = written_read_at(self.writer)
        size = self.writer.size
        if not self.codec:
            for offset in range(0, size, READ_CHUNK):
                yield read_at(offset, min(READ_CHUNK, size - offset))
            return
        reader = StoredReader(read_at, size)
        for index in range(reader.table.frames):
            yield reader.decode_frame(index)

    def publish(
        self,
        *,
        versioning: bool,
        custom: dict[str, str] | None = None,
        expected_checksum: tuple[str, str] | None = None,
        etag: str = "",
    ) -> ObjectMetadata:
        """Publish the sealed stored form with the original's size and checksum."""
        self._metrics.add("compressed_put_count" if self.codec else "passthrough_put_count")
        encoded = Encoded(self.codec or "", self.size, self.checksum_type, self._hasher.hexdigest())
        return self.writer.commit(
            versioning=versioning,
            custom=custom,
            expected_checksum=expected_checksum,
            etag=etag,
            encoded=encoded,
        )

    def abort(self) -> None:
        self._sample = bytearray()
        if self._encoder is not None:
            self._encoder.abandon()
            self._encoder = None
        self.writer.abort()


def written_read_at(writer: PendingWrite) -> ReadAt:
    """A ``read_at`` over the bytes a write has put in its work file so far (a file on a mountpath, or
    the in-memory twin's buffer)."""
    fd = getattr(writer, "fd", None)
    if isinstance(fd, int):
        return read_at_fd(fd)
    buffer = getattr(writer, "buffer", b"")
    return lambda offset, length: bytes(buffer[offset : offset + length])


class Decoded:
    """A compressed version opened for reading: original bytes out of its frames, on demand.

    Also a random-access source for the archive readers (``pread``), keeping the last decoded frame:
    a shard's headers and members are read in small pieces from the same frame.
    """

    __slots__ = ("_frame", "_frame_index", "_metrics", "_reader", "obj", "uri")

    def __init__(self, obj: OpenObject, metrics: Metrics) -> None:
        self.obj = obj
        self.uri = obj.uri or "the object"
        self._metrics = metrics
        self._frame_index = -1
        self._frame = b""
        try:
            self._reader = StoredReader(read_at_fd(obj.fd), obj.metadata.stored_size)
        except ObjectCorrupted as exc:
            raise self._corrupted(exc) from None

    @property
    def size(self) -> int:
        return self._reader.original_size

    def frames_for(self, offset: int, length: int) -> range:
        return self._reader.table.frames_for(offset, length)

    def frame_start(self, index: int) -> int:
        return self._reader.table.original_offsets[index]

    def frame(self, index: int) -> bytes:
        """One frame's original bytes, verified (the last one is kept for the next small read)."""
        if index == self._frame_index:
            return self._frame
        data = self.decode(index)
        self._frame_index, self._frame = index, data
        return data

    def decode(self, index: int) -> bytes:
        """One frame's original bytes, verified and counted, without touching the kept frame: safe to
        run for different frames in several threads at once (a response decoding one frame ahead)."""
        try:
            data = self._reader.decode_frame(index)
        except ObjectCorrupted as exc:
            raise self._corrupted(exc) from None
        self._metrics.add("frames_decoded_count")
        return data

    def _corrupted(self, exc: ObjectCorrupted) -> ObjectCorrupted:
        self._metrics.add("err_cksum_count")
        log.error("corrupted compressed object %s at %s: %s", self.uri, self.obj.path, exc)
        return ObjectCorrupted(f"{self.uri}: the compressed object does not decode ({exc}); it is corrupted")

    def chunks(self, offset: int, length: int) -> Iterator[bytes]:
        """Original bytes ``[offset, offset + length)``, one piece per frame (memory: one frame)."""
        end = offset + length
        for index in self.frames_for(offset, length):
            start = self.frame_start(index)
            data = self.frame(index)
            yield data[max(offset - start, 0) : min(end - start, len(data))]

    def pread(self, count: int, offset: int) -> bytes:
        """Up to ``count`` original bytes at ``offset`` (short only at the end): ``RandomAccess``."""
        count = max(0, min(count, self.size - offset))
        if count == 0:
            return b""
        pieces = list(self.chunks(offset, count))
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def checksum(self, checksum_type: str) -> str:
        """The checksum of the whole original (validation on read)."""
        hasher = new_hasher(checksum_type)
        for piece in self.chunks(0, self.size):
            hasher.update(piece)
        return hasher.hexdigest()
