"""What a finished write becomes: the rules every store applies at commit, written once.

A write's bytes are published with a metadata record only when they are what they claim to be:

- bytes that travel with their metadata (``carried``: a rebalance moving an object between targets)
  must have its size and, for the same checksum type, its checksum; the record is then kept as it is
  (version, times, custom metadata);
- bytes a client promised a checksum for (``expected``, same checksum type) must hash to it;
- otherwise the record is new: this size and checksum, the next version after ``previous`` when the
  bucket is versioned, the write's time as both mtime and atime.

A refusal is ``InvalidRequest`` (400): the client sent something else than it said.

A write whose bytes are stored in another form than the client's (compressed: ``strata.compress``)
hashes and counts the original bytes itself and says so with ``Encoded``: the record then holds the
original size and checksum, plus the codec and the stored size. Carried metadata of a compressed
version is checked against the stored size only: its checksum is of the original bytes, and the zstd
frames carry their own checksums, verified whenever they are decoded.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import msgspec

from strata.core.errors import InvalidRequest
from strata.storage.metadata import ObjectMetadata


class Encoded(NamedTuple):
    """What a write that stored its bytes in another form says of the original bytes."""

    codec: str  # "" when the bytes were stored as they came
    size: int
    checksum_type: str
    checksum_value: str


def stored_form(md: ObjectMetadata, encoded: Encoded | None, written: int) -> ObjectMetadata:
    """``md`` with the codec and stored size of an encoded write (as it is for a plain one)."""
    if encoded is None or not encoded.codec:
        return md
    return msgspec.structs.replace(md, codec=encoded.codec, stored_size=written)


def next_version(previous: ObjectMetadata | None, versioning: bool) -> str:
    if not versioning:
        return ""
    if previous is None or not previous.version.isdigit():
        return "1"
    return str(int(previous.version) + 1)


def check_written(
    uri: str,
    *,
    size: int,
    checksum_type: str,
    value: str,
    expected: tuple[str, str] | None,
    carried: ObjectMetadata | None,
) -> None:
    """Raise ``InvalidRequest`` when the written bytes are not what the write said they would be."""
    if carried is not None and carried.codec:
        if carried.stored_size != size:
            raise InvalidRequest(f"{uri}: received bytes do not match the metadata they came with")
        return
    if carried is not None:
        same_type = carried.checksum_type == checksum_type
        if carried.size != size or (same_type and carried.checksum_value and carried.checksum_value != value):
            raise InvalidRequest(f"{uri}: received bytes do not match the metadata they came with")
        return
    if expected is not None and expected[0] == checksum_type and expected[1] and expected[1] != value:
        raise InvalidRequest(
            f"{uri}: checksum mismatch ({checksum_type} {expected[1]} expected, {value} computed)"
        )


def new_metadata(
    previous: ObjectMetadata | None,
    *,
    size: int,
    checksum_type: str,
    value: str,
    versioning: bool,
    custom: dict[str, str] | None,
    etag: str,
) -> ObjectMetadata:
    """The record of a new version (call it under the object's lock: ``previous`` must be current)."""
    now = time.time_ns()
    return ObjectMetadata(
        size=size,
        checksum_type=checksum_type,
        checksum_value=value,
        version=next_version(previous if versioning else None, versioning),
        mtime_ns=now,
        atime_ns=now,
        custom=custom or {},
        etag=etag,
    )
