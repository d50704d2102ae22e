"""TAR headers, both ways: a header walker for reading and a fast ustar/PAX header builder for writing.

Reading understands what real shards contain: POSIX ustar (name + prefix), GNU (long names in ``L``
entries, base-256 sizes), PAX extended headers (``x`` per entry and ``g`` global; ``path``, ``size`` and
``mtime`` keys) and old v7 headers. Every entry is classified by ``strata.archive.model.served_name``:
only regular files with a safe relative name are served; directories, links, devices, GNU sparse files
and unsafe names are walked past. A bad checksum, a number that is not a number or a header cut short is
``InvalidRequest``: a shard is client data and must never crash the reader.

Writing hand-rolls 512-byte ustar headers (Python's ``tarfile`` is ~4x slower per member, see
ARCHITECTURE.md) and falls back to PAX records only when ustar cannot say it: names longer than the
ustar name/prefix split allows or not pure ASCII (as ``tarfile``'s PAX format does, so any reader decodes
them the same way), sizes of 8 GiB and more. Output is deterministic: uid/gid 0, empty user/group.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from strata.archive.model import served_name
from strata.archive.streams import ByteSource
from strata.core.errors import InvalidRequest

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
END_OF_ARCHIVE = bytes(2 * BLOCK)
_MAX_OCTAL_11 = 0o77777777777  # what an 11-digit octal field holds: sizes/mtimes below 8 GiB / 2242 AD
_MAX_META = 1 << 20  # longest PAX / GNU long-name payload we accept (real ones are a few hundred bytes)
_REGULAR = (b"0", b"\0", b"7")
_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, directories, fifos: size is not data
_POSIX_MAGIC = b"ustar\x0000"


def padding(size: int) -> int:
    """Bytes of zero padding after ``size`` bytes of member data."""
    return -size % BLOCK


# ---------------------------------------------------------------------------------------------- reading


@dataclass(slots=True)
class TarEntry:
    """One archive entry as the walker sees it; the source is positioned at ``data_offset``.

    ``served`` is the name the entry is served under as a member, None when it is not one (see
    ``served_name``); ``name`` is the name as stored, for messages only.
    """

    name: str
    size: int
    mtime: int
    data_offset: int
    served: str | None


def _number(field: bytes, what: str, offset: int) -> int:
    if field and field[0] & 0x80:  # GNU base-256: 0x80 positive, 0xff negative
        value = int.from_bytes(field[1:], "big")
        return value if field[0] == 0x80 else value - (1 << (8 * (len(field) - 1)))
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError:
        raise InvalidRequest(f"malformed tar header at offset {offset}: bad {what} field") from None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _checksum_ok(header: bytes, stored: int) -> bool:
    unsigned = sum(header[:148]) + 256 + sum(header[156:])
    if stored == unsigned:
        return True
    signed: int = sum(struct.unpack_from("148b", header)) + 256 + sum(struct.unpack_from("356b", header, 156))
    return stored == signed


def _pax_records(payload: bytes, offset: int) -> dict[str, str]:
    """Parse ``"<len> <key>=<value>\\n"`` records; values of ``path`` etc. are UTF-8."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(payload) and payload[pos] != 0:
        space = payload.find(b" ", pos)
        try:
            length = int(payload[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        record = payload[space + 1 : pos + length]
        if length <= 0 or pos + length > len(payload) or not record.endswith(b"\n") or b"=" not in record:
            raise InvalidRequest(f"malformed PAX header at offset {offset}")
        key, value = record[:-1].split(b"=", 1)
        records[_text(key)] = _text(value)
        pos += length
    return records


class TarWalker:
    """Walks entry headers from a source, keeping the state that spans entries (global PAX records)."""

    def __init__(self) -> None:
        self._global: dict[str, str] = {}

    def next_entry(self, source: ByteSource) -> TarEntry | None:
        """The next entry, or None at the end of the archive; the source is left at its data."""
        long_name: str | None = None
        pax: dict[str, str] = {}
        while True:
            offset = source.tell()
            header = source.read(BLOCK)
            if not header or header == ZERO_BLOCK:
                return None  # end marker, or an archive that just stops at a block boundary
            if len(header) < BLOCK:
                raise InvalidRequest(f"archive is truncated (partial tar header at offset {offset})")
            if not _checksum_ok(header, _number(header[148:156], "checksum", offset)):
                raise InvalidRequest(f"malformed tar header at offset {offset} (bad checksum)")
            typeflag = header[156:157]
            size = _number(header[124:136], "size", offset)
            if size < 0:
                raise InvalidRequest(f"malformed tar header at offset {offset}: negative size")
            if typeflag in (b"L", b"K", b"x", b"g"):
                payload = self._metadata_payload(source, size, offset)
                if typeflag == b"L":
                    long_name = _text(payload.split(b"\0", 1)[0])
                elif typeflag == b"x":
                    pax.update(_pax_records(payload, offset))
                elif typeflag == b"g":
                    self._global.update(_pax_records(payload, offset))
                continue  # "K" (GNU long link name) only matters for links, which we skip
            return self._entry(header, typeflag, size, long_name, {**self._global, **pax}, source, offset)

    @staticmethod
    def _metadata_payload(source: ByteSource, size: int, offset: int) -> bytes:
        if size > _MAX_META:
            raise InvalidRequest(f"malformed tar header at offset {offset}: {size}-byte extended header")
        payload = source.read(size + padding(size))
        if len(payload) < size:
            raise InvalidRequest(f"archive is truncated (extended header at offset {offset})")
        return payload[:size]

    @staticmethod
    def _entry(
        header: bytes,
        typeflag: bytes,
        size: int,
        long_name: str | None,
        pax: dict[str, str],
        source: ByteSource,
        offset: int,
    ) -> TarEntry:
        if "path" in pax:
            name = pax["path"]
        elif long_name is not None:
            name = long_name
        else:
            name = _text(header[:100].split(b"\0", 1)[0])
            prefix = header[345:500].split(b"\0", 1)[0] if header[257:265] == _POSIX_MAGIC else b""
            if prefix:
                name = _text(prefix) + "/" + name
        try:
            if "size" in pax:
                size = int(pax["size"])
            mtime = int(float(pax["mtime"])) if "mtime" in pax else _number(header[136:148], "mtime", offset)
        except ValueError:
            raise InvalidRequest(f"malformed PAX header at offset {offset}: bad size or mtime") from None
        if size < 0:
            raise InvalidRequest(f"malformed tar header at offset {offset}: negative size")
        sparse = typeflag == b"S" or any(key.startswith("GNU.sparse.") for key in pax)
        regular = typeflag in _REGULAR and not name.endswith("/") and not sparse
        served = served_name(name, regular)
        return TarEntry(name, 0 if typeflag in _NO_DATA else size, mtime, source.tell(), served)


def skip_past_data(source: ByteSource, size: int) -> None:
    """Move from an entry's data to the next header; the padding after the last body may be missing."""
    source.skip(size)
    try:
        source.skip(padding(size))
    except InvalidRequest:
        pass  # an archive cut right after its last body: the next read finds the end


# ---------------------------------------------------------------------------------------------- writing

# Every header we write is one struct.pack of these fields ('s' fields are zero-padded by struct): name,
# mode, uid+gid, size, mtime, checksum, typeflag, linkname, magic+version, uname+gname, devmajor+minor,
# prefix. The checksum is the sum of all header bytes with its own field read as spaces, so the sum of
# the constant fields is computed once and only the variable fields are summed per header.
_HEADER = struct.Struct("100s8s16s12s12s8sc100s8s64s16s155s12x")
_UID_GID = b"0000000\0" * 2
_DEVICE = b"0000000\0" * 2
_CONSTANT_SUM = sum(_UID_GID) + sum(b" " * 8) + sum(_POSIX_MAGIC) + sum(_DEVICE)


def _mode_field(mode: int) -> tuple[bytes, int]:
    """A mode's header field and its byte sum (a stream repeats a handful of modes: computed once)."""
    known = _MODE_FIELDS.get(mode)
    if known is None:
        field = b"%07o\0" % (mode & 0o7777)
        known = _MODE_FIELDS[mode] = (field, sum(field))
    return known


_MODE_FIELDS: dict[int, tuple[bytes, int]] = {}


def _ustar(name: bytes, prefix: bytes, size: int, mtime: int, mode: int, typeflag: bytes) -> bytes:
    mode_field, mode_sum = _mode_field(mode)
    size_field = b"%011o\0" % size
    mtime_field = b"%011o\0" % mtime
    checksum = (
        _CONSTANT_SUM + sum(name) + sum(prefix) + mode_sum + sum(size_field) + sum(mtime_field) + typeflag[0]
    )
    return _HEADER.pack(
        name, mode_field, _UID_GID, size_field, mtime_field, b"%06o\0 " % checksum, typeflag, b"",
        _POSIX_MAGIC, b"", _DEVICE, prefix,
    )  # fmt: skip


def _split_ustar(encoded: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for an ASCII name that fits ustar's 155 + 100 split at a slash, else None."""
    if len(encoded) <= 100:
        return b"", encoded
    if len(encoded) > 256:
        return None
    slash = encoded.find(b"/", len(encoded) - 101)
    if slash <= 0 or slash > 155:
        return None
    return encoded[:slash], encoded[slash + 1 :]


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = previous = 0
    while True:  # the length counts its own digits: iterate to the fixed point, as tarfile does
        length = len(body) + len(str(previous))
        if length == previous:
            return str(length).encode() + body
        previous = length


def file_header(name: str, size: int, mtime: int = 0, mode: int = 0o644) -> bytes:
    """The header block(s) announcing a regular file: one ustar block, or a PAX entry plus one."""
    try:
        encoded = name.encode()
    except UnicodeEncodeError:
        raise InvalidRequest(f"archive member name {name!r} is not valid UTF-8") from None
    mtime = min(max(mtime, 0), _MAX_OCTAL_11)
    split = _split_ustar(encoded) if encoded.isascii() else None
    if split is not None and size <= _MAX_OCTAL_11:
        return _ustar(split[1], split[0], size, mtime, mode, b"0")
    records = b""
    if split is None:
        records += _pax_record("path", name)
        split = (b"", name.encode("ascii", "replace")[:100])  # what a PAX-unaware reader falls back to
    if size > _MAX_OCTAL_11:
        records += _pax_record("size", str(size))
    pax_header = _ustar(b"././@PaxHeader", b"", len(records), mtime, 0o644, b"x")
    ustar_size = size if size <= _MAX_OCTAL_11 else 0
    return b"".join(
        (
            pax_header,
            records,
            bytes(padding(len(records))),
            _ustar(split[1], split[0], ustar_size, mtime, mode, b"0"),
        )
    )
