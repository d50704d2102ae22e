"""Where an entry's bytes come from: the ``EntrySource`` interface and its local implementation.

The assembler asks a source for one entry at a time, strictly in request order, and consumes the
returned ``Payload`` completely (and closes it) before asking for the next one. That contract is what
lets a payload hand out a zero-copy ``FileRegion`` over a descriptor it still owns.

Sources (the seam a cluster's designated target needs):
- ``LocalSource``: objects and archived files on this node's mountpaths (implemented here).
- A remote source (not yet written) would pull entries owned by peers over the intra-cluster network,
  with a bounded look-ahead window, and fall back to a neighbour (GFN) or to a missing entry when a peer
  does not answer within ``get_batch.max_wait``; a routing source picks local or remote per entry by HRW.
  Its payloads are plain byte chunks, so the assembler does not change.

Errors: a missing bucket, object or archived file is ``NotFound`` (a soft error with coer); a range past
the end is ``RangeNotSatisfiable``; a shard that is not an archive ``InvalidRequest``. Anything 5xx is an
I/O failure and always fails the request.
"""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Iterable
from typing import Protocol

from strata.archive import ArchiveReader, FileRegion, Member, format_of
from strata.archive.reader import member_span
from strata.config.access import ACCESS_GET
from strata.config.bucket_props import BucketProps
from strata.core.errors import NotFound, ObjectNotFound, RangeNotSatisfiable, StrataError
from strata.core.names import BucketRef
from strata.getbatch.model import Entry
from strata.objects.service import ObjectService
from strata.storage.objects import OpenObject

# Bodies up to this size are read into memory and go out joined with their tar header: one pread is
# cheaper than handing a small range to sendfile (see strata/server/http.py SMALL_FILE).
INLINE_MAX = 64 << 10
SHARDS_OPEN = 16  # shards kept open per request (LRU), so entries from the same shard reuse one reader


class Payload:
    """One entry's bytes for the archive writer: ``source`` is bytes, a ``FileRegion`` or chunks.

    ``archived`` says whether it came out of a shard (for the obj/file counters). ``close()`` releases
    what the payload holds open (an object descriptor behind a ``FileRegion``); call it after the
    writer has consumed the payload.
    """

    __slots__ = ("_holder", "archived", "size", "source")

    def __init__(
        self,
        size: int,
        source: bytes | FileRegion | Iterable[bytes],
        archived: bool,
        holder: OpenObject | None,
    ) -> None:
        self.size = size
        self.source = source
        self.archived = archived
        self._holder = holder

    def close(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None


class EntrySource(Protocol):
    def fetch(self, entry: Entry) -> Payload:
        """The entry's bytes; raises ``StrataError`` (``NotFound`` for anything missing)."""
        ...

    def warm(self, entry: Entry) -> None:
        """Best-effort page-cache read-ahead for an entry the assembler will want soon (any thread)."""
        ...

    def close(self) -> None: ...


def object_span(entry: Entry, size: int, what: str) -> tuple[int, int]:
    """(offset, count) of an entry's range in an object of ``size`` bytes; a length past the end is cut."""
    if entry.whole:
        return 0, size
    if entry.start > size:
        raise RangeNotSatisfiable(f"{what}: range start {entry.start} is past the end ({size} bytes)", size)
    available = size - entry.start
    return entry.start, available if entry.length == -1 else min(entry.length, available)


class _OpenShard:
    __slots__ = ("obj", "reader", "remembered")

    def __init__(self, obj: OpenObject, reader: ArchiveReader) -> None:
        self.obj = obj
        self.reader = reader
        self.remembered = False

    def close(self) -> None:
        self.reader.close()
        self.obj.close()


class LocalSource:
    """Entries on this node: objects opened per entry, shards opened once per request (LRU of open readers).

    A TAR shard's index is the persisted one when it exists (the object service keeps them),
    otherwise built by the first lookup and persisted for later requests; TGZ/TAR.LZ4 keep one
    decompression cursor per shard, so entries in archive order cost one pass; ZIP reads its
    central directory once.
    """

    def __init__(
        self,
        objects: ObjectService,
        *,
        shards_open: int = SHARDS_OPEN,
    ) -> None:
        self.objects = objects
        self.props: dict[BucketRef, BucketProps] = {}  # the request's buckets, as of its start
        self._last: tuple[BucketRef, BucketProps] | None = None  # the last entry's bucket
        self.capacity = shards_open
        self.shards: collections.OrderedDict[tuple[str, str], _OpenShard] = collections.OrderedDict()

    def _props(self, bck: BucketRef) -> BucketProps:
        """A bucket's props, looked up (and its GET access checked) once per request, not per entry.

        Entries of one plan share their ``BucketRef`` objects: ``fetch`` finds the last one by identity.
        """
        props = self.props.get(bck)
        if props is None:
            props = self.props[bck] = self.objects.bucket(bck, ACCESS_GET)
        self._last = (bck, props)
        return props

    def fetch(self, entry: Entry) -> Payload:
        if entry.archpath:
            return self._archived(entry)
        bck = entry.bck
        last = self._last
        props = last[1] if last is not None and bck is last[0] else self._props(bck)
        obj = self.objects.open(bck, entry.name, props)  # checksum validated if the bucket asks
        try:
            offset, count = (0, obj.size) if entry.whole else object_span(entry, obj.size, _uri(entry))
            if count > INLINE_MAX:
                if obj.metadata.codec:  # stored compressed: decoded as the writer consumes it
                    pieces = self.objects.chunks(obj, offset, count)
                    first = next(pieces, b"")  # here: a damaged first frame is this entry's own error
                    return Payload(count, itertools.chain((first,), pieces), False, obj)
                return Payload(count, FileRegion(obj.fd, offset, count), False, obj)
            data = self.objects.read(obj, offset, count)
        except BaseException:
            obj.close()
            raise
        obj.close()
        return Payload(count, data, False, None)

    def _archived(self, entry: Entry) -> Payload:
        shard = self._shard(entry)
        reader = shard.reader
        member = _find(reader, entry)
        if not shard.remembered:  # the index this lookup may have built serves later requests too
            shard.remembered = True
            self.objects.remember_shard(shard.obj, reader)
        start, length = (0, -1) if entry.whole else (entry.start, entry.length)
        offset, count = member_span(member, start, length)
        region = reader.region(member, offset, count)
        if region is None:  # compressed: decode (a forward cursor, cheap for entries in archive order)
            return Payload(count, reader.read(member, offset, count), True, None)
        if count > INLINE_MAX:
            return Payload(count, region, True, None)  # the shard stays open in the LRU until evicted
        data = os.pread(region.fd, count, region.offset) if count else b""
        if len(data) != count:
            raise StrataError(f"{_uri(entry)}: shard file is shorter than its index says")
        return Payload(count, data, True, None)

    def _shard(self, entry: Entry) -> _OpenShard:
        key = (entry.bck.key, entry.name)
        shard = self.shards.get(key)
        if shard is not None:
            self.shards.move_to_end(key)
            return shard
        fmt = format_of(entry.name)  # InvalidRequest: not an archive by its name
        obj, reader = self.objects.open_shard(entry.bck, entry.name, fmt, self._props(entry.bck))
        shard = self.shards[key] = _OpenShard(obj, reader)
        while len(self.shards) > self.capacity:
            _, old = self.shards.popitem(last=False)
            old.close()
        return shard

    def warm(self, entry: Entry) -> None:
        """Ask the kernel to read an object ahead (posix_fadvise WILLNEED); shards are not warmed."""
        if entry.archpath:
            return
        try:
            obj = self.objects.open_unchecked(entry.bck, entry.name)  # a hint only: fetch checks access
        except StrataError:
            return
        try:
            offset, count = (0, obj.size) if entry.whole else object_span(entry, obj.size, "")
            os.posix_fadvise(obj.fd, offset, count, os.POSIX_FADV_WILLNEED)
        except (StrataError, OSError):
            pass
        finally:
            obj.close()

    def close(self) -> None:
        while self.shards:
            _, shard = self.shards.popitem()
            shard.close()


def _find(reader: ArchiveReader, entry: Entry) -> Member:
    try:
        return reader.find(entry.archpath)
    except NotFound:
        if entry.archpath.startswith("/"):  # "/a.jpg" names the member "a.jpg" too
            try:
                return reader.find(entry.archpath.lstrip("/"))
            except NotFound:
                pass
    raise ObjectNotFound(f"{_uri(entry)}/{entry.archpath}", "no such file in the archive")


def _uri(entry: Entry) -> str:
    return entry.bck.object_uri(entry.name)
