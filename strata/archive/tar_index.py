"""Member index of an uncompressed TAR shard: read one member of a huge shard without reading the shard.

Building walks headers only: one 512-byte pread per entry (plus its PAX/long-name entries), seeking past
every body -- of a descriptor or of a ``RandomAccess`` shard alike; the index is the same for both, since
offsets are into the shard's (original) bytes. The result is kept on the reader and can be persisted
by the caller (``to_bytes`` is compact msgpack, columnar: names, sizes, mtimes, offsets) in an xattr or
a side file keyed by the shard's checksum or mtime; ``from_bytes`` restores it and the reader checks it
still fits the shard's size.

Duplicate names: ``lookup`` answers the first member of that name, like every other format's reader
(streaming readers cannot know about later duplicates without reading the whole archive).
"""

from __future__ import annotations

import msgspec

from strata.archive.model import CorruptIndex, Member, RandomAccess
from strata.archive.streams import PreadSource
from strata.archive.tar_headers import TarWalker, skip_past_data

INDEX_VERSION = 2
"""2: names are served names (``served_name``); a version-1 index may hold unsafe ones, so it is rebuilt."""


class _IndexFile(msgspec.Struct, array_like=True):
    """The persisted shape: columns rather than one record per member, so keys are not repeated."""

    version: int
    shard_size: int
    names: list[str]
    sizes: list[int]
    mtimes: list[int]
    offsets: list[int]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_IndexFile)


class TarIndex:
    """The served members of a TAR shard of ``shard_size`` bytes (see ``served_name``), in archive order."""

    __slots__ = ("_by_name", "members", "shard_size")

    def __init__(self, members: list[Member], shard_size: int) -> None:
        self.members = members
        self.shard_size = shard_size
        self._by_name: dict[str, Member] | None = None

    def lookup(self, name: str) -> Member | None:
        by_name = self._by_name
        if by_name is None:
            by_name = {}
            for member in self.members:
                by_name.setdefault(member.name, member)
            self._by_name = by_name
        return by_name.get(name)

    def to_bytes(self) -> bytes:
        members = self.members
        return _encoder.encode(
            _IndexFile(
                INDEX_VERSION,
                self.shard_size,
                [m.name for m in members],
                [m.size for m in members],
                [m.mtime for m in members],
                [m.data_offset for m in members],
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TarIndex:
        """Restore a persisted index; ``CorruptIndex`` when it cannot be read (rebuild it then)."""
        try:
            stored = _decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise CorruptIndex(f"unreadable tar index: {exc}") from None
        columns = (stored.names, stored.sizes, stored.mtimes, stored.offsets)
        if stored.version != INDEX_VERSION or len({len(column) for column in columns}) != 1:
            raise CorruptIndex(
                f"tar index version {stored.version} with {len(stored.names)} names is not usable"
            )
        members = [
            Member(name, size, mtime, offset, offset)
            for name, size, mtime, offset in zip(*columns, strict=True)
        ]
        return cls(members, stored.shard_size)

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"TarIndex({len(self.members)} members, shard_size={self.shard_size})"


def build_tar_index(shard: int | RandomAccess, size: int) -> TarIndex:
    """Walk the headers of the TAR shard (an open descriptor or a ``RandomAccess``, ``size`` bytes);
    InvalidRequest if malformed."""
    source = PreadSource(shard, size)
    walker = TarWalker()
    members: list[Member] = []
    while (entry := walker.next_entry(source)) is not None:
        skip_past_data(source, entry.size)
        if (name := entry.served) is not None:
            members.append(Member(name, entry.size, entry.mtime, entry.data_offset, entry.data_offset))
    return TarIndex(members, size)
