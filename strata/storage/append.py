"""Append handles: grow an object in several requests, publish it with a flush.

The first append (empty handle) opens a work file in the bucket's ``%ap`` directory on the object's
mountpath, seeded with the current object's original bytes if there is one (decoded when it is stored
compressed); the handle names that file, so any worker process can continue it. ``flush`` hashes
the result and renames it into place, like any PUT (the object service encodes it instead when the
bucket compresses). Until then readers keep seeing the previous version.
"""

from __future__ import annotations

import os
import re
import uuid

from strata.compress import StoredReader, read_at_fd
from strata.core.errors import InvalidRequest, ObjectNotFound
from strata.core.names import BucketRef
from strata.storage.metadata import ObjectMetadata
from strata.storage.mountpaths import APPENDS
from strata.storage.objects import ObjectStore, OpenObject, copy_range, os_error

_HANDLE_RE = re.compile(r"[0-9a-f]{32}")


def _append_path(store: ObjectStore, bck: BucketRef, object_name: str, handle: str) -> str:
    if not _HANDLE_RE.fullmatch(handle):
        raise InvalidRequest(f'invalid append handle "{handle}"')
    mountpath = store.mountpaths.for_object(bck, object_name)
    return os.path.join(mountpath.content_dir(bck, APPENDS), handle)


def append(store: ObjectStore, bck: BucketRef, object_name: str, handle: str, data: bytes) -> str:
    """Append ``data``; returns the handle to pass on the next call."""
    if not handle:
        handle = uuid.uuid4().hex
        path = _append_path(store, bck, object_name, handle)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            try:
                source = store.open(bck, object_name)
            except ObjectNotFound:
                source = None
            if source is not None:
                try:
                    _copy_original(source, fd)
                finally:
                    source.close()
        finally:
            os.close(fd)
    path = _append_path(store, bck, object_name, handle)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidRequest(f'append handle "{handle}" is unknown or already flushed') from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise os_error(exc, bck.object_uri(object_name)) from exc
    finally:
        os.close(fd)
    return handle


def _copy_original(source: OpenObject, fd: int) -> None:
    """Seed an append file with the current version's original bytes (decoded when compressed)."""
    if not source.metadata.codec:
        copy_range(source.fd, fd, source.size)
        return
    reader = StoredReader(read_at_fd(source.fd), source.metadata.stored_size)
    for index in range(reader.table.frames):
        view = memoryview(reader.decode_frame(index))
        while view:
            view = view[os.write(fd, view) :]


def handle_path(store: ObjectStore, bck: BucketRef, object_name: str, handle: str) -> str:
    """The file holding what was appended under ``handle`` (``InvalidRequest`` when there is none)."""
    path = _append_path(store, bck, object_name, handle)
    if not os.path.exists(path):
        raise InvalidRequest(f'append handle "{handle}" is unknown or already flushed')
    return path


def flush(
    store: ObjectStore,
    bck: BucketRef,
    object_name: str,
    handle: str,
    *,
    checksum_type: str,
    versioning: bool,
    custom: dict[str, str] | None = None,
) -> ObjectMetadata:
    """Publish the appended bytes as the object's new version (the append file is renamed into place)."""
    path = _append_path(store, bck, object_name, handle)
    try:
        writer = store.adopt(bck, object_name, path, checksum_type)
    except FileNotFoundError:
        raise InvalidRequest(f'append handle "{handle}" is unknown or already flushed') from None
    except OSError as exc:
        raise os_error(exc, bck.object_uri(object_name)) from exc
    return writer.commit(versioning=versioning, custom=custom)
