"""Request bodies for uploads: exactly ``size`` bytes from bytes, a binary file or chunks, in bounded memory.

Each official client wants its body its own way (boto3 bytes per part, google-cloud-storage and
azure-storage-blob a file or an iterable, urllib3 an iterable); these helpers give every shape from
any ``Body`` without ever holding more than one chunk or one part. A body that ends early or runs long
is the caller's mistake and raises ``InvalidRequest`` before the backend could store a wrong object.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from strata.core.errors import InvalidRequest

from .interface import Body

CHUNK_SIZE = 1024 * 1024


def iter_body(body: Body, size: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The body's bytes in chunks, checked to add up to ``size`` exactly.

    The check for extra bytes runs before the last chunk is handed out, so a client that stops reading
    at ``size`` (as the cloud clients do) still meets the error before it completes the upload.
    """
    sent = 0
    source = iter(_chunks(body, size, chunk_size))
    for chunk in source:
        if not chunk:
            continue
        sent += len(chunk)
        if sent > size:
            raise InvalidRequest(f"the body is longer than its declared size ({size} bytes)")
        if sent == size:
            if any(extra for extra in source):
                raise InvalidRequest(f"the body is longer than its declared size ({size} bytes)")
            yield chunk
            return
        yield chunk
    if sent < size:
        raise InvalidRequest(f"the body ended after {sent} of {size} bytes")


def open_body(body: Body, size: int, chunk_size: int = CHUNK_SIZE) -> io.BufferedReader:
    """A buffered binary file over the body: ``read(n)`` gives exactly n bytes until the end."""
    return io.BufferedReader(_ChunkFile(iter_body(body, size, chunk_size)), buffer_size=chunk_size)


def _chunks(body: Body, size: int, chunk_size: int) -> Iterable[bytes]:
    if isinstance(body, bytes | bytearray | memoryview):
        view = memoryview(body)
        return (bytes(view[start : start + chunk_size]) for start in range(0, len(view), chunk_size))
    if hasattr(body, "read"):
        return _read_file(body, size, chunk_size)  # type: ignore[arg-type]
    return (bytes(chunk) for chunk in body)  # type: ignore[union-attr]


def _read_file(file: io.RawIOBase | io.BufferedIOBase, size: int, chunk_size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = file.read(min(chunk_size, left))
        if not chunk:
            return
        left -= len(chunk)
        yield bytes(chunk)
    if file.read(1):
        raise InvalidRequest(f"the body is longer than its declared size ({size} bytes)")


class _ChunkFile(io.RawIOBase):
    """A raw readable file over an iterator of chunks (what ``io.BufferedReader`` wraps)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes read so far (google-cloud-storage checks a resumable upload starts at 0)."""
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Only "where am I" (``seek(0, SEEK_CUR)``): a stream cannot go back."""
        if offset == 0 and whence == io.SEEK_CUR:
            return self._position
        raise io.UnsupportedOperation("an upload body cannot seek")

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self._position += count
        return count


def read_whole(body: Body, size: int) -> bytes:
    """All ``size`` bytes at once: for one part of a multipart upload, whose size the caller bounds."""
    if isinstance(body, bytes) and len(body) == size:
        return body
    return open_body(body, size).read(size) if size else b"".join(iter_body(body, 0))
