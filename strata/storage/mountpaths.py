"""Mountpaths: the local directories a node stores objects in, and where each object goes.

Layout below a mountpath (AIStore's, so the tree reads the same)::

    <mountpath>/@<provider>[/@<ns-uuid>#<ns-name>]/<bucket>/
        %ob/<encoded name>      objects (names encoded by ``fsnames``: ``a/b`` -> ``a%/b``)
        %wk/<random>            work files (PUT in flight)
        %ap/<handle>            append in progress
        %mp/<upload id>/...     multipart upload parts
    <mountpath>/.trash/         destroyed buckets, removed lazily
    <mountpath>/.index/         sorted indexes of huge directories, for listing
    <mountpath>/.locks/         striped per-object write locks (first mountpath only)
    <mountpath>/.ledger         the savings ledger: per-bucket original/stored bytes and objects,
                                with its crash intents (first mountpath only; storage.ledger)

An object's mountpath is chosen by HRW over the mountpaths' digests, so any worker process finds
it without a lookup table.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
import uuid

from strata.core.hrw import digest, pick
from strata.core.names import BucketRef
from strata.storage.fsnames import encode_object_name

_work_counter = itertools.count(int(time.time() * 1000) & 0xFFFFFFFF)

OBJECTS = "%ob"
WORK = "%wk"
APPENDS = "%ap"
MULTIPART = "%mp"
TRASH = ".trash"
INDEXES = ".index"  # sorted views of huge directories (storage.dirindex)
LOCKS = ".locks"  # striped per-object write locks (storage.locks)


class Mountpath:
    """One storage directory; ``digest`` is its HRW identity (AIStore: digest of the clean path)."""

    __slots__ = ("_objects_dirs", "digest", "root")

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.digest = digest(self.root)
        self._objects_dirs: dict[BucketRef, str] = {}

    def bucket_dir(self, bck: BucketRef) -> str:
        if bck.ns_uuid or bck.ns_name:
            return os.path.join(self.root, f"@{bck.provider}", bck.namespace_uname, bck.name)
        return os.path.join(self.root, f"@{bck.provider}", bck.name)

    def content_dir(self, bck: BucketRef, content: str) -> str:
        return os.path.join(self.bucket_dir(bck), content)

    def object_path(self, bck: BucketRef, object_name: str) -> str:
        prefix = self._objects_dirs.get(bck)
        if prefix is None:
            prefix = self._objects_dirs[bck] = os.path.join(self.bucket_dir(bck), OBJECTS) + os.sep
        return prefix + encode_object_name(object_name)

    def work_path(self, bck: BucketRef) -> str:
        """A fresh work-file name: process id and a per-process counter (no random bytes needed)."""
        return os.path.join(self.bucket_dir(bck), WORK, f"{os.getpid():x}.{next(_work_counter):x}")

    def __repr__(self) -> str:
        return f"Mountpath({self.root!r})"


class Mountpaths:
    """The node's mountpaths, HRW selection over them, and bucket directory life cycle."""

    def __init__(self, roots: list[str]) -> None:
        if not roots:
            raise ValueError("at least one mountpath is required")
        self.all = [Mountpath(r) for r in roots]
        if len({m.root for m in self.all}) != len(self.all):
            raise ValueError("mountpaths must be distinct")
        for mp in self.all:
            os.makedirs(mp.root, exist_ok=True)
        self._candidates = [(m.digest, m) for m in self.all]

    def for_object(self, bck: BucketRef, object_name: str) -> Mountpath:
        if len(self.all) == 1:
            return self.all[0]
        chosen = pick(self._candidates, digest(bck.object_uname(object_name)))
        assert chosen is not None
        return chosen

    def others(self, chosen: Mountpath) -> list[Mountpath]:
        return [m for m in self.all if m is not chosen]

    def create_bucket(self, bck: BucketRef) -> None:
        for mp in self.all:
            for content in (OBJECTS, WORK):
                os.makedirs(mp.content_dir(bck, content), exist_ok=True)

    def destroy_bucket(self, bck: BucketRef) -> None:
        """Move the bucket's directories to the trash at once, delete them in the background."""
        for mp in self.all:
            src = mp.bucket_dir(bck)
            if not os.path.isdir(src):
                continue
            trash = os.path.join(mp.root, TRASH)
            os.makedirs(trash, exist_ok=True)
            os.rename(src, os.path.join(trash, uuid.uuid4().hex))
        threading.Thread(target=self.empty_trash, daemon=True).start()

    def reset_indexes(self) -> None:
        """Drop directory indexes left by a previous run (they are rebuilt on demand)."""
        for mp in self.all:
            shutil.rmtree(os.path.join(mp.root, INDEXES), ignore_errors=True)

    def empty_trash(self) -> None:
        for mp in self.all:
            trash = os.path.join(mp.root, TRASH)
            if os.path.isdir(trash):
                for name in os.listdir(trash):
                    shutil.rmtree(os.path.join(trash, name), ignore_errors=True)

    def clean_work_dirs(self, bucket_dirs: list[BucketRef]) -> int:
        """Remove work files left by a crash (a kill -9 mid-PUT). Run before workers start."""
        removed = 0
        for mp in self.all:
            for bck in bucket_dirs:
                work = mp.content_dir(bck, WORK)
                if os.path.isdir(work):
                    for name in os.listdir(work):
                        try:
                            os.unlink(os.path.join(work, name))
                            removed += 1
                        except OSError:
                            pass
        return removed
