"""The small shapes shared by readers and writers: a member, a zero-copy file region, a source, the
random-access shard a reader may read instead of a file descriptor -- and the one rule deciding which
archive entries are members at all (``served_name``).

Shards are client data, and whoever extracts what Strata hands out (a listing, an ``archregx`` TAR, a
GetBatch stream) may write those names to disk. So every reader classifies each entry with
``served_name`` before it becomes a ``Member``: only a regular file with a safe relative name is
served; anything else is not a member, for listing, lookup, matching and GetBatch alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from strata.core.errors import StrataError

_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")


def served_name(name: str, regular: bool = True) -> str | None:
    """The name an archive entry is served under, or None when it is not served at all.

    ``regular`` says whether the entry is a regular file (the reader knows its format's type bits);
    directories, symlinks, hardlinks, devices, FIFOs and sparse files are never served. A name is
    served after dropping empty and ``.`` segments (``./a//b`` is served as ``a/b``), and only when
    what remains is a non-empty relative path: not absolute (``/x``), no ``..`` segment anywhere
    (``a/../b`` included: one simple rule, no resolving), no NUL, no backslash (a path separator to
    Windows extractors) and no drive prefix (``C:``). The same function normalises a requested
    member name before lookup, so ``./a/b`` finds the member listed as ``a/b`` and an unsafe request
    finds nothing (404).
    """
    if not regular or not name or name[0] == "/" or "\x00" in name or "\\" in name:
        return None
    if name[0] == "." or "/." in name or "//" in name or name[-1] == "/":
        segments = [segment for segment in name.split("/") if segment not in ("", ".")]
        if not segments or ".." in segments:
            return None
        name = "/".join(segments)
    # else the common case: nothing to drop, and no segment can be "." or ".."
    return None if _WINDOWS_DRIVE.match(name) else name


class Member(msgspec.Struct, frozen=True, gc=False):
    """One served file inside an archive: a regular file, named as ``served_name`` answers.

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


class RandomAccess(Protocol):
    """A shard whose bytes are not verbatim in any file (e.g. decoded frame by frame from compressed
    storage), read at explicit offsets. Readers take one wherever they take a file descriptor; since no
    file holds the member bytes, ``region()`` is then always None and every read goes through ``pread``.
    The archive layer only needs this one method, so the storage below it (``strata.compress`` for
    compressed objects) stays a sibling it never imports: the objects layer passes an adapter.
    """

    def pread(self, count: int, offset: int) -> bytes:
        """Up to ``count`` bytes at ``offset`` (``os.pread``'s order); short only at the end."""
        ...


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
