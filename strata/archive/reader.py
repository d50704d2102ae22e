"""``ArchiveReader``: list, find, match and read members of a shard, whatever its format.

The reader works over an open file descriptor the caller owns (and closes after ``close()``), or over a
``RandomAccess`` -- a shard whose bytes are in no file as they are, such as a compressed object read
through its seek table, decoding only the frames a read touches. For the latter ``region()`` is always
None and every byte comes through ``RandomAccess.pread``; callers already fall back to ``read()`` then,
as for TGZ members. The reader never reads a whole shard into memory and never writes anywhere.
Members are the entries ``served_name`` accepts (regular files with safe relative names), under the
names it answers: ``members``, ``find`` and ``match`` all see the same set, so listing, ``archpath``,
``archregx`` and GetBatch agree.

Per format (the cost model a caller can rely on):
- ``.tar``: header-only index, built once per reader or passed in (``index=``, e.g. loaded from the
  shard's xattr); members read with pread, or zero-copy via ``region()``.
- ``.tgz`` / ``.tar.lz4``: one forward decompression cursor; members in archive order cost one pass.
- ``.zip``: central directory read once; stored members as for TAR, compressed ones inflated.
A reader is not thread-safe: one per task, as GetBatch does per shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from strata.archive.formats import TAR, TAR_LZ4, TGZ, format_of
from strata.archive.matching import matcher
from strata.archive.model import FileRegion, Member, RandomAccess, served_name
from strata.archive.tar_index import TarIndex
from strata.archive.tar_reader import IndexedTarReader, StreamedTarReader, member_not_found
from strata.archive.zip_reader import ZipReader
from strata.core.errors import InvalidRequest, RangeNotSatisfiable


class _FormatReader(Protocol):
    def members(self) -> Iterator[Member]: ...
    def find(self, name: str) -> Member: ...
    def read(self, member: Member, start: int, count: int) -> Iterator[bytes]: ...
    def region(self, member: Member, start: int, count: int) -> FileRegion | None: ...


def member_span(member: Member, offset: int, length: int) -> tuple[int, int]:
    """(start, count) of a range inside a member: ``length`` -1 means to the end, and is clamped."""
    if offset < 0 or length < -1:
        raise InvalidRequest(
            f"invalid range (offset {offset}, length {length}) in archive member {member.name}"
        )
    if offset > member.size:
        raise RangeNotSatisfiable(
            f"range offset {offset} is past the end of archive member {member.name} ({member.size} bytes)",
            member.size,
        )
    available = member.size - offset
    return offset, available if length == -1 else min(length, available)


class ArchiveReader:
    def __init__(
        self, source: int | RandomAccess, size: int, fmt: str, *, index: TarIndex | None = None
    ) -> None:
        """``source`` is the shard, ``size`` bytes: an open descriptor (the caller's) or a ``RandomAccess``.
        ``index`` (TAR only) is a previously persisted index; ignored if it does not fit ``size``."""
        self.format = format_of("", fmt)
        self._tar: IndexedTarReader | None = None
        self._zip: ZipReader | None = None
        self._impl: _FormatReader
        if self.format == TAR:
            self._impl = self._tar = IndexedTarReader(source, size, index)
        elif self.format in (TGZ, TAR_LZ4):
            self._impl = StreamedTarReader(source, size, gzip=self.format == TGZ)
        else:
            self._impl = self._zip = ZipReader(source, size)

    def members(self) -> Iterator[Member]:
        """Served members in archive order: directories, links, devices and unsafe names are skipped."""
        return self._impl.members()

    def find(self, name: str) -> Member:
        """The first member called ``name`` once normalised by ``served_name`` (``./a/b`` finds ``a/b``);
        NotFound if there is none, and for a name no member can have (``../x``, ``/x``)."""
        served = served_name(name)
        if served is None:
            raise member_not_found(name)
        return self._impl.find(served)

    def read(self, member: Member, offset: int = 0, length: int = -1) -> Iterator[bytes]:
        """The member's bytes (or a range of them) in chunks of at most 1 MiB."""
        start, count = member_span(member, offset, length)
        return self._impl.read(member, start, count)

    def region(self, member: Member, offset: int = 0, length: int = -1) -> FileRegion | None:
        """The member's bytes as a zero-copy region of the shard file when they are stored verbatim
        there (every ``.tar`` member, stored ``.zip`` members); None when they must be decoded, and
        always None over a ``RandomAccess`` source (no file holds them)."""
        start, count = member_span(member, offset, length)
        return self._impl.region(member, start, count)

    def match(self, pattern: str, mode: str) -> list[Member]:
        """Members selected by ``archregx``/``archmode`` (see ``strata.archive.matching``), in order."""
        selects = matcher(pattern, mode)
        return [member for member in self._impl.members() if selects(member.name)]

    def tar_index(self) -> TarIndex:
        """The member index of a ``.tar`` shard (built now if needed), for the caller to persist."""
        if self._tar is None:
            raise InvalidRequest(f"{self.format} archives have no member index")
        return self._tar.index()

    @property
    def built_index(self) -> TarIndex | None:
        """The index this reader built by walking the shard (None if it had one given or built none):
        what the caller should persist so the next reader does not walk again."""
        return None if self._tar is None else self._tar.built_index

    def close(self) -> None:
        """Release decoder state; the file descriptor (or ``RandomAccess``) stays open: it is the caller's."""
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
