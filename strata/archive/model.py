"""The small shapes shared by readers and writers: a member, a zero-copy file region, a source.

Member names are reported exactly as the archive spells them, including absolute paths and ``..``
segments: readers use names only for matching and never to build a filesystem path, so a hostile name
cannot make Strata write anywhere. The caller that exposes names (listing, GetBatch) decides what to do
with them; nothing here sanitises or rejects them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from strata.core.errors import StrataError


class Member(msgspec.Struct, frozen=True, gc=False):
    """One regular file inside an archive.

    ``data_offset`` is the byte offset of the member's bytes in the shard file when they are stored
    there verbatim (every uncompressed TAR member), so the caller can ``sendfile`` them; -1 otherwise.
    ``position`` locates the member for its reader and is meaningless to anyone else: the data offset
    for TAR, the offset in the decompressed tar stream for TGZ/TAR.LZ4, the local-header offset for ZIP.
    ``gc=False``: members hold only str/int, and an index of a million of them should not be traced.
    """

    name: str
    size: int
    mtime: int = 0
    data_offset: int = -1
    position: int = -1


@dataclass(frozen=True, slots=True)
class FileRegion:
    """``count`` bytes of an open file at ``offset``, to be sent zero-copy. The caller owns and closes fd."""

    fd: int
    offset: int
    count: int


Source = bytes | bytearray | memoryview | FileRegion | Iterable[bytes]
"""What a writer accepts as a member's body: bytes in memory, a file region, or a stream of chunks."""

Output = bytes | FileRegion
"""What a writer produces: bytes to send as they are, or a region to send with ``sendfile``."""


class SourceSizeMismatch(StrataError):
    """A member's source produced fewer or more bytes than announced in its header.

    The header is already on the wire by then, so the stream is corrupt from that point: the caller
    must truncate it (this is a server-side failure, hence 500, not a client error).
    """

    def __init__(self, name: str, expected: int, got: int) -> None:
        more = "more" if got > expected else "fewer"
        super().__init__(f"{name}: source produced {more} bytes ({got}) than its size ({expected})")
        self.expected = expected
        self.got = got


class CorruptIndex(StrataError):
    """A persisted TAR index could not be decoded or does not fit the shard: rebuild it."""
