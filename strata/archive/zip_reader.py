"""Reading members of ZIP shards through the stdlib's ``zipfile`` over a pread-backed file object.

The shard is an open descriptor or a ``RandomAccess`` (a compressed object decoded frame by frame); for
the latter nothing is verbatim in a file, so ``region`` is None and stored members are read through it.

``zipfile`` reads the central directory once (memory grows with the number of entries, not their size)
and handles ZIP64. Stored (uncompressed, unencrypted) members are read straight from the shard with
pread -- or handed out as a ``FileRegion`` for zero-copy -- at the offset found in their local header;
their CRC is then not checked, the same trade TAR makes. Compressed members stream through ``zipfile``,
which checks the CRC when a member is read to its end.

Entries are classified by ``served_name`` on their name as stored (``orig_filename``: ``zipfile`` cuts
``filename`` at a NUL, which would hide a ``"a\\0../../x"`` trick), so symlinks, directories and unsafe
names are not members.
"""

from __future__ import annotations

import calendar
import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import TypeVar

from strata.archive.model import FileRegion, Member, RandomAccess, served_name
from strata.archive.streams import READ_CHUNK, PreadFile, pread_of, read_exact
from strata.archive.tar_reader import member_not_found
from strata.core.errors import InvalidRequest

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_EXTENDED_TIMESTAMP = 0x5455
# What zipfile raises for malformed archives; a real I/O error (OSError with errno) still propagates.
_MALFORMED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    UnicodeDecodeError,
    KeyError,
    IndexError,
)
_T = TypeVar("_T")


def _guarded(what: str, action: Callable[..., _T], *args: object) -> _T:
    try:
        return action(*args)
    except _MALFORMED as exc:
        raise InvalidRequest(f"malformed zip archive ({what}): {exc}") from None


def _is_regular(info: zipfile.ZipInfo) -> bool:
    if info.is_dir():
        return False
    # DOS-made entries, and some unix tools, carry no file type bits: those are files too.
    return stat.S_IFMT(info.external_attr >> 16) in (0, stat.S_IFREG)


def _mtime(info: zipfile.ZipInfo) -> int:
    """Unix seconds: the extended-timestamp extra field when present, else the DOS time read as UTC."""
    extra, pos = info.extra, 0
    while pos + 4 <= len(extra):
        field_id, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if field_id == _EXTENDED_TIMESTAMP and len(body) >= 5 and body[0] & 1:
            return int.from_bytes(body[1:5], "little", signed=True)
        pos += 4 + length
    try:
        return calendar.timegm((*info.date_time, 0, 0, 0))
    except (ValueError, OverflowError):
        return 0


class ZipReader:
    def __init__(self, source: int | RandomAccess, size: int) -> None:
        self.source = source
        self.fd = source if isinstance(source, int) else None  # what a FileRegion can point at, if anything
        self.size = size
        self._pread = pread_of(source)
        self._archive: zipfile.ZipFile | None = None
        self._members: list[Member] | None = None
        self._by_name: dict[str, Member] = {}
        self._infos: dict[int, tuple[str, zipfile.ZipInfo]] = {}  # served name and info by Member.position

    def _open(self) -> zipfile.ZipFile:
        if self._archive is None:
            stream = io.BufferedReader(PreadFile(self.source, self.size), 64 << 10)
            self._archive = _guarded("central directory", zipfile.ZipFile, stream)
        return self._archive

    def _listing(self) -> list[Member]:
        if self._members is None:
            members: list[Member] = []
            for info in self._open().infolist():
                name = served_name(info.orig_filename, _is_regular(info))
                if name is None:
                    continue
                member = Member(name, info.file_size, _mtime(info), -1, info.header_offset)
                members.append(member)
                self._by_name.setdefault(member.name, member)
                self._infos[info.header_offset] = (name, info)
            self._members = members
        return self._members

    def members(self) -> Iterator[Member]:
        return iter(self._listing())

    def find(self, name: str) -> Member:
        self._listing()
        member = self._by_name.get(name)
        if member is None:
            raise member_not_found(name)
        return member

    def _info(self, member: Member) -> zipfile.ZipInfo:
        self._listing()
        served = self._infos.get(member.position)
        if served is None or served[0] != member.name:
            raise member_not_found(member.name)
        return served[1]

    def _stored_offset(self, info: zipfile.ZipInfo) -> int | None:
        """Where a stored, unencrypted member's bytes start in the shard; None for any other member."""
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
        if info.compress_size != info.file_size:
            raise InvalidRequest(f'malformed zip archive: stored member "{info.filename}" has two sizes')
        signature: bytes
        name_length: int
        extra_length: int
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(
            read_exact(self._pread, _LOCAL_HEADER.size, info.header_offset)
        )
        if signature != b"PK\x03\x04":
            raise InvalidRequest(f'malformed zip archive: bad local header for "{info.filename}"')
        offset = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        if offset + info.file_size > self.size:
            raise InvalidRequest(f'archive is truncated (inside member "{info.filename}")')
        return offset

    def region(self, member: Member, start: int, count: int) -> FileRegion | None:
        info = self._info(member)
        if self.fd is None:
            return None
        offset = self._stored_offset(info)
        return None if offset is None else FileRegion(self.fd, offset + start, count)

    def read(self, member: Member, start: int, count: int) -> Iterator[bytes]:
        info = self._info(member)
        offset = self._stored_offset(info)
        if offset is not None:
            position, end = offset + start, offset + start + count
            while position < end:
                chunk = read_exact(self._pread, min(READ_CHUNK, end - position), position)
                position += len(chunk)
                yield chunk
            return
        yield from self._inflate(info, start, count)

    def _inflate(self, info: zipfile.ZipInfo, start: int, count: int) -> Iterator[bytes]:
        archive = self._open()
        with _guarded("open member", archive.open, info) as stream:
            to_skip, remaining = start, count
            reads_to_end = start + count == info.file_size
            while to_skip > 0:
                skipped = _guarded("read member", stream.read, min(READ_CHUNK, to_skip))
                if not skipped:
                    raise InvalidRequest(f'archive is truncated (inside member "{info.filename}")')
                to_skip -= len(skipped)
            while remaining > 0:
                chunk = _guarded("read member", stream.read, min(READ_CHUNK, remaining))
                if not chunk:
                    raise InvalidRequest(f'archive is truncated (inside member "{info.filename}")')
                remaining -= len(chunk)
                yield chunk
            if reads_to_end:
                _guarded("check member", stream.read, 1)  # reaching EOF makes zipfile check the CRC

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None
