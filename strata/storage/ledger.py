"""The savings ledger: exact per-bucket ``original_bytes``, ``stored_bytes`` and ``objects`` of a node.

s4 keeps its ledger beside the store and probes with HEADs, so races and crashes make it drift. Here
the store changes the ledger in the same step as the object, and a ``kill -9`` at any moment (of the
whole node or of one worker process) leaves it equal to a full recount of what is on disk, without
recounting at start-up.

One memory-mapped file per node (on its first mountpath), shared by every process of the node like
``strata.core.metrics``. It holds:

- the **bucket table**: rows of (bucket URI, original, stored, objects), signed 64-bit cells;
- one **intent slot per lock stripe** (``strata.storage.locks``): what an object change is about to do
  (the location, a fingerprint of the metadata record there before, and the per-bucket deltas);
- one **bucket-op slot**: a whole-bucket change in progress (destroy, rename), rolled forward;
- one **apply record**: the new absolute values of the rows an update is writing.

Why it is exact (the store drives this, ``strata.storage.bookkeeping``): every object change happens
under its stripe lock, and an intent is pending only while its writer holds that lock. The writer
records the intent (state byte last), changes the file, then applies the deltas and clears the intent
in one step under the node-wide ledger lock. Whoever next takes a stripe lock and finds its intent
pending knows the writer died (flocks die with their process): if the location still holds the record
it had before (or still nothing), the change did not happen and the intent is dropped; anything else
means it did, and the deltas are applied. A record that did not change at all means a zero delta (the
footprint is a function of the record), so that case needs no decision.

The row update itself survives a kill between its writes: the new absolute values go to the apply
record first (state last), then to the rows, then the intent and the apply record are cleared. The
next holder of the ledger lock replays a pending apply record (idempotent: absolute values) and clears
the intent it names only if that intent is still the same one (a per-slot sequence number).

``Ledger(None)`` keeps everything in an anonymous map: the in-memory store and unit tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import msgspec

from strata.core.errors import InsufficientStorage, StrataError
from strata.storage.locks import FORKS, STRIPES
from strata.storage.metadata import ObjectMetadata, decode_metadata

LEDGER_ENV = "STRATA_LEDGER"


def ledger_enabled() -> bool:
    """``STRATA_LEDGER=0`` (or off/false/no) turns the ledger off: for the "ledger on vs off" benchmark."""
    return os.environ.get(LEDGER_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


class Footprint(msgspec.Struct):
    """What a bucket's objects add up to (or a change to it: the cells are signed)."""

    original_bytes: int = 0
    stored_bytes: int = 0
    objects: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.original_bytes + other.original_bytes,
            self.stored_bytes + other.stored_bytes,
            self.objects + other.objects,
        )

    def __sub__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.original_bytes - other.original_bytes,
            self.stored_bytes - other.stored_bytes,
            self.objects - other.objects,
        )

    def __neg__(self) -> Footprint:
        return Footprint(-self.original_bytes, -self.stored_bytes, -self.objects)

    def is_zero(self) -> bool:
        return self.original_bytes == 0 and self.stored_bytes == 0 and self.objects == 0


ZERO = Footprint()


def footprint(md: ObjectMetadata | None) -> Footprint:
    """One version's share of its bucket: original size, bytes on disk, one object (nothing for None)."""
    if md is None:
        return ZERO
    return Footprint(md.size, md.stored, 1)


def record_footprint(record: bytes) -> Footprint:
    """The footprint of a raw metadata record (``b""`` or an undecodable one: not an object)."""
    if not record:
        return ZERO
    try:
        return footprint(decode_metadata(record))
    except msgspec.DecodeError:
        return ZERO


def fingerprint(record: bytes) -> bytes:
    """What an intent remembers of the record at its location (``b""``, nothing there, hashes too)."""
    return hashlib.blake2b(record, digest_size=16).digest()


_ABSENT = fingerprint(b"")
_URI_BYTES: dict[str, bytes] = {}


def _uri_bytes(uri: str) -> bytes:
    if len(_URI_BYTES) > 4096:
        _URI_BYTES.clear()
    raw = _URI_BYTES[uri] = uri.encode()
    return raw


# Where a bucket's change goes: (bucket URI, delta).
Change = tuple[str, Footprint]
# The raw metadata record at a location, b"" when there is none.
Probe = Callable[[str], bytes]


class LedgerFull(InsufficientStorage):
    """The bucket table has no free row (507: the node cannot account for one more bucket)."""


# -- file layout (little-endian) ---------------------------------------------------------------
MAGIC = b"STRLEDG1"
VERSION = 1
_HEADER = struct.Struct("<8sIIQI16s")  # magic, version, flags, generation, rows high water, mp digest
_FLAGS_AT = 12
_GENERATION_AT = 16
_HWM_AT = 24
_DIGEST_AT = 28
STALE_NEW = 1  # never counted (a new or unreadable file)
STALE_OFF = 2  # written to while the ledger was off
STALE_MOUNTPATHS = 4  # counted over another set of mountpaths

_APPLY_AT = 256
_APPLY = struct.Struct("<BBHQ")  # state, entries, slot, seq
_APPLY_ENTRY = struct.Struct("<IBxxxqqq")  # row, in use, original, stored, objects
_APPLY_ENTRIES_AT = _APPLY_AT + 16
_APPLY_ONE = struct.Struct("<BBHQ4xIBxxxqqq")  # the header and one entry, contiguous: one write
MAX_ENTRIES = 2

_BUCKET_OP_AT = 1024
_BUCKET_OP = struct.Struct("<BB6xQ")  # state, kind, seq
_KEY = struct.Struct("<H254s")
_BUCKET_OP_SRC_AT = _BUCKET_OP_AT + 16
_BUCKET_OP_DST_AT = _BUCKET_OP_SRC_AT + _KEY.size
DESTROY = 1
MOVE = 2
BUCKET_OP_SLOT = STRIPES  # the apply record's slot number for the bucket-op slot
NO_SLOT = 0xFFFF

_SLOTS_AT = 4096
_SLOT_SIZE = 4608
_SLOT = struct.Struct("<BBHIQ16s")  # state, changes, location length, -, seq, fingerprint before
_SEQ_AT = 8
_CHANGE = struct.Struct("<B191sqqq")  # URI length, URI, delta original, stored, objects
_CHANGES_AT = 32
_SLOT_ONE = struct.Struct("<BBHIQ16sB191sqqq")  # the header and one change, contiguous: one write
_LOCATION_AT = 512
MAX_LOCATION = _SLOT_SIZE - _LOCATION_AT
MAX_URI = 191

_ROWS_AT = _SLOTS_AT + STRIPES * _SLOT_SIZE
_ROW_SIZE = 224
_ROW_HEAD = struct.Struct("<BB6x192s")  # in use, URI length, URI
_CELLS = struct.Struct("<qqq")
_CELLS_AT = 200
MAX_BUCKETS = 16384
SIZE = _ROWS_AT + MAX_BUCKETS * _ROW_SIZE

PENDING = 1
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _close_fd(fd: list[int], forks: int) -> None:
    if fd[0] >= 0 and forks == FORKS[0]:
        os.close(fd[0])
    fd[0] = -1


class Ledger:
    """The node's ledger file (``path``), or an anonymous one (``None``); see the module docstring.

    ``mountpaths_digest`` names the set of mountpaths the counts are about: a file counted over another
    set is stale. ``stale`` (flags) tells the store to rebuild it by one recount (``rebuild``).
    """

    def __init__(self, path: str | None, *, mountpaths_digest: bytes = b"") -> None:
        self.path = path
        self._digest = mountpaths_digest.ljust(16, b"\0")[:16]
        self._threads = threading.Lock()
        self._forks = FORKS[0]
        self._fd = -1
        if path is None:
            self._map = mmap.mmap(-1, SIZE)
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                if os.fstat(self._fd).st_size != SIZE:
                    with self._flocked():
                        if os.fstat(self._fd).st_size != SIZE:
                            os.ftruncate(self._fd, 0)  # another layout: start over (stale: recounted)
                            os.ftruncate(self._fd, SIZE)
                # every page backed by real blocks now: a write into a sparse map on a full disk is a
                # SIGBUS that kills the process, a failed allocation here is an error to handle
                try:
                    os.posix_fallocate(self._fd, 0, SIZE)
                except OSError as exc:
                    raise InsufficientStorage(
                        f"no room for the savings ledger ({SIZE >> 10} KiB) at {path}: {exc.strerror}"
                    ) from None
                self._map = mmap.mmap(self._fd, SIZE)
            except BaseException:
                os.close(self._fd)
                raise
        # a ledger dropped without ``close`` (tests build many stores) closes its descriptor
        self._finalizer = weakref.finalize(self, _close_fd, [self._fd], self._forks)
        self._rows: dict[str, int] = {}
        self._rows_generation = -1
        self._begun: dict[int, tuple[int, Sequence[Change]]] = {}  # this process's intents, by stripe
        # settles what dead writers left before a read (set by the store: it knows how to probe)
        self.settler: Callable[[], object] | None = None
        with self._locked():
            magic, version, flags, _gen, _hwm, digest = _HEADER.unpack_from(self._map, 0)
            if magic != MAGIC or version != VERSION:
                self._map[: _SLOTS_AT + STRIPES * _SLOT_SIZE] = bytes(_SLOTS_AT + STRIPES * _SLOT_SIZE)
                flags = 0 if path is None else STALE_NEW  # an anonymous ledger starts empty and exact
                _HEADER.pack_into(self._map, 0, MAGIC, VERSION, flags, 1, 0, self._digest)
            elif digest != self._digest:
                self._set_flags(flags | STALE_MOUNTPATHS)
                self._map[_DIGEST_AT : _DIGEST_AT + 16] = self._digest

    def close(self) -> None:
        self._map.close()
        self._finalizer.detach()
        _close_fd([self._fd], self._forks)
        self._fd = -1

    # -- locking ----------------------------------------------------------------------------------

    def _lock_fd(self) -> int:
        """This process's descriptor of the file for ``flock`` (-1: an anonymous ledger, threads only)."""
        if self.path is None:
            return -1
        if self._forks != FORKS[0]:  # forked: a flock belongs to the open file, so reopen per process
            self._finalizer.detach()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            self._forks = FORKS[0]
            self._finalizer = weakref.finalize(self, _close_fd, [self._fd], self._forks)
        return self._fd

    @contextmanager
    def _flocked(self) -> Iterator[None]:
        fd = self._lock_fd()
        if fd < 0:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The node-wide ledger lock (short: a few struct writes), replaying a dead holder's update."""
        with self._threads, self._flocked():
            self._replay()
            yield

    # -- header -----------------------------------------------------------------------------------

    @property
    def flags(self) -> int:
        flags: int = _U32.unpack_from(self._map, _FLAGS_AT)[0]
        return flags

    @property
    def stale(self) -> bool:
        """The counts are not (known to be) those of the disk: the store rebuilds them by one recount."""
        return self.flags != 0

    def stale_reason(self) -> str:
        flags = self.flags
        reasons = []
        if flags & STALE_NEW:
            reasons.append("no ledger yet")
        if flags & STALE_OFF:
            reasons.append(f"written while the ledger was off ({LEDGER_ENV}=0)")
        if flags & STALE_MOUNTPATHS:
            reasons.append("the mountpaths changed")
        return "; ".join(reasons)

    def _set_flags(self, flags: int) -> None:
        _U32.pack_into(self._map, _FLAGS_AT, flags)

    def mark_off(self) -> None:
        """A process runs with the ledger off: whatever it changes is not counted, so the file is stale."""
        with self._locked():
            self._set_flags(self.flags | STALE_OFF)

    def _generation(self) -> int:
        generation: int = _U64.unpack_from(self._map, _GENERATION_AT)[0]
        return generation

    def _bump_generation(self) -> None:
        _U64.pack_into(self._map, _GENERATION_AT, self._generation() + 1)

    def _hwm(self) -> int:
        hwm: int = _U32.unpack_from(self._map, _HWM_AT)[0]
        return hwm

    # -- bucket table -----------------------------------------------------------------------------

    def _row_at(self, row: int) -> int:
        return _ROWS_AT + row * _ROW_SIZE

    def _cells(self, row: int) -> tuple[int, int, int]:
        cells: tuple[int, int, int] = _CELLS.unpack_from(self._map, self._row_at(row) + _CELLS_AT)
        return cells

    def _scan(self) -> None:
        """Refresh this process's name -> row cache from the table (under the ledger lock)."""
        rows = {}
        for row in range(self._hwm()):
            used, length, uri = _ROW_HEAD.unpack_from(self._map, self._row_at(row))
            if used:
                rows[uri[:length].decode()] = row
        self._rows = rows
        self._rows_generation = self._generation()

    def _find(self, uri: str) -> int:
        """The bucket's row, or -1 (under the ledger lock)."""
        if self._rows_generation != self._generation():  # every insert and free bumps it
            self._scan()
        return self._rows.get(uri, -1)

    def _row(self, uri: str) -> int:
        """The bucket's row, inserted when missing (under the ledger lock); ``LedgerFull`` if none is free."""
        row = self._find(uri)
        if row >= 0:
            return row
        encoded = uri.encode()
        if len(encoded) > MAX_URI:
            raise StrataError(f"ledger: bucket URI {uri!r} is longer than {MAX_URI} bytes")
        hwm = self._hwm()
        free = next(
            (r for r in range(hwm) if not self._map[self._row_at(r)]),
            hwm,
        )
        if free >= MAX_BUCKETS:
            raise LedgerFull(
                f"the savings ledger holds {MAX_BUCKETS} buckets with objects at most: {uri} cannot be added"
            )
        at = self._row_at(free)
        # name and zero cells first, the in-use byte last: a kill in between leaves a free row
        _ROW_HEAD.pack_into(self._map, at, 0, len(encoded), encoded)
        _CELLS.pack_into(self._map, at + _CELLS_AT, 0, 0, 0)
        self._map[at] = 1
        if free == hwm:
            _U32.pack_into(self._map, _HWM_AT, hwm + 1)
        self._bump_generation()  # other processes rescan; this one's cache was current (``_find``)
        self._rows[uri] = free
        self._rows_generation = self._generation()
        return free

    def reserve(self, uris: Sequence[str]) -> None:
        """Make sure the buckets have rows before a change happens on disk (a full table fails first).

        Rows are freed only by whole-bucket changes, which hold every stripe lock: while the caller
        holds one, a row cached at the current generation stays valid (no lock needed to check).
        """
        if self._rows_generation == self._generation() and all(uri in self._rows for uri in uris):
            return
        with self._locked():
            for uri in uris:
                self._row(uri)

    # -- the apply record ---------------------------------------------------------------------------

    def _apply(self, entries: Sequence[tuple[int, bool, tuple[int, int, int]]], slot: int, seq: int) -> None:
        """Write rows to new absolute values and clear ``slot``'s intent, surviving a kill at any point
        (under the ledger lock)."""
        mapped = self._map
        for i, (row, used, cells) in enumerate(entries):
            _APPLY_ENTRY.pack_into(mapped, _APPLY_ENTRIES_AT + i * _APPLY_ENTRY.size, row, used, *cells)
        _APPLY.pack_into(mapped, _APPLY_AT, 0, len(entries), slot, seq)
        mapped[_APPLY_AT] = PENDING  # the state byte last
        self._finish_apply()

    def _apply_one(self, change: Change, stripe: int, seq: int) -> None:
        """``_add`` + ``_apply`` for one bucket's change of an intent, written out: every write's path.

        The same writes in the same order as ``_apply``: record entry, record header, record state (last),
        cells, intent cleared, record cleared."""
        mapped = self._map
        uri, delta = change
        row = -1
        if self._rows_generation == _U64.unpack_from(mapped, _GENERATION_AT)[0]:
            row = self._rows.get(uri, -1)
        if row < 0:
            row = self._row(uri)
        cells_at = _ROWS_AT + row * _ROW_SIZE + _CELLS_AT
        original, stored, objects = _CELLS.unpack_from(mapped, cells_at)
        original += delta.original_bytes
        stored += delta.stored_bytes
        objects += delta.objects
        _APPLY_ENTRY.pack_into(mapped, _APPLY_ENTRIES_AT, row, 1, original, stored, objects)
        _APPLY.pack_into(mapped, _APPLY_AT, 0, 1, stripe, seq)
        mapped[_APPLY_AT] = PENDING
        _CELLS.pack_into(mapped, cells_at, original, stored, objects)
        mapped[_SLOTS_AT + stripe * _SLOT_SIZE] = 0
        mapped[_APPLY_AT] = 0

    def _replay(self) -> None:
        if self._map[_APPLY_AT] == PENDING:
            self._finish_apply()

    def _finish_apply(self) -> None:
        """Carry out the pending apply record (idempotent: a replay writes the same values again)."""
        mapped = self._map
        _state, count, slot, seq = _APPLY.unpack_from(mapped, _APPLY_AT)
        freed = False
        for i in range(count):
            row, used, original, stored, objects = _APPLY_ENTRY.unpack_from(
                mapped, _APPLY_ENTRIES_AT + i * _APPLY_ENTRY.size
            )
            at = self._row_at(row)
            _CELLS.pack_into(mapped, at + _CELLS_AT, original, stored, objects)
            if not used and mapped[at]:
                mapped[at] = 0
                freed = True
        if freed:
            self._bump_generation()
        if slot == BUCKET_OP_SLOT:
            if mapped[_BUCKET_OP_AT] == PENDING and _BUCKET_OP.unpack_from(mapped, _BUCKET_OP_AT)[2] == seq:
                mapped[_BUCKET_OP_AT] = 0
        elif slot < STRIPES:
            at = _SLOTS_AT + slot * _SLOT_SIZE
            if mapped[at] == PENDING and _U64.unpack_from(mapped, at + _SEQ_AT)[0] == seq:
                mapped[at] = 0
        mapped[_APPLY_AT] = 0

    def _add(self, changes: Sequence[Change], slot: int, seq: int) -> None:
        """Add deltas to their rows and clear ``slot`` in one apply (under the ledger lock)."""
        if len(changes) == 1:  # the common case, kept lean: one row, one entry
            uri, delta = changes[0]
            row = self._row(uri)
            o, s, n = self._cells(row)
            cells = (o + delta.original_bytes, s + delta.stored_bytes, n + delta.objects)
            self._apply(((row, True, cells),), slot, seq)
            return
        entries: list[tuple[int, bool, tuple[int, int, int]]] = []
        merged: dict[int, tuple[int, int, int]] = {}
        for uri, delta in changes:
            row = self._row(uri)
            o, s, n = merged.get(row) or self._cells(row)
            merged[row] = (o + delta.original_bytes, s + delta.stored_bytes, n + delta.objects)
        entries = [(row, True, cells) for row, cells in merged.items()]
        self._apply(entries, slot, seq)

    def add(self, uri: str, delta: Footprint) -> None:
        """Apply a change directly, with no intent: the in-memory store, whose every step is one lock."""
        if delta.is_zero():
            return
        with self._locked():
            self._add([(uri, delta)], NO_SLOT, 0)

    # -- intents ----------------------------------------------------------------------------------

    def watched_bytes(self) -> tuple[mmap.mmap, int, int, int]:
        """Where "something to settle" shows: the map, the bucket-op state byte, the first intent's
        state byte and the distance between intents (``ObjectLocks.watch`` reads them inline)."""
        return self._map, _BUCKET_OP_AT, _SLOTS_AT, _SLOT_SIZE

    def pending(self, stripe: int) -> bool:
        return self._map[_SLOTS_AT + stripe * _SLOT_SIZE] == PENDING

    def begin(self, stripe: int, location: str, before: bytes, changes: Sequence[Change]) -> None:
        """Record what the caller (holding ``stripe``'s lock) is about to do at ``location``.

        ``before`` is the raw metadata record there now (``b""``: nothing). Call ``commit`` once the
        change is on disk, or ``settle`` when it failed (the disk then decides whether it happened).
        """
        count = len(changes)
        if not 0 < count <= MAX_ENTRIES:
            raise ValueError(f"an intent holds 1 to {MAX_ENTRIES} bucket changes")
        mapped = self._map
        rows = self._rows
        if self._rows_generation != _U64.unpack_from(mapped, _GENERATION_AT)[0] or any(
            uri not in rows for uri, _delta in changes
        ):
            self.reserve([uri for uri, _delta in changes])
        encoded = location.encode("utf-8", "surrogateescape")
        if len(encoded) > MAX_LOCATION:
            raise StrataError(f"ledger: object path longer than {MAX_LOCATION} bytes")
        at = _SLOTS_AT + stripe * _SLOT_SIZE
        if mapped[at] == PENDING:
            raise StrataError(f"ledger: intent slot {stripe} is already pending")
        seq = _U64.unpack_from(mapped, at + _SEQ_AT)[0] + 1
        before_print = fingerprint(before) if before else _ABSENT
        mapped[at + _LOCATION_AT : at + _LOCATION_AT + len(encoded)] = encoded
        if count == 1:  # every write's path: the header and its change in one write, the state byte last
            uri, delta = changes[0]
            raw_uri = uri.encode()
            _SLOT_ONE.pack_into(
                mapped, at, 0, 1, len(encoded), 0, seq, before_print, len(raw_uri), raw_uri,
                delta.original_bytes, delta.stored_bytes, delta.objects,
            )  # fmt: skip
            mapped[at] = PENDING
            self._begun[stripe] = (seq, changes)
            return
        change_at = at + _CHANGES_AT
        for uri, delta in changes:
            raw_uri = uri.encode()
            cells = (delta.original_bytes, delta.stored_bytes, delta.objects)
            _CHANGE.pack_into(mapped, change_at, len(raw_uri), raw_uri, *cells)
            change_at += _CHANGE.size
        _SLOT.pack_into(mapped, at, 0, count, len(encoded), 0, seq, before_print)
        mapped[at] = PENDING  # the state byte last
        self._begun[stripe] = (seq, changes)  # what ``commit`` applies, without decoding it back

    def change_one(
        self,
        stripe: int,
        location: str,
        before: bytes,
        uri: str,
        delta: tuple[int, int, int],
        action: Callable[[], object],
        probe: Probe,
    ) -> None:
        """``begin``, ``action``, ``commit`` for one bucket's change, in one method: every PUT and DELETE
        runs this, so it is written out (the same writes, in the same order, as the general path)."""
        mapped = self._map
        row = -1
        if self._rows_generation == _U64.unpack_from(mapped, _GENERATION_AT)[0]:
            row = self._rows.get(uri, -1)
        if row < 0:  # a bucket this process has not seen yet (rows move only under every stripe lock)
            self.reserve((uri,))
            row = self._rows[uri]
        encoded = location.encode("utf-8", "surrogateescape")
        if len(encoded) > MAX_LOCATION:
            raise StrataError(f"ledger: object path longer than {MAX_LOCATION} bytes")
        at = _SLOTS_AT + stripe * _SLOT_SIZE
        if mapped[at] == PENDING:
            raise StrataError(f"ledger: intent slot {stripe} is already pending")
        seq = _U64.unpack_from(mapped, at + _SEQ_AT)[0] + 1
        mapped[at + _LOCATION_AT : at + _LOCATION_AT + len(encoded)] = encoded
        raw_uri = _URI_BYTES.get(uri) or _uri_bytes(uri)
        _SLOT_ONE.pack_into(
            mapped, at, 0, 1, len(encoded), 0, seq, fingerprint(before) if before else _ABSENT,
            len(raw_uri), raw_uri, *delta,
        )  # fmt: skip
        mapped[at] = PENDING  # the intent is recorded: its state byte last
        try:
            action()
        except BaseException:
            self.recover(stripe, probe)  # the disk decides whether the change happened anyway
            raise
        with self._threads:  # the ledger lock
            fd = self._lock_fd()
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if mapped[_APPLY_AT] == PENDING:
                    self._finish_apply()
                cells_at = _ROWS_AT + row * _ROW_SIZE + _CELLS_AT
                original, stored, objects = _CELLS.unpack_from(mapped, cells_at)
                original += delta[0]
                stored += delta[1]
                objects += delta[2]
                _APPLY_ONE.pack_into(mapped, _APPLY_AT, 0, 1, stripe, seq, row, 1, original, stored, objects)
                mapped[_APPLY_AT] = PENDING  # the new values are recorded: the state byte last
                _CELLS.pack_into(mapped, cells_at, original, stored, objects)
                mapped[at] = 0
                mapped[_APPLY_AT] = 0
            finally:
                if fd >= 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _slot_changes(self, stripe: int) -> tuple[int, list[Change]]:
        at = _SLOTS_AT + stripe * _SLOT_SIZE
        _state, count, _length, _pad, seq, _before = _SLOT.unpack_from(self._map, at)
        changes = []
        for i in range(count):
            length, uri, original, stored, objects = _CHANGE.unpack_from(
                self._map, at + _CHANGES_AT + i * _CHANGE.size
            )
            changes.append((uri[:length].decode(), Footprint(original, stored, objects)))
        return seq, changes

    def commit(self, stripe: int) -> None:
        """The change is on disk: apply its deltas and clear the intent, as one step."""
        begun = self._begun.pop(stripe, None)
        at = _SLOTS_AT + stripe * _SLOT_SIZE
        mapped = self._map
        with self._threads:  # the ledger lock, spelled out: this is every write's path
            fd = self._lock_fd()
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if mapped[_APPLY_AT] == PENDING:
                    self._finish_apply()
                if mapped[at] != PENDING:
                    return
                seq = _U64.unpack_from(mapped, at + _SEQ_AT)[0]
                if begun is not None and begun[0] == seq:
                    changes = begun[1]
                else:
                    seq, changes = self._slot_changes(stripe)
                if len(changes) == 1:
                    self._apply_one(changes[0], stripe, seq)
                else:
                    self._add(changes, stripe, seq)
            finally:
                if fd >= 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def recover(self, stripe: int, probe: Probe) -> bool:
        """Settle ``stripe``'s intent if one is pending; True when one was.

        Called by whoever just took the stripe lock (the writer that left a pending intent died) and by
        a writer whose change failed half-way: the disk decides. One byte read when nothing is pending.
        """
        if self._map[_SLOTS_AT + stripe * _SLOT_SIZE] != PENDING:
            return False
        with self._locked():
            if not self.pending(stripe):  # a replayed update cleared it
                return True
            at = _SLOTS_AT + stripe * _SLOT_SIZE
            _state, _count, length, _pad, seq, before = _SLOT.unpack_from(self._map, at)
            location = bytes(self._map[at + _LOCATION_AT : at + _LOCATION_AT + length]).decode(
                "utf-8", "surrogateescape"
            )
            self._begun.pop(stripe, None)
            if fingerprint(probe(location)) == before:
                self._map[at] = 0  # the change did not happen
            else:
                _seq, changes = self._slot_changes(stripe)
                self._add(changes, stripe, seq)
        return True

    settle = recover

    def pending_location(self, stripe: int) -> str:
        """The location a pending intent is about (for logs and tests)."""
        at = _SLOTS_AT + stripe * _SLOT_SIZE
        length = _SLOT.unpack_from(self._map, at)[2]
        return bytes(self._map[at + _LOCATION_AT : at + _LOCATION_AT + length]).decode(
            "utf-8", "surrogateescape"
        )

    # -- whole-bucket changes -------------------------------------------------------------------------

    def bucket_op_pending(self) -> bool:
        return self._map[_BUCKET_OP_AT] == PENDING

    def bucket_op(self) -> tuple[int, str, str] | None:
        """The pending whole-bucket change: (``DESTROY`` or ``MOVE``, source key, destination key)."""
        if not self.bucket_op_pending():
            return None
        _state, kind, _seq = _BUCKET_OP.unpack_from(self._map, _BUCKET_OP_AT)
        src_len, src = _KEY.unpack_from(self._map, _BUCKET_OP_SRC_AT)
        dst_len, dst = _KEY.unpack_from(self._map, _BUCKET_OP_DST_AT)
        return kind, src[:src_len].decode(), dst[:dst_len].decode()

    def begin_bucket_op(self, kind: int, src_key: str, dst_key: str = "", dst_uri: str = "") -> None:
        """Record a whole-bucket change (the caller holds every stripe lock); it is rolled forward
        after a death, and ended by ``finish_destroy`` / ``finish_move``."""
        if dst_uri:
            self.reserve([dst_uri])
        src, dst = src_key.encode(), dst_key.encode()
        if len(src) > 254 or len(dst) > 254:
            raise StrataError("ledger: bucket key too long")
        mapped = self._map
        seq = _BUCKET_OP.unpack_from(mapped, _BUCKET_OP_AT)[2] + 1
        _KEY.pack_into(mapped, _BUCKET_OP_SRC_AT, len(src), src)
        _KEY.pack_into(mapped, _BUCKET_OP_DST_AT, len(dst), dst)
        _BUCKET_OP.pack_into(mapped, _BUCKET_OP_AT, 0, kind, seq)
        mapped[_BUCKET_OP_AT] = PENDING

    def _bucket_op_seq(self) -> tuple[int, int]:
        if not self.bucket_op_pending():
            return NO_SLOT, 0
        seq: int = _BUCKET_OP.unpack_from(self._map, _BUCKET_OP_AT)[2]
        return BUCKET_OP_SLOT, seq

    def finish_destroy(self, uri: str) -> None:
        """The bucket's objects are gone: free its row and end the bucket op, as one step."""
        with self._locked():
            slot, seq = self._bucket_op_seq()
            row = self._find(uri)
            self._apply([(row, False, (0, 0, 0))] if row >= 0 else [], slot, seq)

    def finish_move(self, src_uri: str, dst_uri: str) -> None:
        """The source bucket's objects are the destination's now: add its row to the destination's and
        free it, ending the bucket op, as one step."""
        with self._locked():
            slot, seq = self._bucket_op_seq()
            src = self._find(src_uri)
            if src < 0 or src_uri == dst_uri:
                self._apply([], slot, seq)
                return
            dst = self._row(dst_uri)
            o, s, n = self._cells(src)
            do, ds, dn = self._cells(dst)
            self._apply([(dst, True, (do + o, ds + s, dn + n)), (src, False, (0, 0, 0))], slot, seq)

    # -- reading and rebuilding ---------------------------------------------------------------------

    def totals(self) -> dict[str, Footprint]:
        """Every bucket that holds objects, by ``BucketRef.uri``: exact whenever no change is in flight
        (what a process that died left pending is settled first)."""
        if self.settler is not None:
            self.settler()
        out = {}
        with self._locked():
            for row in range(self._hwm()):
                at = self._row_at(row)
                used, length, uri = _ROW_HEAD.unpack_from(self._map, at)
                if not used:
                    continue
                cells = _CELLS.unpack_from(self._map, at + _CELLS_AT)
                if any(cells):
                    out[uri[:length].decode()] = Footprint(*cells)
        return out

    def rebuild(self, counts: dict[str, Footprint]) -> None:
        """Replace every count with ``counts`` (a recount made while the caller held every stripe lock)
        and drop every intent: the disk they were about has just been counted. Valid from now on."""
        with self._locked():
            mapped = self._map
            for stripe in range(STRIPES):
                mapped[_SLOTS_AT + stripe * _SLOT_SIZE] = 0
            mapped[_BUCKET_OP_AT] = 0
            for row in range(self._hwm()):
                mapped[self._row_at(row)] = 0
            _U32.pack_into(mapped, _HWM_AT, 0)
            self._bump_generation()
            for uri, counted in sorted(counts.items()):
                if counted.is_zero():
                    continue
                row = self._row(uri)
                _CELLS.pack_into(
                    mapped,
                    self._row_at(row) + _CELLS_AT,
                    counted.original_bytes,
                    counted.stored_bytes,
                    counted.objects,
                )
            self._set_flags(0)  # last: a kill before this rebuilds again


class Recountable(Protocol):
    def recount(self) -> dict[str, Footprint]: ...


def recount(store: Recountable) -> dict[str, Footprint]:
    """Every bucket's footprint counted from what the store holds (``strata savings --verify``).

    Over the POSIX store: every object file under every bucket's ``%ob`` on every mountpath, stored
    bytes from ``fstat``, original bytes from the metadata. Slow (one open per object); exact when no
    object changes meanwhile. Buckets without objects are left out, as in ``Ledger.totals``.
    """
    return store.recount()
