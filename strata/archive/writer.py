"""The writer interface GetBatch and the archive job share, and the factory that picks a format.

Contract (who does what):
- ``add(name, size, source, mtime, mode)`` yields the member's output items in order: ``bytes`` to
  send as they are and, for uncompressed TAR only, ``FileRegion`` to send with ``sendfile`` (the caller
  owns the region's fd and closes it after the item is sent). Consume it fully before the next call.
- ``size`` is announced in the header before the body: a source that yields fewer or more bytes raises
  ``SourceSizeMismatch`` and the caller must truncate the stream (no valid archive can follow).
- ``flush()`` yields whatever output the writer still holds (compressor state included), so the client
  receives every member sent so far; use it before waiting on something slow. ``finish()`` yields the
  trailer; after it the writer is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from strata.archive.formats import TAR, TAR_LZ4, TGZ, format_of
from strata.archive.model import Output, Source
from strata.archive.tar_writer import CompressedTarWriter, TarWriter
from strata.archive.zip_writer import ZipWriter


class ArchiveWriter(Protocol):
    def add(
        self, name: str, size: int, source: Source, mtime: int = 0, mode: int = 0o644
    ) -> Iterator[Output]: ...

    def flush(self) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


def new_writer(fmt: str, *, zip_level: int = 0) -> ArchiveWriter:
    """A streaming writer for ``fmt`` (any spelling ``format_of`` accepts); ``zip_level`` > 0 deflates ZIP."""
    canonical = format_of("", fmt)
    if canonical == TAR:
        return TarWriter()
    if canonical in (TGZ, TAR_LZ4):
        return CompressedTarWriter(gzip=canonical == TGZ)
    return ZipWriter(zip_level)
