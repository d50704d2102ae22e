"""Object metadata, kept in xattrs on the object's own file.

Keeping it on the file (not in a side database) means a rename moves data and metadata together
atomically, and a crash can never separate them. msgpack keeps the record small: ext4 allows about
4 KiB of xattrs per file, so custom metadata is capped (``MAX_ENCODED``).

A cached copy of a remote bucket's object also carries what the backend said of it (``BACKEND_FACTS``:
its ETag, version, dates, MD5, source) -- some 170 bytes that only HEAD, listings and warm-GET
validation read. They live in a second xattr (``FACTS_XATTR``) so that the main record, which every
read probes (the hot cache validates each hit by it), stays as small as an ``ais://`` object's: one
``getxattr`` call with Python's first buffer instead of a larger read. ``ObjectMetadata`` is always
whole in memory and between nodes (``encode_metadata``); only the files keep it in two parts
(``write_metadata`` / ``read_metadata``), the facts written first so that the main record, written
last, is what publishes them.
"""

from __future__ import annotations

import os

import msgspec

from strata.core.errors import InvalidRequest

XATTR_NAME = "user.strata.md"
FACTS_XATTR = "user.strata.facts"
MAX_ENCODED = 3800

BACKEND_FACTS = frozenset({"source", "version", "ETag", "md5", "crc32c", "LastModified", "Last-Modified"})
"""Custom metadata keys that are a backend's facts about a cached object (recorded by a cold GET or a
write-through: ``RemoteObject.cold_get_metadata``), not user metadata: kept apart on disk, never
uploaded back or shown as a user's ``x-amz-meta-*``."""


class ObjectMetadata(msgspec.Struct, array_like=True):
    """What Strata knows about a stored object besides its bytes.

    ``size`` is the logical size a client sees; ``mtime_ns`` is when this version was written
    (Last-Modified); ``atime_ns`` the last access recorded (set on write, refreshed lazily).

    ``codec`` is how the bytes are stored: "" as they are, ``"zstd"`` in the seekable zstd form
    (``strata.compress``), ``stored_size`` bytes on disk. ``size``, ``checksum_value`` and ``etag`` are
    always those of the original bytes, whatever the codec. (New fields go last: records written before
    them decode with the defaults.) ``facts_apart`` matters only in a record read from a file.
    """

    size: int
    checksum_type: str = "none"
    checksum_value: str = ""
    version: str = ""
    mtime_ns: int = 0
    atime_ns: int = 0
    custom: dict[str, str] = {}
    etag: str = ""
    codec: str = ""
    stored_size: int = 0
    facts_apart: bool = False  # on disk: the ``BACKEND_FACTS`` of ``custom`` are in ``FACTS_XATTR``

    @property
    def stored(self) -> int:
        """Bytes this version takes on disk (its file's size): ``stored_size`` when compressed."""
        return self.stored_size if self.codec else self.size


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ObjectMetadata)
_facts_decoder = msgspec.msgpack.Decoder(dict[str, str])


def encode_metadata(md: ObjectMetadata) -> bytes:
    """The whole record as one value: what the in-memory store keeps and what nodes send each other."""
    return _checked(_encoder.encode(md), 0)


def _checked(record: bytes, facts: int) -> bytes:
    if len(record) + facts > MAX_ENCODED:
        raise InvalidRequest(
            f"object metadata is too large ({len(record) + facts} bytes encoded; custom metadata must stay "
            f"under about {MAX_ENCODED} bytes)"
        )
    return record


def decode_metadata(data: bytes) -> ObjectMetadata:
    """A record as encoded (``encode_metadata``), or a main record read from a file: then, if its
    ``facts_apart`` is set, without the facts (``read_metadata`` adds them)."""
    return _decoder.decode(data)


def split_record(md: ObjectMetadata) -> tuple[bytes, bytes]:
    """The main record and the facts (b"" when there are none) as a file keeps them."""
    custom = md.custom
    if not custom or BACKEND_FACTS.isdisjoint(custom):
        whole = md if not md.facts_apart else msgspec.structs.replace(md, facts_apart=False)
        return _checked(_encoder.encode(whole), 0), b""
    facts = _encoder.encode({k: v for k, v in custom.items() if k in BACKEND_FACTS})
    rest = {k: v for k, v in custom.items() if k not in BACKEND_FACTS}
    main = _encoder.encode(msgspec.structs.replace(md, custom=rest, facts_apart=True))
    return _checked(main, len(facts)), facts


def read_metadata_raw(fd_or_path: int | str) -> tuple[ObjectMetadata, bytes] | None:
    """The whole metadata and the main record's raw bytes (the hot cache validates entries by them)."""
    try:
        raw = os.getxattr(fd_or_path, XATTR_NAME)
        md = _decoder.decode(raw)
    except (OSError, msgspec.DecodeError):
        return None
    if md.facts_apart:
        _add_facts(md, fd_or_path)
    return md, raw


def _add_facts(md: ObjectMetadata, fd_or_path: int | str) -> None:
    """Put the facts kept apart back into ``md.custom``; facts lost (damaged) leave the object readable."""
    try:
        md.custom = {**md.custom, **_facts_decoder.decode(os.getxattr(fd_or_path, FACTS_XATTR))}
    except (OSError, msgspec.DecodeError):
        pass


def read_metadata(fd_or_path: int | str) -> ObjectMetadata | None:
    """The metadata of an open file or a path; ``None`` when the file carries none (not an object)."""
    found = read_metadata_raw(fd_or_path)
    return None if found is None else found[0]


def write_metadata(
    fd_or_path: int | str, md: ObjectMetadata, *, replaced: ObjectMetadata | None = None
) -> None:
    """Write ``md`` onto a file: the facts first, then the main record that refers to them. ``replaced``:
    the metadata the file carried until now (None for a new work file); when it kept facts apart and
    ``md`` has none, they are removed after."""
    main, facts = split_record(md)
    if facts:
        os.setxattr(fd_or_path, FACTS_XATTR, facts)
    os.setxattr(fd_or_path, XATTR_NAME, main)
    if not facts and replaced is not None and replaced.facts_apart:
        try:
            os.removexattr(fd_or_path, FACTS_XATTR)
        except OSError:
            pass
