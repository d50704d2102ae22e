"""The stored form of a compressed object: the Zstandard seekable format, written and read in pieces.

Layout (all integers little-endian), exactly the zstd project's ``contrib/seekable_format``::

    zstd frame 0 | zstd frame 1 | ... | zstd frame N-1 | seek table

    seek table = skippable frame:
        magic 0x184D2A5E u32 | frame size u32 (bytes after this field)
        N entries: compressed size u32 | decompressed size u32
        footer: N u32 | descriptor u8 (0: no per-entry checksum) | seekable magic 0x8F92EAB1 u32

Every data frame is an ordinary, independent zstd frame that records its decompressed size and ends
with zstd's own content checksum (XXH64, low 32 bits), so the decoder catches bit rot in a frame it
reads; the seek table therefore carries no checksums of its own. ``zstd -d`` skips the skippable frame
and writes the original bytes.

Incompressible data costs almost nothing: zstd falls back to *raw blocks* (3-byte header per 128 KiB
block) whenever a block does not shrink, so a frame is never larger than its bytes plus the frame
header, 3 bytes per block and the 4-byte checksum (measured: 16 MiB of random bytes, +398 B, 0.0024%).
No hand-made raw frame is needed for "store it raw"; ``stored_bound`` states the exact ceiling.
"""

from __future__ import annotations

import bisect
import collections
import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import zstandard

from strata.core.errors import ObjectCorrupted, RangeNotSatisfiable

KIB = 1 << 10
MIB = 1 << 20

DEFAULT_LEVEL = 3
MIN_LEVEL = 1
MAX_LEVEL = 19
# frame sizes a bucket may configure: small enough to bound memory per request, big enough to compress
MIN_FRAME_SIZE = 64 * KIB
MAX_FRAME_SIZE = 64 * MIB

SKIPPABLE_MAGIC = 0x184D2A5E
SEEKABLE_MAGIC = 0x8F92EAB1
SKIPPABLE_HEADER_SIZE = 8
SEEK_ENTRY_SIZE = 8
SEEK_FOOTER_SIZE = 9
# the seekable format's own limit on the number of frames (zstd contrib: ZSTD_SEEKABLE_MAXFRAMES)
MAX_FRAMES = 0x8000000

# zstd frame overhead ceiling: magic 4 + header descriptor 1 + window 1 + content size 8 + checksum 4
_ZSTD_FRAME_OVERHEAD = 18
_ZSTD_BLOCK_SIZE = 128 * KIB
_ZSTD_BLOCK_HEADER = 3

_HEADER = struct.Struct("<II")
_ENTRY = struct.Struct("<II")
_FOOTER = struct.Struct("<IBI")

_contexts = threading.local()  # zstd contexts are not for two threads at once: one set per thread


def compress_frame(data: bytes | bytearray | memoryview, level: int) -> bytes:
    """One independent zstd frame that records its size and ends with zstd's content checksum (so
    bit rot is caught on decode). The GIL is released while zstd works: frames compress in parallel."""
    compressors: dict[int, zstandard.ZstdCompressor] | None = getattr(_contexts, "compressors", None)
    if compressors is None:
        compressors = _contexts.compressors = {}
    compressor = compressors.get(level)
    if compressor is None:
        compressor = compressors[level] = zstandard.ZstdCompressor(
            level=level, write_checksum=True, write_content_size=True
        )
    return compressor.compress(data)


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_contexts, "decompressor", None)
    if decompressor is None:
        decompressor = _contexts.decompressor = zstandard.ZstdDecompressor()
    return decompressor


ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, length)`` returns exactly ``length`` bytes of the stored object from ``offset``."""


def frame_size_for(size_hint: int | None) -> int:
    """The frame size s4 picks by object size: 1 MiB up to 1 MiB, 4 MiB up to 100 MiB, 16 MiB above.

    Unknown size (a chunked upload) takes 4 MiB, like s4. Small objects get one frame; big ones frames
    large enough to compress well yet small enough that a 4 KiB range read decodes little.
    """
    if size_hint is None:
        return 4 * MIB
    if size_hint <= MIB:
        return MIB
    if size_hint <= 100 * MIB:
        return 4 * MIB
    return 16 * MIB


def seek_table_size(frames: int) -> int:
    """Bytes of the seek-table frame for ``frames`` data frames."""
    return SKIPPABLE_HEADER_SIZE + frames * SEEK_ENTRY_SIZE + SEEK_FOOTER_SIZE


def stored_bound(original_size: int, frame_size: int) -> int:
    """The most bytes an object of ``original_size`` can take stored with frames of ``frame_size``.

    What "never bigger than the original plus a small fixed header" means, exactly: per frame the zstd
    frame overhead and seek entry, per 128 KiB block a 3-byte header, once the seek table's own header
    and footer. For 1 MiB frames that is under 0.01% plus 17 bytes.
    """
    frames = -(-original_size // frame_size)
    blocks = sum(
        max(1, -(-min(frame_size, original_size - start) // _ZSTD_BLOCK_SIZE))
        for start in range(0, original_size, frame_size)
    )
    overhead = frames * _ZSTD_FRAME_OVERHEAD + blocks * _ZSTD_BLOCK_HEADER + seek_table_size(frames)
    return original_size + overhead


@dataclass
class EncodeStats:
    """What an encoder wrote; sizes only, independent of any checksum of the object."""

    original_size: int = 0
    stored_size: int = 0
    frames: int = 0
    incompressible_frames: int = 0  # frames that did not shrink (zstd stored their blocks raw)
    peak_buffered: int = 0  # the most input bytes held at once, waiting for a frame to fill

    @property
    def ratio(self) -> float:
        """original / stored (1.0 for an empty object)."""
        return self.original_size / self.stored_size if self.original_size else 1.0


class FrameEncoder:
    """Streaming encoder in bounded memory: bytes in, complete stored frames out, seek table at the end.

    At most one frame of input is held (``buffered``); a piece that completes frames returns them at
    once, so a caller writing the output to disk as it comes holds one frame plus its compressed form.
    The total length need not be known; ``size_hint`` only picks the frame size.

    With an ``executor``, frames are compressed there, up to ``in_flight`` at once (zstd releases the
    GIL: one big object uses every core), and come back in order as they finish; memory is then one
    frame of input plus ``in_flight`` frames being compressed.
    """

    def __init__(self, level: int = DEFAULT_LEVEL, frame_size: int | None = None,
                 size_hint: int | None = None, executor: Executor | None = None,
                 in_flight: int = 2) -> None:
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise ValueError(f"zstd level {level} is outside {MIN_LEVEL}..{MAX_LEVEL}")
        if frame_size is None:
            frame_size = frame_size_for(size_hint)
        if not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
            raise ValueError(f"frame size {frame_size} is outside {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE}")
        self.level = level
        self.frame_size = frame_size
        self.stats = EncodeStats()

        self._pending = bytearray()
        self._entries: list[tuple[int, int]] = []
        self._finished = False
        # frames being compressed by ``executor`` (in order), at most ``in_flight`` at once
        self._executor = executor
        self._in_flight = max(1, in_flight)
        self._running: collections.deque[tuple[Future[bytes], int]] = collections.deque()

    @property
    def buffered(self) -> int:
        """Input bytes held now, waiting for their frame to fill."""
        return len(self._pending)

    def whole_input(self) -> bytes | None:
        """Everything written so far, while no frame has been emitted yet (the object fits one frame):
        lets a caller that finds the one frame does not shrink store the input as it is instead."""
        return None if self._entries or self._running else bytes(self._pending)

    def write(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Take the next piece of the object; return the stored frames it completed (often none)."""
        if self._finished:
            raise ValueError("write after finish")
        view = memoryview(data).cast("B")
        out: list[bytes] = []
        if self._pending:
            take = min(len(view), self.frame_size - len(self._pending))
            self._pending += view[:take]
            view = view[take:]
            self._note_buffered()
            if len(self._pending) < self.frame_size:
                return out
            self._frame(self._pending, out, owned=True)
            self._pending = bytearray()
        while len(view) >= self.frame_size:  # whole frames straight from the caller's buffer: no copy
            self._frame(view[: self.frame_size], out)
            view = view[self.frame_size :]
        if view:
            self._pending += view
            self._note_buffered()
        self._collect(out, wait=False)
        return out

    def finish(self) -> bytes:
        """The last (partial) frame, if any, and the seek table: the stored object's final bytes."""
        if self._finished:
            raise ValueError("finish called twice")
        self._finished = True
        out: list[bytes] = []
        if self._pending:
            self._frame(self._pending, out, owned=True)
        self._collect(out, wait=True)
        tail = b"".join(out)
        self._pending = bytearray()
        entries = b"".join(_ENTRY.pack(stored, original) for stored, original in self._entries)
        footer = _FOOTER.pack(len(self._entries), 0, SEEKABLE_MAGIC)
        table = _HEADER.pack(SKIPPABLE_MAGIC, len(entries) + len(footer)) + entries + footer
        self.stats.stored_size += len(table)
        return tail + table

    def _note_buffered(self) -> None:
        self.stats.peak_buffered = max(self.stats.peak_buffered, len(self._pending))

    def _frame(self, chunk: bytes | bytearray | memoryview, out: list[bytes], *, owned: bool = False) -> None:
        """Compress one frame's input: now, or in the executor -- on a private copy unless ``owned``
        (our own buffer, never written again): the caller's may change once ``write`` returns --,
        collecting finished frames in order into ``out``."""
        if self._executor is None:
            out.append(self._record(compress_frame(chunk, self.level), len(chunk)))
            return
        future = self._executor.submit(compress_frame, chunk if owned else bytes(chunk), self.level)
        self._running.append((future, len(chunk)))
        while len(self._running) > self._in_flight:
            self._collect(out, wait=True, keep=self._in_flight)

    def _collect(self, out: list[bytes], *, wait: bool, keep: int = 0) -> None:
        """Move finished frames, oldest first, to ``out``: waiting for them (down to ``keep`` still
        running) or only those already done."""
        while len(self._running) > keep:
            future, original = self._running[0]
            if not wait and not future.done():
                return
            self._running.popleft()
            out.append(self._record(future.result(), original))

    def abandon(self) -> None:
        """Drop frames still being compressed (a write that failed or was aborted)."""
        for future, _original in self._running:
            future.cancel()
        self._running.clear()
        self._pending = bytearray()

    def _record(self, frame: bytes, original: int) -> bytes:
        if len(self._entries) >= MAX_FRAMES:
            raise ValueError("object too large for the seekable format's frame count")
        self._entries.append((len(frame), original))
        self.stats.frames += 1
        self.stats.original_size += original
        self.stats.stored_size += len(frame)
        if len(frame) >= original:
            self.stats.incompressible_frames += 1
        return frame


def encode(data: bytes | bytearray | memoryview, level: int = DEFAULT_LEVEL,
           frame_size: int | None = None) -> tuple[bytes, EncodeStats]:
    """Whole object in, stored bytes out (for small objects and tests)."""
    encoder = FrameEncoder(level, frame_size, size_hint=len(data))
    stored = b"".join(encoder.write(data)) + encoder.finish()
    return stored, encoder.stats


def encode_stream(pieces: Iterable[bytes], level: int = DEFAULT_LEVEL, frame_size: int | None = None,
                  size_hint: int | None = None) -> Iterator[bytes]:
    """Stored bytes frame by frame from an iterable of pieces (the seek table last)."""
    encoder = FrameEncoder(level, frame_size, size_hint)
    for piece in pieces:
        yield from encoder.write(piece)
    yield encoder.finish()


@dataclass(frozen=True)
class SeekTable:
    """Where each frame lies in the stored bytes and in the original bytes."""

    stored_offsets: tuple[int, ...]  # N + 1 entries: frame starts in the stored bytes, then the table's
    original_offsets: tuple[int, ...]  # N + 1 entries: frame starts in the original bytes, then the size
    table_size: int

    @property
    def frames(self) -> int:
        return len(self.original_offsets) - 1

    @property
    def original_size(self) -> int:
        return self.original_offsets[-1]

    @property
    def stored_size(self) -> int:
        return self.stored_offsets[-1] + self.table_size

    @classmethod
    def read(cls, read_at: ReadAt, stored_size: int) -> SeekTable:
        """Parse and check the seek table at the end of a stored object of ``stored_size`` bytes."""
        minimum = seek_table_size(0)
        if stored_size < minimum:
            raise ObjectCorrupted(f"compressed object of {stored_size} B is shorter than a seek table")
        frames, descriptor, magic = _FOOTER.unpack(_read_exact(read_at, stored_size - SEEK_FOOTER_SIZE,
                                                               SEEK_FOOTER_SIZE))
        if magic != SEEKABLE_MAGIC:
            raise ObjectCorrupted("compressed object has no seek table (bad seekable magic)")
        if descriptor & 0x7C:
            raise ObjectCorrupted(f"seek table descriptor {descriptor:#x} sets reserved bits")
        entry_size = SEEK_ENTRY_SIZE + (4 if descriptor & 0x80 else 0)
        if frames > MAX_FRAMES:
            raise ObjectCorrupted(f"seek table claims {frames} frames")
        table_size = SKIPPABLE_HEADER_SIZE + frames * entry_size + SEEK_FOOTER_SIZE
        if table_size > stored_size:
            raise ObjectCorrupted(f"seek table of {frames} frames is larger than the object")
        raw = _read_exact(read_at, stored_size - table_size, table_size)
        magic, frame_size = _HEADER.unpack_from(raw)
        if magic != SKIPPABLE_MAGIC or frame_size != table_size - SKIPPABLE_HEADER_SIZE:
            raise ObjectCorrupted("seek table's skippable-frame header does not match its footer")
        stored_offsets, original_offsets = [0], [0]
        for index in range(frames):
            stored, original = _ENTRY.unpack_from(raw, SKIPPABLE_HEADER_SIZE + index * entry_size)
            if stored == 0 or original > MAX_FRAME_SIZE:
                raise ObjectCorrupted(f"seek table entry {index} is impossible ({stored} B -> {original} B)")
            stored_offsets.append(stored_offsets[-1] + stored)
            original_offsets.append(original_offsets[-1] + original)
        if stored_offsets[-1] + table_size != stored_size:
            raise ObjectCorrupted(f"frames and seek table add up to {stored_offsets[-1] + table_size} B, "
                                  f"the object has {stored_size} B")
        return cls(tuple(stored_offsets), tuple(original_offsets), table_size)

    def frames_for(self, offset: int, length: int) -> range:
        """Indexes of the frames that hold original bytes ``[offset, offset + length)``."""
        if length <= 0:
            return range(0)
        first = bisect.bisect_right(self.original_offsets, offset) - 1
        last = bisect.bisect_right(self.original_offsets, offset + length - 1) - 1
        return range(first, last + 1)


class StoredReader:
    """Reads original bytes out of a stored object, decoding only the frames a range touches.

    The seek table is read once, on construction. ``frames_decoded`` counts every frame decoded over the
    reader's life (the frames-decoded metric); each decoded frame is checked against the seek table and
    against zstd's own content checksum, and any mismatch raises ``ObjectCorrupted`` (not retryable).
    """

    def __init__(self, read_at: ReadAt, stored_size: int) -> None:
        self._read_at = read_at
        self.table = SeekTable.read(read_at, stored_size)
        self.frames_decoded = 0

    @property
    def original_size(self) -> int:
        return self.table.original_size

    def decode_frame(self, index: int) -> bytes:
        """One frame's original bytes, verified."""
        table = self.table
        start, end = table.stored_offsets[index], table.stored_offsets[index + 1]
        expected = table.original_offsets[index + 1] - table.original_offsets[index]
        frame = _read_exact(self._read_at, start, end - start)
        try:
            declared = zstandard.get_frame_parameters(frame).content_size
            if declared in (0, zstandard.CONTENTSIZE_UNKNOWN):  # no size recorded: decode at most the table's
                data = _decompressor().decompress(frame, max_output_size=expected + 1)
            elif declared != expected:  # checked before decoding: a lying header must not allocate
                raise ObjectCorrupted(f"frame {index} declares {declared} B, the seek table {expected} B")
            else:
                data = _decompressor().decompress(frame)
        except zstandard.ZstdError as error:
            raise ObjectCorrupted(f"frame {index} of the compressed object does not decode: {error}") \
                from None
        if len(data) != expected:
            raise ObjectCorrupted(f"frame {index} decoded to {len(data)} B, the seek table says {expected} B")
        self.frames_decoded += 1
        return data

    def iter_range(self, offset: int, length: int) -> Iterator[bytes]:
        """Original bytes ``[offset, offset + length)`` as one piece per frame (memory: one frame)."""
        size = self.original_size
        if offset < 0 or length < 0 or offset + length > size:
            raise RangeNotSatisfiable(f"range {offset}+{length} is outside the object of {size} B", size)
        end = offset + length
        for index in self.table.frames_for(offset, length):
            frame_start = self.table.original_offsets[index]
            data = self.decode_frame(index)
            yield data[max(offset - frame_start, 0) : min(end - frame_start, len(data))]

    def read(self, offset: int = 0, length: int | None = None) -> bytes:
        """Original bytes ``[offset, offset + length)`` (to the end when ``length`` is None)."""
        if length is None:
            length = self.original_size - offset
        return b"".join(self.iter_range(offset, length))


def read_at_fd(fd: int) -> ReadAt:
    """A ``read_at`` over an open file descriptor (``os.pread``: no shared file position)."""

    def read_at(offset: int, length: int) -> bytes:
        return os.pread(fd, length, offset)

    return read_at


def _read_exact(read_at: ReadAt, offset: int, length: int) -> bytes:
    data = read_at(offset, length)
    if len(data) != length:
        raise ObjectCorrupted(f"compressed object is truncated: {len(data)} of {length} B at {offset}")
    return data
