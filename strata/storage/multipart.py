"""Native multipart upload: parts land in any order, complete assembles them, abort cleans up.

An upload is a directory ``%mp/<upload id>`` on the object's mountpath; each part is renamed into
``<part number>`` when fully received, so a re-sent part replaces the old one atomically. Complete
concatenates the listed parts kernel-side (``copy_file_range``) into a work file and publishes it
like any PUT.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid

from strata.core.errors import InvalidRequest, NotFound
from strata.core.names import BucketRef
from strata.storage.metadata import ObjectMetadata
from strata.storage.mountpaths import MULTIPART
from strata.storage.objects import ObjectStore, copy_range, os_error

_UPLOAD_RE = re.compile(r"[0-9a-f]{32}")
MAX_PART_NUMBER = 10000


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
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise InvalidRequest(f'invalid part number "{raw}" (expected 1..{MAX_PART_NUMBER})')
    return int(raw)


def create(store: ObjectStore, bck: BucketRef, object_name: str) -> str:
    upload_id = uuid.uuid4().hex
    path = _upload_dir(store, bck, object_name, upload_id)
    try:
        os.makedirs(path)
    except OSError as exc:
        raise os_error(exc, bck.object_uri(object_name)) from exc
    return upload_id


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
    directory = _existing_upload_dir(store, bck, object_name, upload_id)
    if not parts:
        raise InvalidRequest("multipart complete: no parts listed")
    if len(set(parts)) != len(parts):
        raise InvalidRequest("multipart complete: duplicate part numbers")
    ordered = sorted(parts)
    missing = [n for n in ordered if not os.path.exists(os.path.join(directory, f"{n:05d}"))]
    if missing:
        raise InvalidRequest(f"multipart complete: part(s) {missing} of upload {upload_id} were not uploaded")
    assembled = os.path.join(directory, "assembled")
    out = os.open(assembled, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        offset = 0
        for number in ordered:
            src = os.open(os.path.join(directory, f"{number:05d}"), os.O_RDONLY | os.O_CLOEXEC)
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


def abort(store: ObjectStore, bck: BucketRef, object_name: str, upload_id: str) -> None:
    directory = _existing_upload_dir(store, bck, object_name, upload_id)
    shutil.rmtree(directory, ignore_errors=True)
