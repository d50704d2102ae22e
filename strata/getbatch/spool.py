"""A bounded spool for the multipart answer (``strm: false``): memory first, then an unnamed temp file.

The multipart answer puts the metadata (every entry's size and error) before the archive, so the
archive must be complete before the first byte goes out. Up to ``MEMORY_LIMIT`` bytes stay in memory;
past that everything moves to an ``O_TMPFILE``-style temporary file (unlinked from the start, so a crash
leaves nothing behind) and goes out with sendfile. File regions are copied file-to-file in the kernel
(``copy_file_range``) and never pass through Python.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from strata.archive import FileRegion, Output, SourceSizeMismatch
from strata.archive.streams import READ_CHUNK
from strata.archive.tar_writer import region_chunks

_SOURCE = "get-batch: a spooled source file"

MEMORY_LIMIT = 32 << 20


class Spool:
    def __init__(self, directory: str, memory_limit: int = MEMORY_LIMIT) -> None:
        self.directory = directory
        self.memory_limit = memory_limit
        self.parts: list[bytes] = []
        self.size = 0
        self.fd = -1

    def write(self, item: Output) -> None:
        if isinstance(item, FileRegion):
            count = item.count
            if self.fd < 0 and self.size + count > self.memory_limit:
                self._spill()
            if self.fd < 0:
                self.parts.extend(region_chunks(_SOURCE, item))
            else:
                _copy_region(item, self.fd, self.size)
            self.size += count
            return
        if not item:
            return
        if self.fd < 0 and self.size + len(item) > self.memory_limit:
            self._spill()
        if self.fd < 0:
            self.parts.append(item)
        else:
            _write_all(self.fd, item, self.size)
        self.size += len(item)

    def _spill(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.directory, prefix=".getbatch-") as handle:
            self.fd = os.dup(handle.fileno())
        offset = 0
        for part in self.parts:
            _write_all(self.fd, part, offset)
            offset += len(part)
        self.parts = []

    def items(self) -> Iterator[bytes | FileRegion]:
        """What to send: the in-memory parts (joined into large chunks), or the whole file zero-copy."""
        if self.fd >= 0:
            yield FileRegion(self.fd, 0, self.size)
            return
        batch: list[bytes] = []
        batched = 0
        for part in self.parts:
            batch.append(part)
            batched += len(part)
            if batched >= READ_CHUNK:
                yield b"".join(batch)
                batch, batched = [], 0
        if batch:
            yield b"".join(batch)

    def close(self) -> None:
        self.parts = []
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _copy_region(region: FileRegion, fd: int, at: int) -> None:
    offset, remaining = region.offset, region.count
    while remaining > 0:
        try:
            copied = os.copy_file_range(region.fd, fd, remaining, offset, at)
        except OSError:  # a filesystem pair without copy_file_range: copy through memory
            for chunk in region_chunks(_SOURCE, FileRegion(region.fd, offset, remaining)):
                _write_all(fd, chunk, at)
                at += len(chunk)
            return
        if copied == 0:
            raise SourceSizeMismatch(_SOURCE, region.count, region.count - remaining)
        offset += copied
        at += copied
        remaining -= copied
