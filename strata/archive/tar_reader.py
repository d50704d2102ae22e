"""Reading members of TAR shards: uncompressed (indexed, pread, zero-copy) and compressed (streamed).

An uncompressed TAR is random-access: the index (built from headers only, or handed in already built)
maps a name to the data offset, and a member is read with pread or sent as a ``FileRegion``. Over a
``RandomAccess`` shard (a compressed object decoded frame by frame) the same index and offsets hold, but
no file has the bytes verbatim: ``region`` is None and reads go through ``RandomAccess.pread``, which
touches only the part of the shard a member lies in.

A TGZ or TAR.LZ4 shard can only be read front to back. The streamed reader walks headers lazily, keeps
every member it has passed (so a later ``find`` of an earlier name costs nothing) and keeps one
decompression cursor: reading members in archive order -- what GetBatch does with several entries of one
shard -- is a single pass over the shard; going backwards restarts decompression from the beginning.
"""

from __future__ import annotations

from collections.abc import Iterator

from strata.archive.model import FileRegion, Member, RandomAccess
from strata.archive.streams import READ_CHUNK, InflatingSource, pread_of, read_exact
from strata.archive.tar_headers import TarWalker, padding
from strata.archive.tar_index import TarIndex, build_tar_index
from strata.core.errors import InvalidRequest, NotFound


def member_not_found(name: str) -> NotFound:
    return NotFound(f'archive member "{name}" does not exist')


class IndexedTarReader:
    """An uncompressed TAR shard; the index is built on first use unless a fitting one was given."""

    def __init__(self, source: int | RandomAccess, size: int, index: TarIndex | None = None) -> None:
        self.source = source
        self.fd = source if isinstance(source, int) else None  # what a FileRegion can point at, if anything
        self.size = size
        self._pread = pread_of(source)
        self._index = index if index is not None and index.shard_size == size else None
        self.built_index: TarIndex | None = None  # set when this reader walked the shard itself

    def index(self) -> TarIndex:
        if self._index is None:
            self._index = self.built_index = build_tar_index(self.source, self.size)
        return self._index

    def members(self) -> Iterator[Member]:
        return iter(self.index().members)

    def find(self, name: str) -> Member:
        member = self.index().lookup(name)
        if member is None:
            raise member_not_found(name)
        return member

    def read(self, member: Member, start: int, count: int) -> Iterator[bytes]:
        offset = self._checked_offset(member) + start
        end = offset + count
        while offset < end:
            chunk = read_exact(self._pread, min(READ_CHUNK, end - offset), offset)
            offset += len(chunk)
            yield chunk

    def region(self, member: Member, start: int, count: int) -> FileRegion | None:
        offset = self._checked_offset(member) + start
        return None if self.fd is None else FileRegion(self.fd, offset, count)

    def _checked_offset(self, member: Member) -> int:
        if member.data_offset < 0 or member.data_offset + member.size > self.size:
            raise InvalidRequest(
                f'archive member "{member.name}" lies outside the shard (truncated archive?)'
            )
        return member.data_offset


class StreamedTarReader:
    """A TGZ (``gzip=True``) or TAR.LZ4 shard, decompressed as it is walked."""

    def __init__(self, source: int | RandomAccess, size: int, gzip: bool) -> None:
        self._source = InflatingSource(source, size, gzip)
        self._walker = TarWalker()
        self._next_header = 0  # decompressed offset of the next header to walk
        self._passed: list[Member] = []
        self._by_name: dict[str, Member] = {}
        self._complete = False

    def _advance(self) -> Member | None:
        """Walk to the next served member; None at the end of the archive."""
        while not self._complete:
            self._source.seek_forward(self._next_header)
            entry = self._walker.next_entry(self._source)
            if entry is None:
                self._complete = True
                break
            self._next_header = entry.data_offset + entry.size + padding(entry.size)
            if entry.served is not None:
                member = Member(entry.served, entry.size, entry.mtime, -1, entry.data_offset)
                self._passed.append(member)
                self._by_name.setdefault(member.name, member)
                return member
        return None

    def members(self) -> Iterator[Member]:
        i = 0
        while True:
            if i < len(self._passed):
                yield self._passed[i]
                i += 1
            elif self._advance() is None:
                return

    def find(self, name: str) -> Member:
        member = self._by_name.get(name)
        while member is None and not self._complete:
            passed = self._advance()
            if passed is not None and passed.name == name:
                member = passed
        if member is None:
            raise member_not_found(name)
        return member

    def read(self, member: Member, start: int, count: int) -> Iterator[bytes]:
        position = member.position + start
        end = position + count
        while position < end:
            # Re-seek every chunk: the caller may interleave other reads on this reader between chunks.
            self._source.seek_forward(position)
            chunk = self._source.read(min(READ_CHUNK, end - position))
            if not chunk:
                raise InvalidRequest(f'archive is truncated (inside member "{member.name}")')
            position += len(chunk)
            yield chunk

    def region(self, member: Member, start: int, count: int) -> FileRegion | None:
        return None
