"""Streaming ZIP writer: local header, body, data descriptor per member; central directory at the end.

Sizes and CRC follow each body in a data descriptor (general-purpose bit 3), so a member is written
as its bytes arrive and nothing is held in memory but one chunk and one central-directory record per
member (tens of bytes plus the name). ZIP64 records are used when they are needed -- a member or an
offset past 4 GiB, more than 65,535 members -- and only then, so small archives stay ZIP 2.0.

Members are *stored* by default, deflated on request (``level`` 1-9). Measured here on 32 MiB: CRC-32
runs at 4.2 GB/s, deflate level 1 at 51 MB/s on incompressible data (ratio 1.0 -- JPEG, PNG, compressed
NumPy: most ML samples) and 106 MB/s on text (ratio 0.44); a 4 KiB member costs 1 us stored vs 30 us
deflated. Stored output is what keeps a ZIP GetBatch near TAR speed.

Names are UTF-8 (bit 11 set when not ASCII); every member carries an extended-timestamp field with its
exact mtime, and a DOS time computed in UTC so the output does not depend on the server's time zone.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator

from strata.archive.model import FileRegion, Output, Source, SourceSizeMismatch
from strata.archive.tar_writer import checked_chunks, region_chunks
from strata.core.errors import InvalidRequest

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_DESCRIPTOR_32 = struct.Struct("<IIII")
_DESCRIPTOR_64 = struct.Struct("<IIQQ")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_LIMIT_32 = 0xFFFFFFFF
_LIMIT_16 = 0xFFFF
# Deflate can expand incompressible input by ~0.03%; members this large get ZIP64 sizes up front.
_DEFLATE_ZIP64_AT = _LIMIT_32 - (_LIMIT_32 >> 10)
_FLAG_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800
_UNIX = 3 << 8
_V20, _V45 = 20, 45


def _dos_time(mtime: int) -> tuple[int, int]:
    """(time, date) in MS-DOS format, UTC, clamped to the years DOS can say (1980-2107)."""
    t = time.gmtime(min(max(mtime, 315532800), 4354819199))
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), ((t.tm_year - 1980) << 9) | (
        t.tm_mon << 5
    ) | t.tm_mday


def _timestamp_extra(mtime: int) -> bytes:
    return struct.pack("<HHBi", 0x5455, 5, 1, min(max(mtime, -(2**31)), 2**31 - 1))


class ZipWriter:
    def __init__(self, level: int = 0) -> None:
        """``level`` 0 stores members; 1-9 deflates them at that zlib level."""
        if not 0 <= level <= 9:
            raise InvalidRequest(f"invalid zip compression level {level}")
        self._level = level
        self._offset = 0  # bytes emitted so far == offset of the next local header
        self._central: list[bytes] = []

    def add(
        self, name: str, size: int, source: Source, mtime: int = 0, mode: int = 0o644
    ) -> Iterator[Output]:
        # 1. validate what can be validated before the first byte goes out
        if isinstance(source, bytes | bytearray | memoryview) and len(source) != size:
            raise SourceSizeMismatch(name, size, len(source))
        if isinstance(source, FileRegion) and source.count != size:
            raise SourceSizeMismatch(name, size, source.count)
        try:
            encoded = name.encode()
        except UnicodeEncodeError:
            raise InvalidRequest(f"archive member name {name!r} is not valid UTF-8") from None
        if len(encoded) > _LIMIT_16:
            raise InvalidRequest(f"archive member name is longer than {_LIMIT_16} bytes")
        # 2. local header: sizes unknown (bit 3), ZIP64 announced when the member may need it
        method = 8 if self._level else 0
        flags = _FLAG_DESCRIPTOR | (0 if encoded.isascii() else _FLAG_UTF8)
        zip64 = size >= (_DEFLATE_ZIP64_AT if method else _LIMIT_32)
        dos_time, dos_date = _dos_time(mtime)
        extra = _timestamp_extra(mtime)
        local_extra = extra + (struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b"")
        header_offset = self._offset
        sentinel = _LIMIT_32 if zip64 else 0
        version = _V45 if zip64 else _V20
        local = _LOCAL.pack(
            0x04034B50, version, flags, method, dos_time, dos_date, 0, sentinel, sentinel,
            len(encoded), len(local_extra),
        )  # fmt: skip
        # 3. body: CRC (and deflate) as the bytes pass
        crc, compressed = 0, 0
        deflater = zlib.compressobj(self._level, zlib.DEFLATED, -zlib.MAX_WBITS) if method else None
        pending = [local, encoded, local_extra]
        for chunk in self._body_chunks(name, size, source):
            crc = zlib.crc32(chunk, crc)
            out = deflater.compress(chunk) if deflater is not None else chunk
            if out:
                compressed += len(out)
                if pending:
                    pending.append(out)
                    yield self._emit(b"".join(pending))
                    pending = []
                else:
                    yield self._emit(out)
        if deflater is not None:
            tail = deflater.flush()
            compressed += len(tail)
            pending.append(tail)
        # 4. data descriptor, and the central record kept for finish()
        if zip64:
            pending.append(_DESCRIPTOR_64.pack(0x08074B50, crc, compressed, size))
        else:
            if compressed > _LIMIT_32:
                raise InvalidRequest(f"{name}: deflated size exceeds 4 GiB without ZIP64")
            pending.append(_DESCRIPTOR_32.pack(0x08074B50, crc, compressed, size))
        yield self._emit(b"".join(pending))
        self._central.append(
            self._central_record(
                encoded, flags, method, dos_time, dos_date, crc, compressed, size, header_offset, extra, mode
            )
        )

    @staticmethod
    def _body_chunks(name: str, size: int, source: Source) -> Iterator[bytes]:
        if isinstance(source, bytes | bytearray | memoryview):
            return iter((bytes(source),)) if size else iter(())
        if isinstance(source, FileRegion):
            return region_chunks(name, source)
        return checked_chunks(name, size, source)

    def _emit(self, data: bytes) -> bytes:
        self._offset += len(data)
        return data

    @staticmethod
    def _central_record(
        encoded: bytes,
        flags: int,
        method: int,
        dos_time: int,
        dos_date: int,
        crc: int,
        compressed: int,
        size: int,
        header_offset: int,
        extra: bytes,
        mode: int,
    ) -> bytes:
        zip64_fields = [value for value in (size, compressed, header_offset) if value >= _LIMIT_32]
        if zip64_fields:
            extra += struct.pack(f"<HH{len(zip64_fields)}Q", 1, 8 * len(zip64_fields), *zip64_fields)
        version = _V45 if zip64_fields else _V20
        record = _CENTRAL.pack(
            0x02014B50, _UNIX | version, version, flags, method, dos_time, dos_date, crc,
            min(compressed, _LIMIT_32), min(size, _LIMIT_32), len(encoded), len(extra), 0, 0, 0,
            (0o100000 | (mode & 0o7777)) << 16, min(header_offset, _LIMIT_32),
        )  # fmt: skip
        return record + encoded + extra

    def flush(self) -> Iterator[bytes]:
        """Nothing is held back between members; present for symmetry with the other writers."""
        return iter(())

    def finish(self) -> Iterator[bytes]:
        """The central directory (in chunks of about 1 MiB) and its end records, ZIP64 when needed."""
        directory_offset, directory_size = self._offset, 0
        batch: list[bytes] = []
        batch_size = 0
        for record in self._central:
            batch.append(record)
            batch_size += len(record)
            if batch_size >= 1 << 20:
                directory_size += batch_size
                yield self._emit(b"".join(batch))
                batch, batch_size = [], 0
        directory_size += batch_size
        count = len(self._central)
        self._central = []
        trailer = batch
        if count >= _LIMIT_16 or directory_offset >= _LIMIT_32 or directory_size >= _LIMIT_32:
            end64_offset = directory_offset + directory_size
            trailer.append(
                _END64.pack(
                    0x06064B50, 44, _UNIX | _V45, _V45, 0, 0, count, count, directory_size, directory_offset
                )
            )
            trailer.append(_LOCATOR64.pack(0x07064B50, 0, end64_offset, 1))
        trailer.append(
            _END.pack(
                0x06054B50, 0, 0, min(count, _LIMIT_16), min(count, _LIMIT_16),
                min(directory_size, _LIMIT_32), min(directory_offset, _LIMIT_32), 0,
            )
        )  # fmt: skip
        yield self._emit(b"".join(trailer))
