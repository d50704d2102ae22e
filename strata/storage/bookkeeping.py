"""The POSIX store's side of the savings ledger: every object change goes through here.

``strata.storage.ledger`` explains the protocol; this module carries it out over the files. A
``Bookkeeper`` is the stripe guard of the store's ``ObjectLocks``: right after a stripe is taken it
settles what a writer that died holding it left (one byte read when nothing is pending), and before
that it finishes a whole-bucket change a dead process left half-done (destroy, rename), holding every
stripe. ``change`` wraps one object change on disk: intent, the change, apply.

Whole-bucket changes hold every stripe lock, so no object change interleaves with them: destroy trashes
the bucket's directories and frees its row; rename moves each mountpath's directory (or merges it file
by file into one that already exists there, each file an intent of its own) and then moves the row.
Both are recorded first and rolled forward after a death.

Also here: opening the node's ledger file (``open_ledger``: off, stale, rebuilt by one recount) and
the recount itself (``count_mountpaths``: every object file under every bucket's ``%ob``, stored bytes
from ``fstat``, original bytes from the metadata).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from strata.core.errors import InsufficientStorage, InvalidName
from strata.core.names import BucketRef, parse_namespace
from strata.storage.ledger import (
    DESTROY,
    MOVE,
    STALE_NEW,
    Change,
    Footprint,
    Ledger,
    ledger_enabled,
    record_footprint,
)
from strata.storage.locks import STRIPES, ObjectLocks, stripe_of
from strata.storage.metadata import XATTR_NAME, ObjectMetadata, decode_metadata
from strata.storage.mountpaths import OBJECTS, Mountpaths
from strata.storage.xattrs import read_xattr

log = logging.getLogger("strata.ledger")

LEDGER_FILE = ".ledger"  # on the first mountpath, next to the stripe locks
T = TypeVar("T")


def current_record(location: str, expected_size: int = 0) -> bytes:
    """The raw (main) metadata record of the file at ``location``; ``b""`` when there is none.
    ``expected_size``: the size the caller expects (the hot cache: the record it holds), read in one
    call however large (``xattrs.read_xattr``)."""
    try:
        return read_xattr(location, XATTR_NAME, expected_size)
    except OSError:
        return b""


def mountpaths_digest(mountpaths: Mountpaths) -> bytes:
    roots = "\0".join(sorted(m.root for m in mountpaths.all))
    return hashlib.blake2b(roots.encode(), digest_size=16).digest()


class Bookkeeper:
    """The ledger protocol over one node's mountpaths (the ``StripeGuard`` of its locks)."""

    def __init__(self, ledger: Ledger, mountpaths: Mountpaths, locks: ObjectLocks) -> None:
        self.ledger = ledger
        self.mountpaths = mountpaths
        self.locks = locks
        self.settled = 0  # intents of dead writers this process settled (for the log)

    # -- the stripe guard -----------------------------------------------------------------------

    def ready(self, stripes: tuple[int, ...]) -> bool:
        ledger = self.ledger
        if ledger.bucket_op_pending():
            return False
        for stripe in stripes:
            if ledger.pending(stripe) and ledger.recover(stripe, current_record):
                self.settled += 1
        return True

    def finish(self) -> None:
        with self.locks.hold_all():
            self.settle_all()

    def settle_pending(self) -> int:
        """Settle what dead processes left pending, taking only the stripes that have something (a read
        of the ledger calls this first, so it is exact whenever no change is in flight). Returns how many
        were settled (a live writer's intent is waited for: it settles its own)."""
        ledger = self.ledger
        before = self.settled
        for stripe in [stripe for stripe in range(STRIPES) if ledger.pending(stripe)]:
            with self.locks.hold_stripe(stripe):  # the guard settles it, or finishes a bucket op first
                pass
        if ledger.bucket_op_pending():
            self.finish()
            self.settled += 1
        return self.settled - before

    def settle_all(self) -> None:
        """Settle every stripe and finish a pending whole-bucket change (the caller holds every stripe)."""
        for stripe in range(STRIPES):
            self.ledger.recover(stripe, current_record)
        op = self.ledger.bucket_op()
        if op is None:
            return
        kind, src_key, dst_key = op
        what = "destroy" if kind == DESTROY else "rename"
        log.warning("finishing a bucket %s that stopped half-way: %s", what, src_key)
        if kind == DESTROY:
            self._destroy(BucketRef.from_key(src_key))
        elif kind == MOVE:
            self._rename(BucketRef.from_key(src_key), BucketRef.from_key(dst_key))

    # -- one object change -----------------------------------------------------------------------

    def change(
        self, stripe: int, location: str, before: bytes, changes: Sequence[Change], action: Callable[[], T]
    ) -> T:
        """Do ``action`` (the change at ``location``, under ``stripe``'s lock) with the ledger in step.

        ``before`` is the raw record at ``location`` now. If ``action`` fails, the disk decides whether
        the change happened anyway (a rename that did happen before an error is still counted).
        """
        if len(changes) == 1:
            uri, delta = changes[0]
            results: list[T] = []
            cells = (delta.original_bytes, delta.stored_bytes, delta.objects)
            self.ledger.change_one(
                stripe, location, before, uri, cells, lambda: results.append(action()), current_record
            )
            return results[0]
        self.ledger.begin(stripe, location, before, changes)
        try:
            result = action()
        except BaseException:
            self.ledger.settle(stripe, current_record)
            raise
        self.ledger.commit(stripe)
        return result

    def publish(
        self,
        stripe: int,
        bck: BucketRef,
        location: str,
        md: ObjectMetadata,
        place: Callable[[], None],
        before: bytes | None = None,
    ) -> None:
        """A new version (``md``) replaces whatever is at ``location`` (``place`` renames it there).

        ``before``: the raw record at ``location``, when the caller read it under this same lock.
        Every PUT, copy, flush, completion and rebalance receive comes here: written out lean."""
        if before is None:
            try:
                before = os.getxattr(location, XATTR_NAME)
            except OSError:
                before = b""
        original, stored, objects = md.size, md.stored, 1
        if before:
            old = record_footprint(before)
            original -= old.original_bytes
            stored -= old.stored_bytes
            objects -= old.objects
            if not (original or stored or objects):  # the cells are the same whether it happens or not
                place()
                return
        self.ledger.change_one(
            stripe, location, before, bck.uri, (original, stored, objects), place, current_record
        )

    # -- whole-bucket changes ----------------------------------------------------------------------

    def destroy_bucket(self, bck: BucketRef) -> None:
        with self.locks.hold_all():
            self.settle_all()
            self.ledger.begin_bucket_op(DESTROY, bck.key)
            self._destroy(bck)

    def _destroy(self, bck: BucketRef) -> None:
        self.mountpaths.destroy_bucket(bck)
        self.ledger.finish_destroy(bck.uri)

    def rename_bucket(self, src: BucketRef, dst: BucketRef) -> None:
        with self.locks.hold_all():
            self.settle_all()
            self.ledger.begin_bucket_op(MOVE, src.key, dst.key, dst.uri)
            self._rename(src, dst)

    def _rename(self, src: BucketRef, dst: BucketRef) -> None:
        rename_bucket_dirs(self.mountpaths, src, dst, self._merge_file)
        self.ledger.finish_move(src.uri, dst.uri)

    def _merge_file(
        self, src: BucketRef, dst: BucketRef, here: str, there: str, replace: bool, is_object: bool
    ) -> None:
        """One file of a merge (every stripe is held): moved over ``there``, or dropped."""
        if not is_object:  # work files, parts, append handles: not counted
            plain_merge_file(src, dst, here, there, replace, is_object)
            return
        before = current_record(here)
        mine = record_footprint(before)
        if replace:
            changes = [(src.uri, -mine), (dst.uri, mine - record_footprint(current_record(there)))]
            action: Callable[[], None] = lambda: os.replace(here, there)  # noqa: E731
        else:
            changes = [(src.uri, -mine)]
            action = lambda: os.unlink(here)  # noqa: E731
        if mine.is_zero():  # not an object: nothing to count
            action()
            return
        self.change(stripe_of(here), here, before, changes, action)


# -- bucket renames (with or without a ledger) -------------------------------------------------------

# (source bucket, destination bucket, source file, destination file, replace or drop, under %ob)
MergeFile = Callable[[BucketRef, BucketRef, str, str, bool, bool], None]


def plain_merge_file(
    _src: BucketRef, _dst: BucketRef, here: str, there: str, replace: bool, _is_object: bool
) -> None:
    if replace:
        os.replace(here, there)
    else:
        os.unlink(here)


def rename_bucket_dirs(mountpaths: Mountpaths, src: BucketRef, dst: BucketRef, merge_file: MergeFile) -> None:
    """Rename the bucket's directory on every mountpath (objects keep their files).

    In a cluster, peers may already be sending objects of the renamed bucket here, so the
    destination directory can exist: then the source tree is merged into it file by file.
    Idempotent: a rename that stopped half-way is finished by running it again.
    """
    for mp in mountpaths.all:
        source = mp.bucket_dir(src)
        if not os.path.isdir(source):
            continue
        target = mp.bucket_dir(dst)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.rename(source, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            _merge_tree(src, dst, source, target, merge_file)


def _merge_tree(src: BucketRef, dst: BucketRef, source: str, target: str, merge_file: MergeFile) -> None:
    """Move every file of ``source`` into ``target``; where both hold an object, the newer write wins."""
    for root, _dirs, files in os.walk(source, topdown=False):
        rel = os.path.relpath(root, source)
        is_object = rel == OBJECTS or rel.startswith(OBJECTS + os.sep)
        into = os.path.normpath(os.path.join(target, rel))
        os.makedirs(into, exist_ok=True)
        for name in files:
            here, there = os.path.join(root, name), os.path.join(into, name)
            mine, theirs = _metadata(here), _metadata(there)
            keep_theirs = theirs is not None and mine is not None and theirs >= mine
            merge_file(src, dst, here, there, not keep_theirs, is_object)
        os.rmdir(root)


def _metadata(path: str) -> int | None:
    """The write time of the object at ``path`` (None when it holds no object)."""
    record = current_record(path)
    if not record:
        return None
    try:
        return decode_metadata(record).mtime_ns
    except ValueError:
        return None


# -- moving one object file between mountpaths (resilver) ---------------------------------------------


def move_object_file(
    locks: ObjectLocks,
    books: Bookkeeper | None,
    bck: BucketRef,
    src: str,
    dst: str,
    *,
    work_path: str,
    place: Callable[[str, str], None],
) -> int:
    """Move the object file at ``src`` over ``dst`` (same bucket, other mountpath); returns its size,
    0 when it was gone already.

    On one filesystem it is one rename (``place``), decided by ``src`` (emptied). Across filesystems it
    is a copy to ``work_path`` (a work file on the destination's mountpath) renamed over ``dst``, then
    the source removed: two steps, each its own intent.
    """
    with locks.hold_pair(src, dst) as (src_stripe, dst_stripe):
        before = current_record(src)
        if not before:
            return 0
        size = os.stat(src).st_size
        mine = record_footprint(before)
        if mine.is_zero():  # not an object of ours (an undecodable record): nothing to count
            books = None
        try:
            if books is None:
                place(src, dst)
            else:
                delta = -record_footprint(current_record(dst))
                if delta.is_zero():
                    place(src, dst)
                else:
                    books.change(src_stripe, src, before, [(bck.uri, delta)], lambda: place(src, dst))
            return size
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        os.makedirs(os.path.dirname(work_path), exist_ok=True)
        shutil.copy2(src, work_path)  # copies the metadata xattr too
        try:
            if books is None:
                place(work_path, dst)
            else:
                books.publish(dst_stripe, bck, dst, decode_metadata(before), lambda: place(work_path, dst))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(work_path)
            raise
        if books is None:
            os.unlink(src)
        else:
            books.change(src_stripe, src, before, [(bck.uri, -mine)], lambda: os.unlink(src))
        return size


# -- opening the ledger, recounting ---------------------------------------------------------------------


def open_ledger(mountpaths: Mountpaths, locks: ObjectLocks) -> Bookkeeper | None:
    """The node's ledger (None when ``STRATA_LEDGER=0``), rebuilt by one recount when stale.

    Stale means it does not (provably) match the disk: a new file, one written to while the ledger was
    off, or one counted over other mountpaths. A ledger file on another mountpath is from an earlier
    mountpath order: it is removed, so it can never come back out of date.
    """
    path = os.path.join(mountpaths.all[0].root, LEDGER_FILE)
    for mp in mountpaths.all[1:]:
        try:
            os.unlink(os.path.join(mp.root, LEDGER_FILE))
        except FileNotFoundError:
            pass
    if not ledger_enabled():
        if os.path.exists(path):
            ledger = Ledger(path, mountpaths_digest=mountpaths_digest(mountpaths))
            ledger.mark_off()
            ledger.close()
        return None
    try:
        ledger = Ledger(path, mountpaths_digest=mountpaths_digest(mountpaths))
    except InsufficientStorage as exc:
        # serve without it rather than not at all; the file goes, so the next start recounts
        log.error("savings ledger OFF: %s; no savings reports until a start with room", exc.message)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return None
    books = Bookkeeper(ledger, mountpaths, locks)
    ledger.settler = books.settle_pending
    if not ledger.stale:
        settled = books.settle_pending()  # a few byte reads when nothing was left
        if settled:
            log.info("savings ledger: settled %d change(s) a stopped process left pending", settled)
        return books
    with locks.hold_all():
        if ledger.stale:  # another process may have rebuilt it while this one waited
            reason = ledger.stale_reason()
            started = time.monotonic()
            if not ledger.flags & STALE_NEW:  # a real ledger: finish a whole-bucket change it recorded
                books.settle_all()
            counts = count_mountpaths(mountpaths)
            ledger.rebuild(counts)
            level = logging.INFO if reason == "no ledger yet" else logging.WARNING
            log.log(
                level,
                "savings ledger %s rebuilt by one recount (%s): %d bucket(s), %d object(s) in %.2fs",
                path,
                reason,
                len(counts),
                sum(c.objects for c in counts.values()),
                time.monotonic() - started,
            )
    return books


def _bucket_dirs(root: str) -> Iterator[tuple[BucketRef, str]]:
    """Every bucket directory below a mountpath: ``@provider/bucket`` and ``@provider/@uuid#ns/bucket``."""
    for provider_entry in _listdir(root):
        if not provider_entry.startswith("@"):
            continue  # .trash, .locks, .index, the ledger
        provider = provider_entry[1:]
        provider_dir = os.path.join(root, provider_entry)
        for entry in _listdir(provider_dir):
            if entry.startswith("@"):
                try:
                    ns_uuid, ns_name = parse_namespace(entry)
                except InvalidName:
                    continue
                ns_dir = os.path.join(provider_dir, entry)
                for name in _listdir(ns_dir):
                    yield BucketRef(name, provider, ns_uuid, ns_name), os.path.join(ns_dir, name)
            else:
                yield BucketRef(entry, provider), os.path.join(provider_dir, entry)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def count_mountpaths(mountpaths: Mountpaths) -> dict[str, Footprint]:
    """What is on disk, per bucket URI: every object file under ``%ob`` on every mountpath (a file
    without our metadata is not an object). Buckets without objects are left out."""
    counts: dict[str, list[int]] = {}
    for mp in mountpaths.all:
        for bck, bucket_dir in _bucket_dirs(mp.root):
            cells = counts.setdefault(bck.uri, [0, 0, 0])
            for root, _dirs, files in os.walk(os.path.join(bucket_dir, OBJECTS)):
                for name in files:
                    try:
                        fd = os.open(os.path.join(root, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    except OSError:
                        continue
                    try:
                        stored = os.fstat(fd).st_size
                        md = decode_metadata(os.getxattr(fd, XATTR_NAME))
                    except (OSError, ValueError):
                        continue
                    finally:
                        os.close(fd)
                    cells[0] += md.size
                    cells[1] += stored
                    cells[2] += 1
    return {uri: Footprint(*cells) for uri, cells in counts.items() if any(cells)}
