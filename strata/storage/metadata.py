"""Object metadata, kept in one xattr on the object's own file.

Keeping it on the file (not in a side database) means a rename moves data and metadata together
atomically, and a crash can never separate them. msgpack keeps the record small: ext4 allows about
4 KiB of xattrs per file, so custom metadata is capped (``MAX_ENCODED``).
"""

from __future__ import annotations

import os

import msgspec

from strata.core.errors import InvalidRequest

XATTR_NAME = "user.strata.md"
MAX_ENCODED = 3800


class ObjectMetadata(msgspec.Struct, array_like=True):
    """What Strata knows about a stored object besides its bytes.

    ``size`` is the logical size a client sees; ``mtime_ns`` is when this version was written
    (Last-Modified); ``atime_ns`` the last access recorded (set on write, refreshed lazily).

    ``codec`` is how the bytes are stored: "" as they are, ``"zstd"`` in the seekable zstd form
    (``strata.compress``), ``stored_size`` bytes on disk. ``size``, ``checksum_value`` and ``etag`` are
    always those of the original bytes, whatever the codec. (New fields go last: records written before
    them decode with the defaults.)
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

    @property
    def stored(self) -> int:
        """Bytes this version takes on disk (its file's size): ``stored_size`` when compressed."""
        return self.stored_size if self.codec else self.size


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ObjectMetadata)


def encode_metadata(md: ObjectMetadata) -> bytes:
    data = _encoder.encode(md)
    if len(data) > MAX_ENCODED:
        raise InvalidRequest(
            f"object metadata is too large ({len(data)} bytes encoded; custom metadata must stay under "
            f"about {MAX_ENCODED} bytes)"
        )
    return data


def decode_metadata(data: bytes) -> ObjectMetadata:
    return _decoder.decode(data)


def read_metadata_raw(fd_or_path: int | str) -> tuple[ObjectMetadata, bytes] | None:
    """The metadata and its raw bytes (the hot cache validates entries by the bytes)."""
    try:
        raw = os.getxattr(fd_or_path, XATTR_NAME)
        return _decoder.decode(raw), raw
    except (OSError, msgspec.DecodeError):
        return None


def read_metadata(fd_or_path: int | str) -> ObjectMetadata | None:
    """The metadata of an open file or a path; ``None`` when the file carries none (not an object)."""
    try:
        return _decoder.decode(os.getxattr(fd_or_path, XATTR_NAME))
    except OSError:
        return None
    except msgspec.DecodeError:
        return None


def write_metadata(fd_or_path: int | str, md: ObjectMetadata) -> None:
    os.setxattr(fd_or_path, XATTR_NAME, encode_metadata(md))
