"""Native multipart upload: parts land in any order, complete assembles them, abort cleans up.

An upload is a directory ``%mp/<upload id>`` on the object's mountpath; each part is renamed into
``<part number>`` when fully received, so a re-sent part replaces the old one atomically. Complete
concatenates the listed parts kernel-side (``copy_file_range``) into a work file and publishes it
like any PUT.

A front may keep a record with the upload: the S3 front stores ``s3-upload.json`` (an
``UploadRecord``: key, start time, owner, the object's metadata) in the directory, and stamps each
part file with a ``PartRecord`` xattr (its MD5 ETag and size). Both are written here, so storage owns
every file it leaves on a mountpath. The record is written to a work file in the bucket's ``%wk``
first and renamed into the upload's directory: a full disk fails the create cleanly (nothing is left
behind), and a crash mid-write leaves only a work file, which the start-up sweep of ``%wk`` removes.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator

import msgspec

from strata.core.errors import InvalidRequest, NotFound
from strata.core.names import BucketRef
from strata.storage.metadata import ObjectMetadata
from strata.storage.mountpaths import MULTIPART, Mountpath
from strata.storage.objects import ObjectStore, copy_range, os_error

_UPLOAD_RE = re.compile(r"[0-9a-f]{32}")
_PART_FILE = re.compile(r"\d{5}")
MAX_PART_NUMBER = 10000
UPLOAD_RECORD = "s3-upload.json"  # the name it always had on disk: uploads in flight survive upgrades
_LEGACY_RECORD_WORK = UPLOAD_RECORD + ".tmp"  # where releases before the %wk work file wrote the record
PART_XATTR = "user.strata.s3part"


class UploadRecord(msgspec.Struct):
    """What a front remembers from the start of an upload until it completes.

    ``key`` binds the upload id to its object (an id is valid with that key only); ``initiated_ns``
    and ``owner`` are listed by ListMultipartUploads; ``custom`` is the object's metadata, given at
    the start (CreateMultipartUpload's headers) and stored with the object on complete.
    """

    key: str
    initiated_ns: int
    owner: str = ""
    custom: dict[str, str] = {}


class PartRecord(msgspec.Struct, array_like=True):
    """One part's ETag (hex MD5) and size, stamped on the part file so they appear with it."""

    etag: str
    size: int
    mtime_ns: int


def _upload_dir(store: ObjectStore, bck: BucketRef, object_name: str, upload_id: str) -> str:
    if not _UPLOAD_RE.fullmatch(upload_id):
        raise InvalidRequest(f'invalid multipart upload id "{upload_id}"')
    mountpath = store.mountpaths.for_object(bck, object_name)
    return os.path.join(mountpath.content_dir(bck, MULTIPART), upload_id)


def _existing_upload_dir(store: ObjectStore, bck: BucketRef, object_name: str, upload_id: str) -> str:
    path = _upload_dir(store, bck, object_name, upload_id)
    if not os.path.isdir(path):
        raise NotFound(f'multipart upload "{upload_id}" for {bck.object_uri(object_name)} does not exist')
    return path


def parse_part_number(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise InvalidRequest(f'invalid part number "{raw}" (expected 1..{MAX_PART_NUMBER})')
    return int(raw)


def create(store: ObjectStore, bck: BucketRef, object_name: str, record: UploadRecord | None = None) -> str:
    """Start an upload and return its id; with ``record``, the upload exists only with its record.

    Any failure (a full disk is ``InsufficientStorage``) leaves nothing behind: neither the work
    file nor the upload's directory, which no one could use since its id was never returned.
    """
    upload_id = uuid.uuid4().hex
    mountpath = store.mountpaths.for_object(bck, object_name)
    path = os.path.join(mountpath.content_dir(bck, MULTIPART), upload_id)
    work = ""
    made = False
    try:
        if record is not None:
            work = _write_work_file(mountpath, bck, msgspec.json.encode(record))
        os.makedirs(path)
        made = True
        if work:
            os.rename(work, os.path.join(path, UPLOAD_RECORD))
            work = ""
    except OSError as exc:
        if work:
            _unlink_quietly(work)
        if made:
            shutil.rmtree(path, ignore_errors=True)
        raise os_error(exc, bck.object_uri(object_name)) from exc
    return upload_id


def _write_work_file(mountpath: Mountpath, bck: BucketRef, data: bytes) -> str:
    """Write ``data`` to a fresh work file in the bucket's ``%wk`` and return its path; on any error
    the work file is removed before the error propagates."""
    work = mountpath.work_path(bck)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(work, flags, 0o644)
    except FileNotFoundError:  # a bucket made before this mountpath was added has no %wk here yet
        os.makedirs(os.path.dirname(work), exist_ok=True)
        fd = os.open(work, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        _unlink_quietly(work)
        raise
    os.close(fd)
    return work


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def load_record(
    store: ObjectStore, bck: BucketRef, object_name: str, upload_id: str
) -> tuple[str, UploadRecord]:
    """The upload's directory and record; NotFound unless the upload exists, with a record, for this
    very object (an id of another object's upload, or a malformed id, is not found either)."""
    if _UPLOAD_RE.fullmatch(upload_id):
        directory = _upload_dir(store, bck, object_name, upload_id)
        record = _read_record(directory)
        if record is not None and record.key == object_name:
            return directory, record
    raise NotFound(f'multipart upload "{upload_id}" for {bck.object_uri(object_name)} does not exist')


def _read_record(directory: str) -> UploadRecord | None:
    try:
        with open(os.path.join(directory, UPLOAD_RECORD), "rb") as f:
            return msgspec.json.decode(f.read(), type=UploadRecord)
    except (OSError, msgspec.DecodeError):
        return None


def list_records(store: ObjectStore, bck: BucketRef) -> Iterator[tuple[str, UploadRecord]]:
    """(upload id, record) of every recorded upload of the bucket, on every mountpath, unordered.

    Uploads without a record (the native API's) are not listed. An upload directory that holds only
    the record work file of an older release is the leftover of a create that failed (its id was
    never returned): it is removed here, on the next listing after the upgrade.
    """
    for mountpath in store.mountpaths.all:
        root = mountpath.content_dir(bck, MULTIPART)
        try:
            names = os.listdir(root)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for upload_id in names:
            directory = os.path.join(root, upload_id)
            record = _read_record(directory)
            if record is not None:
                yield upload_id, record
            elif os.path.exists(os.path.join(directory, _LEGACY_RECORD_WORK)):
                shutil.rmtree(directory, ignore_errors=True)


def part_records(directory: str) -> dict[int, PartRecord]:
    """The stamped parts of an upload by part number (parts without a readable record are skipped)."""
    parts: dict[int, PartRecord] = {}
    for name in os.listdir(directory):
        if _PART_FILE.fullmatch(name):
            try:
                raw = os.getxattr(os.path.join(directory, name), PART_XATTR)
                parts[int(name)] = msgspec.msgpack.decode(raw, type=PartRecord)
            except (OSError, msgspec.DecodeError):
                continue
    return parts


class PartWriter:
    """Streams one part into the upload directory; the part appears only when complete."""

    def __init__(
        self, store: ObjectStore, bck: BucketRef, object_name: str, upload_id: str, part: int
    ) -> None:
        self.dir = _existing_upload_dir(store, bck, object_name, upload_id)
        self.final = os.path.join(self.dir, f"{part:05d}")
        self.tmp = os.path.join(self.dir, f"{part:05d}.{uuid.uuid4().hex}.tmp")
        self.what = bck.object_uri(object_name)
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            self.abort()
            raise os_error(exc, self.what) from exc

    def stamp(self, record: PartRecord) -> None:
        """Attach the part's record to its file before ``commit``, so the part and its record appear
        together; a failure (a full disk) aborts the part."""
        try:
            os.setxattr(self.fd, PART_XATTR, msgspec.msgpack.encode(record))
        except OSError as exc:
            self.abort()
            raise os_error(exc, self.what) from exc

    def commit(self) -> None:
        os.close(self.fd)
        self.fd = -1
        try:
            os.rename(self.tmp, self.final)
        except FileNotFoundError:  # aborted meanwhile
            raise NotFound(f"multipart upload for {self.what} was aborted") from None

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def complete(
    store: ObjectStore,
    bck: BucketRef,
    object_name: str,
    upload_id: str,
    parts: list[int],
    *,
    checksum_type: str,
    versioning: bool,
    custom: dict[str, str] | None = None,
    etag: str = "",
) -> ObjectMetadata:
    """Assemble the listed parts (all must exist, numbers unique) in ascending order and publish.

    ``custom`` and ``etag`` are stored with the object (the S3 front passes its metadata and the
    ``md5-of-md5s-N`` ETag).
    """
    directory, paths = part_files(store, bck, object_name, upload_id, parts)
    assembled = os.path.join(directory, "assembled")
    out = os.open(assembled, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        offset = 0
        for path in paths:
            src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                offset += copy_range(src, out, os.fstat(src).st_size, offset)
            finally:
                os.close(src)
    except OSError as exc:
        os.close(out)
        raise os_error(exc, bck.object_uri(object_name)) from exc
    os.close(out)
    writer = store.adopt(bck, object_name, assembled, checksum_type)
    md = writer.commit(versioning=versioning, custom=custom, etag=etag)
    shutil.rmtree(directory, ignore_errors=True)
    return md


def part_files(
    store: ObjectStore, bck: BucketRef, object_name: str, upload_id: str, parts: list[int]
) -> tuple[str, list[str]]:
    """The upload's directory and the listed parts' files in ascending order (all must exist, numbers
    unique): what a complete assembles, here or through a compressing write."""
    directory = _existing_upload_dir(store, bck, object_name, upload_id)
    if not parts:
        raise InvalidRequest("multipart complete: no parts listed")
    if len(set(parts)) != len(parts):
        raise InvalidRequest("multipart complete: duplicate part numbers")
    paths = [os.path.join(directory, f"{number:05d}") for number in sorted(parts)]
    missing = [n for n, path in zip(sorted(parts), paths, strict=True) if not os.path.exists(path)]
    if missing:
        raise InvalidRequest(f"multipart complete: part(s) {missing} of upload {upload_id} were not uploaded")
    return directory, paths


def completed(directory: str) -> None:
    """Remove an upload's directory once its object is published."""
    shutil.rmtree(directory, ignore_errors=True)


def abort(store: ObjectStore, bck: BucketRef, object_name: str, upload_id: str) -> None:
    directory = _existing_upload_dir(store, bck, object_name, upload_id)
    shutil.rmtree(directory, ignore_errors=True)
