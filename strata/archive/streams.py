"""Byte sources over a shard -- an open file descriptor or a ``RandomAccess`` -- never holding more than a
chunk in memory.

Everything reads at an explicit offset: ``os.pread`` on a descriptor, whose own file position is never
used or moved, so one descriptor can be shared by several readers (or by a concurrent GET); or
``RandomAccess.pread`` on a shard whose bytes are in no file as they are (a compressed object, decoded
frame by frame). Which of the two is decided once, when a source is built (``pread_of``), so the
descriptor path costs what it did before random-access sources existed: one bound ``os.pread`` call.

- ``PreadSource``: the raw shard; ``skip`` is free, which is what makes header-only TAR walks cheap.
- ``InflatingSource``: the decompressed stream of a TGZ or TAR.LZ4 shard; ``skip`` decompresses and
  discards, ``restart`` goes back to the beginning. Truncated or garbled input is ``InvalidRequest``.
- ``PreadFile``: a seekable read-only file object for libraries that want one (``zipfile``).
"""

from __future__ import annotations

import functools
import io
import os
import zlib
from collections.abc import Callable
from typing import Protocol

from strata.archive import _lz4
from strata.archive.model import RandomAccess
from strata.core.errors import InvalidRequest

READ_CHUNK = 1 << 20  # bytes per pread of member data
_COMPRESSED_CHUNK = 256 << 10  # compressed bytes fed to a decompressor at a time
_OUTPUT_CHUNK = 256 << 10  # most decompressed bytes produced per step
_GZIP_MAGIC = b"\x1f\x8b"

Pread = Callable[[int, int], bytes]
"""``pread(count, offset)``: up to ``count`` bytes of the shard at ``offset``."""


class ByteSource(Protocol):
    """A forward stream with a position; what the TAR header walker reads from."""

    def tell(self) -> int: ...
    def read(self, n: int) -> bytes: ...
    def skip(self, n: int) -> None: ...


def pread_of(source: int | RandomAccess) -> Pread:
    """How to read ``source``, decided once: ``os.pread`` bound to a descriptor, or the source's own."""
    if isinstance(source, int):
        return functools.partial(os.pread, source)
    return source.pread


def read_exact(pread: Pread, count: int, offset: int) -> bytes:
    """``count`` bytes at ``offset``; a short read means the shard is shorter than its archive says."""
    if offset < 0:
        raise InvalidRequest(f"malformed archive (points at offset {offset})")
    data = pread(count, offset)
    while len(data) < count:
        more = pread(count - len(data), offset + len(data))
        if not more:
            raise InvalidRequest(f"archive is truncated (wanted {count} bytes at offset {offset})")
        data += more
    return data


def pread_exact(source: int | RandomAccess, count: int, offset: int) -> bytes:
    """``read_exact`` for a one-off read; code reading a shard repeatedly keeps ``pread_of(source)``."""
    return read_exact(pread_of(source), count, offset)


class PreadSource:
    """The shard itself, ``size`` bytes long."""

    __slots__ = ("_pread", "position", "size", "source")

    def __init__(self, source: int | RandomAccess, size: int, position: int = 0) -> None:
        self.source = source
        self.size = size
        self.position = position
        self._pread = pread_of(source)

    def tell(self) -> int:
        return self.position

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the shard."""
        n = max(0, min(n, self.size - self.position))
        data = read_exact(self._pread, n, self.position) if n else b""
        self.position += len(data)
        return data

    def skip(self, n: int) -> None:
        if self.position + n > self.size:
            raise InvalidRequest(f"archive is truncated (member data ends past {self.size} bytes)")
        self.position += n


class _Decoder(Protocol):
    def feed(self, data: bytes, max_out: int) -> bytes: ...
    def has_pending_output(self) -> bool: ...
    def leftover(self) -> bytes: ...
    @property
    def eof(self) -> bool: ...


class _GzipDecoder:
    """One gzip member; zlib keeps unconsumed input in ``unconsumed_tail`` when output is capped."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, max_out: int) -> bytes:
        return self._inflater.decompress(data, max_out)

    def has_pending_output(self) -> bool:
        return bool(self._inflater.unconsumed_tail)

    def leftover(self) -> bytes:
        # Input zlib has not consumed: the capped rest of this member, or what follows the member.
        return self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail

    @property
    def eof(self) -> bool:
        return self._inflater.eof


class _Lz4Decoder:
    """One lz4 frame; lz4 keeps pending output internally and wants ``b""`` to release it."""

    def __init__(self) -> None:
        self._frame = _lz4.new_decompressor()

    def feed(self, data: bytes, max_out: int) -> bytes:
        return self._frame.decompress(data, max_out)

    def has_pending_output(self) -> bool:
        return not self._frame.needs_input and not self._frame.eof

    def leftover(self) -> bytes:
        return self._frame.unused_data if self._frame.eof else b""

    @property
    def eof(self) -> bool:
        return self._frame.eof


class InflatingSource:
    """The decompressed stream of a gzip (``gzip=True``) or lz4-frame shard.

    Concatenated gzip members / lz4 frames are one stream (``cat a.tgz b.tgz`` is valid). Bytes after
    the last member that do not start another one are ignored, as ``gzip -d`` does.
    """

    def __init__(self, source: int | RandomAccess, size: int, gzip: bool) -> None:
        self.source = source
        self.size = size
        self._gzip = gzip
        self._pread = pread_of(source)
        self.restart()

    def restart(self) -> None:
        self._decoder: _Decoder = _GzipDecoder() if self._gzip else _Lz4Decoder()
        self._input = b""  # compressed bytes read but not yet accepted by the decoder
        self._input_offset = 0  # next compressed byte to pread
        self._buffer = b""  # decompressed bytes not yet returned
        self._buffer_start = 0
        self._position = 0  # decompressed offset of the next byte returned
        self._ended = False

    def tell(self) -> int:
        return self._position

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream."""
        parts: list[bytes] = []
        wanted = n
        while wanted > 0:
            if self._buffer_start >= len(self._buffer):
                self._buffer, self._buffer_start = self._produce(), 0
                if not self._buffer:
                    break
            piece = self._buffer[self._buffer_start : self._buffer_start + wanted]
            self._buffer_start += len(piece)
            wanted -= len(piece)
            parts.append(piece)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._position += len(data)
        return data

    def skip(self, n: int) -> None:
        while n > 0:
            available = len(self._buffer) - self._buffer_start
            if available == 0:
                self._buffer, self._buffer_start = self._produce(), 0
                if not self._buffer:
                    raise InvalidRequest("archive is truncated (member data ends past the stream)")
                continue
            step = min(n, available)
            self._buffer_start += step
            self._position += step
            n -= step

    def seek_forward(self, position: int) -> None:
        """Move to ``position``, restarting from the beginning if it is behind us."""
        if position < self._position:
            self.restart()
        self.skip(position - self._position)

    def _produce(self) -> bytes:
        """The next non-empty piece of decompressed output, or ``b""`` at the clean end of the stream."""
        try:
            return self._produce_unchecked()
        except (zlib.error, RuntimeError, ValueError, EOFError) as exc:  # lz4 reports RuntimeError
            kind = "gzip" if self._gzip else "lz4"
            raise InvalidRequest(f"malformed {kind} archive: {exc}") from None

    def _produce_unchecked(self) -> bytes:
        while not self._ended:
            decoder = self._decoder
            if decoder.eof:
                # After a member ends, what follows is either another member or ignorable padding.
                rest, self._input = self._input, b""
                while len(rest) < 4 and self._input_offset < self.size:
                    rest += self._read_compressed()
                if self._starts_next_member(rest):
                    self._decoder = _GzipDecoder() if self._gzip else _Lz4Decoder()
                    self._input = rest
                    continue
                self._ended = True
                break
            if self._input or decoder.has_pending_output():
                data, self._input = self._input, b""
            else:
                data = self._read_compressed()
                if not data:
                    # Input exhausted: let the decoder release what it still holds, else it is truncated.
                    out = decoder.feed(b"", _OUTPUT_CHUNK)
                    if out:
                        self._input = decoder.leftover()
                        return out
                    if decoder.eof:
                        continue
                    raise InvalidRequest(
                        f"archive is truncated (compressed stream ends at {self.size} bytes)"
                    )
            out = decoder.feed(data, _OUTPUT_CHUNK)
            self._input = decoder.leftover()
            if out:
                return out
        return b""

    def _read_compressed(self) -> bytes:
        count = min(_COMPRESSED_CHUNK, self.size - self._input_offset)
        if count <= 0:
            return b""
        data = self._pread(count, self._input_offset)
        self._input_offset += len(data)
        return data

    def _starts_next_member(self, rest: bytes) -> bool:
        return rest.startswith(_GZIP_MAGIC if self._gzip else _lz4.FRAME_MAGIC)


class PreadFile(io.RawIOBase):
    """A read-only, seekable file object over ``source`` that reads at offsets and never closes it.

    A descriptor is read with ``preadv`` straight into the caller's buffer (no copy); a ``RandomAccess``
    hands back bytes, copied into it.
    """

    def __init__(self, source: int | RandomAccess, size: int) -> None:
        super().__init__()
        self._fd = source if isinstance(source, int) else -1  # decided once: -1 reads through _pread
        self._pread = pread_of(source)
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        count = min(len(buffer), self._size - self._position)
        if count <= 0:
            return 0
        if self._fd >= 0:
            n = os.preadv(self._fd, [memoryview(buffer)[:count]], self._position)
        else:
            data = self._pread(count, self._position)
            n = len(data)
            buffer[:n] = data
        self._position += n
        return n
