"""Objects on local mountpaths: atomic writes, reads, metadata, delete, copy and rename.

Every write goes to a work file in the bucket's ``%wk`` directory on the object's own mountpath,
gets its metadata xattr, and is renamed into place. A crash (even kill -9) at any moment leaves
either the old object or the new one visible, never a partial one; leftover work files are swept
at start-up.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from functools import partial

from strata.core.errors import Conflict, InsufficientStorage, InvalidRequest, ObjectNotFound, StrataError
from strata.core.names import BucketRef
from strata.storage.bookkeeping import (
    count_mountpaths,
    current_record,
    open_ledger,
    plain_merge_file,
    rename_bucket_dirs,
)
from strata.storage.checksum import Hasher, checksum_file, new_hasher
from strata.storage.commit import Encoded, check_written, new_metadata, stored_form
from strata.storage.ledger import Footprint, Ledger, footprint, record_footprint
from strata.storage.listing import iter_names
from strata.storage.locks import ObjectLocks
from strata.storage.metadata import (
    XATTR_NAME,
    ObjectMetadata,
    decode_metadata,
    encode_metadata,
    read_metadata,
    read_metadata_raw,
    write_metadata,
)
from strata.storage.mountpaths import LOCKS, OBJECTS, Mountpath, Mountpaths


def os_error(exc: OSError, what: str) -> StrataError:
    """Translate a filesystem error into the API's error tree (a full disk is 507, not 500)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"{what}: no space left on device")
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return Conflict(f"{what}: the name conflicts with an existing object or virtual directory")
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidRequest(f"{what}: name too long")
    return StrataError(f"{what}: {exc.strerror}")


def copy_range(src_fd: int, dst_fd: int, count: int, dst_offset: int = 0) -> int:
    """Copy ``count`` bytes from the start of ``src_fd`` to ``dst_offset`` kernel-side.

    Returns the bytes copied: fewer than ``count`` when the source ends early.
    """
    copied = 0
    while copied < count:
        n = os.copy_file_range(src_fd, dst_fd, count - copied, copied, dst_offset + copied)
        if n == 0:
            break
        copied += n
    return copied


def place_file(work_path: str, final_path: str, stop_at: str, *, cross_device_ok: bool = False) -> None:
    """Rename a finished file into place, creating parent directories as needed.

    A concurrent delete may remove an empty parent between ``makedirs`` and ``rename``: retry.
    With ``cross_device_ok`` a move between filesystems copies to a work file first (resilver).
    """
    if cross_device_ok:
        try:
            place_file(work_path, final_path, stop_at)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        tmp = f"{final_path}.{os.getpid()}.xdev"
        os.makedirs(os.path.dirname(final_path), exist_ok=True)
        shutil.copy2(work_path, tmp)  # copies the metadata xattr too
        os.replace(tmp, final_path)
        os.unlink(work_path)
        return
    for _ in range(8):
        try:
            os.rename(work_path, final_path)
            return
        except FileNotFoundError:
            if not os.path.exists(work_path):
                raise
            os.makedirs(os.path.dirname(final_path), exist_ok=True)
        except IsADirectoryError:
            raise Conflict(
                f"{final_path[len(stop_at) + 1 :]!r}: a virtual directory of that name exists"
            ) from None
        except NotADirectoryError:
            raise Conflict(
                f"{final_path[len(stop_at) + 1 :]!r}: a parent path component is an existing object"
            ) from None
    os.rename(work_path, final_path)


def _prune_empty_dirs(path: str, stop_at: str) -> None:
    """Remove now-empty parent directories of a deleted object, up to the bucket's ``%ob``."""
    parent = os.path.dirname(path)
    while len(parent) > len(stop_at) and parent.startswith(stop_at):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = os.path.dirname(parent)


class ObjectWriter:
    """Streams one object's bytes into a work file, hashing as they pass; ``commit`` publishes it."""

    # the raw record the commit found at the object's path (under its lock), None when it did not look
    previous_record: bytes | None = None

    def __init__(
        self,
        mountpath: Mountpath,
        bck: BucketRef,
        object_name: str,
        checksum_type: str,
        locks: ObjectLocks,
        *,
        fsync: bool = False,
        extra_hasher: Hasher | None = None,
    ) -> None:
        self.locks = locks
        self.mountpath = mountpath
        self.bck = bck
        self.object_name = object_name
        self.final_path = mountpath.object_path(bck, object_name)
        self.checksum_type = checksum_type
        self.hasher = new_hasher(checksum_type)
        self.extra_hasher = extra_hasher
        self.fsync = fsync
        self.size = 0
        self.work_path = mountpath.work_path(bck)
        # read-write: a copy into another checksum type hashes the work file it wrote
        try:
            self.fd = os.open(self.work_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self.work_path), exist_ok=True)
            self.fd = os.open(self.work_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self.closed = False

    @classmethod
    def adopt(
        cls,
        mountpath: Mountpath,
        bck: BucketRef,
        object_name: str,
        work_path: str,
        checksum_type: str,
        locks: ObjectLocks,
    ) -> ObjectWriter:
        """Take over a finished file on the same mountpath (append, multipart) and hash it."""
        writer = cls.__new__(cls)
        writer.locks = locks
        writer.mountpath = mountpath
        writer.bck = bck
        writer.object_name = object_name
        writer.final_path = mountpath.object_path(bck, object_name)
        writer.checksum_type = checksum_type
        writer.extra_hasher = None
        writer.fsync = False
        writer.work_path = work_path
        writer.fd = os.open(work_path, os.O_RDWR | os.O_CLOEXEC)
        writer.closed = False
        writer.size = os.fstat(writer.fd).st_size
        writer.hasher = _Fixed(checksum_file(writer.fd, checksum_type))
        return writer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.hasher.update(data)
        if self.extra_hasher is not None:
            self.extra_hasher.update(data)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            self.abort()
            raise os_error(exc, self.bck.object_uri(self.object_name)) from exc
        self.size += len(data)

    def commit(
        self,
        *,
        versioning: bool,
        custom: dict[str, str] | None = None,
        expected_checksum: tuple[str, str] | None = None,
        etag: str = "",
        carried: ObjectMetadata | None = None,
        encoded: Encoded | None = None,
    ) -> ObjectMetadata:
        """Seal the work file with its metadata and rename it over the object (atomically).

        ``carried`` is metadata that travels with the bytes (rebalance moving an object between
        targets): it is kept as it is -- version, times, custom -- once the bytes hash to it.
        ``encoded``: the write hashed the original bytes itself and stored them in another form.
        """
        if encoded is not None:
            size, checksum_type, value = encoded.size, encoded.checksum_type, encoded.checksum_value
        else:
            size, checksum_type, value = self.size, self.checksum_type, self.hasher.hexdigest()
        try:
            check_written(
                self.bck.object_uri(self.object_name),
                size=size if carried is None else self.size,
                checksum_type=checksum_type,
                value=value,
                expected=expected_checksum,
                carried=carried,
            )
        except InvalidRequest:
            self.abort()
            raise
        if carried is not None:
            return self._publish(carried)

        def fresh() -> ObjectMetadata:
            md = new_metadata(
                self._previous() if versioning else None,
                size=size,
                checksum_type=checksum_type,
                value=value,
                versioning=versioning,
                custom=custom,
                etag=etag,
            )
            return stored_form(md, encoded, self.size)

        return self._publish(fresh)

    def _publish(self, metadata: ObjectMetadata | Callable[[], ObjectMetadata]) -> ObjectMetadata:
        try:
            if self.fsync:
                os.fsync(self.fd)
            # read-the-previous-version and publish are one step for concurrent writers and patches
            with self.locks.hold(self.final_path) as stripe:
                self.previous_record = None
                md = metadata if isinstance(metadata, ObjectMetadata) else metadata()
                write_metadata(self.fd, md)
                os.close(self.fd)
                self.closed = True
                books = self.locks.guard
                if books is not None:  # the savings ledger, in the same step
                    books.publish(stripe, self.bck, self.final_path, md, self._place, self.previous_record)
                else:
                    self._place()
        except OSError as exc:
            self.abort()
            raise os_error(exc, self.bck.object_uri(self.object_name)) from exc
        except StrataError:
            self.abort()
            raise
        return md

    def _previous(self) -> ObjectMetadata | None:
        """The current version's metadata (read under the object's lock); its raw record is kept for
        the savings ledger, which would otherwise read it again."""
        try:
            record = self.previous_record = os.getxattr(self.final_path, XATTR_NAME)
        except OSError:
            self.previous_record = b""
            return None
        try:
            return decode_metadata(record)
        except ValueError:  # not a record of ours
            return None

    def _place(self) -> None:
        place_file(self.work_path, self.final_path, self.mountpath.content_dir(self.bck, OBJECTS))

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                os.close(self.fd)
            except OSError:
                pass
        try:
            os.unlink(self.work_path)
        except OSError:
            pass


class OpenObject:
    """An object opened for reading: the fd stays valid even if the object is replaced meanwhile."""

    __slots__ = ("fd", "metadata", "path", "raw_metadata", "size", "uri")

    def __init__(
        self, fd: int, size: int, metadata: ObjectMetadata, path: str, raw_metadata: bytes, uri: str = ""
    ) -> None:
        self.fd = fd
        self.size = size
        self.metadata = metadata
        self.path = path
        self.raw_metadata = raw_metadata
        self.uri = uri  # ais://bucket/name: how errors name it (never the file's path)

    def close(self) -> None:
        os.close(self.fd)

    def whole_record(self) -> bytes:
        """The version's metadata as one record (``encode_metadata``): what another node is sent along
        with the bytes. The main record itself unless the backend's facts are kept apart on disk."""
        return encode_metadata(self.metadata) if self.metadata.facts_apart else self.raw_metadata


class ObjectStore:
    """All object operations of one node over its mountpaths (plus the per-object write locks)."""

    def __init__(self, mountpaths: Mountpaths) -> None:
        self.mountpaths = mountpaths
        self.locks = ObjectLocks(os.path.join(mountpaths.all[0].root, LOCKS))
        self._roots = [(m.root + os.sep, m.root) for m in mountpaths.all]
        # the savings ledger (None with STRATA_LEDGER=0); its guard settles what a dead writer left
        self.books = open_ledger(mountpaths, self.locks)
        self.ledger: Ledger | None = self.books.ledger if self.books is not None else None
        if self.books is not None:
            self.locks.watch(self.books, *self.books.ledger.watched_bytes())

    def close(self) -> None:
        """Release the ledger map and lock files (a supervisor does, before it forks the workers)."""
        if self.ledger is not None:
            self.ledger.close()
        self.locks.close()

    def recount(self) -> dict[str, Footprint]:
        """What the ledger should say, counted from the files (``strata savings --verify``): slow."""
        return count_mountpaths(self.mountpaths)

    # -- lookup -----------------------------------------------------------------------------

    def location(self, bck: BucketRef, object_name: str) -> str:
        """Where the object lives when it is on its HRW mountpath (the hot cache's key)."""
        return self.mountpaths.for_object(bck, object_name).object_path(bck, object_name)

    # the raw metadata record at a location (b"" when nothing is there): the hot cache's validity probe,
    # called on every hit, so the function itself rather than a method wrapping it
    current_record = staticmethod(current_record)

    def create_bucket(self, bck: BucketRef) -> None:
        self.mountpaths.create_bucket(bck)

    def rename_bucket(self, src: BucketRef, dst: BucketRef) -> None:
        """Rename the bucket's directories (move-bck): its objects keep their files, and its row."""
        if self.books is not None:
            self.books.rename_bucket(src, dst)  # holds every stripe; rolled forward after a death
        else:
            rename_bucket_dirs(self.mountpaths, src, dst, plain_merge_file)

    def destroy_bucket(self, bck: BucketRef) -> None:
        if self.books is not None:
            self.books.destroy_bucket(bck)  # holds every stripe; the row goes with the directories
        else:
            self.mountpaths.destroy_bucket(bck)

    def _candidate_paths(self, bck: BucketRef, object_name: str) -> list[tuple[Mountpath, str]]:
        home = self.mountpaths.for_object(bck, object_name)
        paths = [(home, home.object_path(bck, object_name))]
        paths.extend((m, m.object_path(bck, object_name)) for m in self.mountpaths.others(home))
        return paths

    def open(self, bck: BucketRef, object_name: str) -> OpenObject:
        """Open for reading. Looks on the HRW mountpath first, then the others (mountpaths added later)."""
        home = self.mountpaths.for_object(bck, object_name)
        path = home.object_path(bck, object_name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            fd = -1
        if fd < 0:
            for other in self.mountpaths.others(home):
                path = other.object_path(bck, object_name)
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    break
                except (FileNotFoundError, NotADirectoryError):
                    continue
            else:
                raise ObjectNotFound(bck.object_uri(object_name))
        found = read_metadata_raw(fd)
        if found is None:  # a directory (a virtual "folder"), or a foreign file
            os.close(fd)
            raise ObjectNotFound(bck.object_uri(object_name))
        # size from metadata: no fstat
        return OpenObject(fd, found[0].size, found[0], path, found[1], bck.object_uri(object_name))

    def find(self, bck: BucketRef, object_name: str) -> tuple[str, ObjectMetadata]:
        """Where the object is and its metadata: one metadata read when it is on its HRW mountpath
        (the other mountpaths' paths are computed only when it is not: listing calls this per entry)."""
        home = self.mountpaths.for_object(bck, object_name)
        path = home.object_path(bck, object_name)
        md = read_metadata(path)
        if md is not None:
            return path, md
        for other in self.mountpaths.others(home):
            path = other.object_path(bck, object_name)
            md = read_metadata(path)
            if md is not None:
                return path, md
        raise ObjectNotFound(bck.object_uri(object_name))

    def mountpath_of(self, location: str) -> str:
        """The root of the mountpath a ``location`` (an object's path) is on; "" when on none."""
        for prefix, root in self._roots:
            if location.startswith(prefix):
                return root
        return ""

    def head(self, bck: BucketRef, object_name: str) -> ObjectMetadata:
        return self.find(bck, object_name)[1]

    def iter_names(self, bck: BucketRef, prefix: str = "") -> Iterator[str]:
        """The bucket's object names that start with ``prefix``, in order, over all mountpaths."""
        for name, _is_dir in iter_names(self.mountpaths, bck, prefix=prefix):
            yield name  # a recursive walk yields objects only

    def walk(
        self, bck: BucketRef, *, prefix: str = "", after: str = "", recursive: bool = True
    ) -> Iterator[tuple[str, bool]]:
        """``(name, is_dir)`` after ``after`` in name order: a listing page's walk (``storage.listing``).

        Without ``recursive``, virtual directories come as ``("dir/", True)`` instead of what they hold.
        """
        return iter_names(self.mountpaths, bck, prefix=prefix, after=after, recursive=recursive)

    # -- writes -----------------------------------------------------------------------------

    def writer(
        self,
        bck: BucketRef,
        object_name: str,
        checksum_type: str,
        *,
        fsync: bool = False,
        extra_hasher: Hasher | None = None,
    ) -> ObjectWriter:
        mountpath = self.mountpaths.for_object(bck, object_name)
        try:
            return ObjectWriter(
                mountpath, bck, object_name, checksum_type, self.locks, fsync=fsync, extra_hasher=extra_hasher
            )
        except OSError as exc:
            raise os_error(exc, bck.object_uri(object_name)) from exc

    def adopt(self, bck: BucketRef, object_name: str, work_path: str, checksum_type: str) -> ObjectWriter:
        """A writer over a finished file (append, multipart), published by its ``commit``."""
        mountpath = self.mountpaths.for_object(bck, object_name)
        return ObjectWriter.adopt(mountpath, bck, object_name, work_path, checksum_type, self.locks)

    def delete(self, bck: BucketRef, object_name: str) -> None:
        books = self.books
        for mp, path in self._candidate_paths(bck, object_name):
            with self.locks.hold(mp.object_path(bck, object_name)) as stripe:
                found = read_metadata_raw(path)
                if found is None:
                    continue
                try:
                    if books is None:
                        os.unlink(path)
                    else:
                        changes = [(bck.uri, -footprint(found[0]))]
                        books.change(stripe, path, found[1], changes, partial(os.unlink, path))
                except FileNotFoundError:
                    continue
            _prune_empty_dirs(path, mp.content_dir(bck, OBJECTS))
            return
        raise ObjectNotFound(bck.object_uri(object_name))

    def update_metadata(
        self, bck: BucketRef, object_name: str, change: Callable[[ObjectMetadata], ObjectMetadata]
    ) -> ObjectMetadata:
        """Read, change and write back an object's metadata as one step (under the object's lock)."""
        for _mp, path in self._candidate_paths(bck, object_name):
            with self.locks.hold(path) as stripe:
                found = read_metadata_raw(path)
                if found is None:
                    continue
                md, record = found
                new_md = change(md)
                delta = footprint(new_md) - footprint(md)
                try:
                    if self.books is None or delta.is_zero():
                        write_metadata(path, new_md, replaced=md)
                    else:
                        write = partial(write_metadata, path, new_md, replaced=md)
                        self.books.change(stripe, path, record, [(bck.uri, delta)], write)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise os_error(exc, bck.object_uri(object_name)) from exc
                return new_md
        raise ObjectNotFound(bck.object_uri(object_name))

    def copy(
        self,
        src_bck: BucketRef,
        src_name: str,
        dst_bck: BucketRef,
        dst_name: str,
        *,
        checksum_type: str,
        versioning: bool,
        fsync: bool = False,
    ) -> ObjectMetadata:
        """Copy bytes and custom metadata to a new name (kernel-side copy, no bytes through Python).

        A compressed version is copied as it is stored (codec and all); its checksum is of the original
        bytes, so it can only be copied into the same checksum type (the object service decodes and
        re-encodes otherwise).
        """
        source = self.open(src_bck, src_name)
        try:
            md = source.metadata
            same_type = md.checksum_type == checksum_type and md.checksum_value
            if md.codec and not same_type:
                raise InvalidRequest(
                    f"{src_bck.object_uri(src_name)}: a compressed copy keeps its checksum type"
                )
            writer = self.writer(dst_bck, dst_name, checksum_type, fsync=fsync)
            value = md.checksum_value
            try:
                writer.size = copy_range(source.fd, writer.fd, md.stored)
                if not same_type:
                    value = checksum_file(writer.fd, checksum_type)
            except OSError as exc:
                writer.abort()
                raise os_error(exc, dst_bck.object_uri(dst_name)) from exc
            return writer.commit(
                versioning=versioning,
                custom=dict(md.custom),
                etag=md.etag,
                encoded=Encoded(md.codec, md.size, checksum_type, value),
            )
        finally:
            source.close()

    def rename(self, bck: BucketRef, src_name: str, dst_name: str, *, versioning: bool) -> None:
        """Rename within a bucket: a plain rename when both names live on the same mountpath."""
        src_path, md = self.find(bck, src_name)
        dst_mp = self.mountpaths.for_object(bck, dst_name)
        dst_path = dst_mp.object_path(bck, dst_name)
        if src_path.startswith(dst_mp.root + os.sep):  # same mountpath: a rename suffices

            def place() -> None:
                place_file(src_path, dst_path, dst_mp.content_dir(bck, OBJECTS))

            try:
                with self.locks.hold_pair(src_path, dst_path) as (src_stripe, _dst_stripe):
                    before = current_record(src_path)
                    if not before:
                        raise ObjectNotFound(bck.object_uri(src_name))  # deleted meanwhile
                    # the object keeps its footprint; whatever it replaces leaves (decided by the source)
                    replaced = current_record(dst_path) if dst_path != src_path else b""
                    if self.books is None or not replaced:
                        place()
                    else:
                        changes = [(bck.uri, -record_footprint(replaced))]
                        self.books.change(src_stripe, src_path, before, changes, place)
            except OSError as exc:
                raise os_error(exc, bck.object_uri(dst_name)) from exc
            _prune_empty_dirs(src_path, dst_mp.content_dir(bck, OBJECTS))
            return
        self.copy(bck, src_name, bck, dst_name, checksum_type=md.checksum_type, versioning=versioning)
        self.delete(bck, src_name)


class _Fixed:
    """A hasher stand-in for copies whose checksum is already known."""

    def __init__(self, value: str) -> None:
        self.value = value

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        pass

    def hexdigest(self) -> str:
        return self.value
