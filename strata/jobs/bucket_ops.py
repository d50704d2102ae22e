"""The work of bucket-wide and multi-object jobs: copy, move, delete, summarize.

Each function does one job's work on this node, checks ``job.check()`` between objects (so an
abort stops it promptly) and counts progress on the job. Copies go through the object store's
atomic write path, so an aborted copy never leaves a half-written object behind.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from strata.cluster.smap import NodeInfo
from strata.cluster.transfer import put_object
from strata.core.errors import InvalidRequest, ObjectNotFound, StrataError
from strata.core.names import BucketRef, validate_object_name
from strata.jobs.registry import Job
from strata.jobs.templates import expand_template, is_prefix
from strata.storage.listing import iter_names
from strata.storage.metadata import read_metadata
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

MAX_LISTED_MISSING = 10


@dataclass
class Selection:
    """Which objects a multi-object request names: a list, a range template, or a prefix."""

    names: list[str] | None = None
    template: str | None = None

    @classmethod
    def from_value(cls, value: Any) -> Selection:
        if not isinstance(value, dict):
            raise InvalidRequest('expected {"objnames": [...]} or {"template": "..."}')
        names, template = value.get("objnames"), value.get("template")
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise InvalidRequest("objnames must be a list of object names")
            return cls(names=[validate_object_name(n) for n in names])
        if template is None:
            template = ""
        if not isinstance(template, str):
            raise InvalidRequest("template must be a string")
        if not is_prefix(template):
            next(iter(expand_template(template)), None)  # a malformed template fails now, as a 400
        return cls(template=template)

    def iter(self, mountpaths: Mountpaths, bck: BucketRef) -> Iterator[tuple[str, bool]]:
        """``(name, named_explicitly)``: explicit names must exist; range/prefix matches just do."""
        if self.names is not None:
            for name in self.names:
                yield name, True
        elif self.template is not None and not is_prefix(self.template):
            for name in expand_template(self.template):
                yield name, False
        else:
            for name, _is_dir in iter_names(mountpaths, bck, prefix=self.template or ""):
                yield name, False


@dataclass
class Missing:
    """Explicitly named objects that did not exist; reported when the job ends."""

    names: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, name: str) -> None:
        self.count += 1
        if len(self.names) < MAX_LISTED_MISSING:
            self.names.append(name)

    def error(self, bck: BucketRef) -> str:
        if not self.count:
            return ""
        shown = ", ".join(self.names) + (", ..." if self.count > len(self.names) else "")
        return f"{self.count} object(s) not found in {bck.uri}: {shown}"


@dataclass
class CopyTarget:
    bck: BucketRef
    checksum_type: str
    versioning: bool
    prepend: str = ""
    # in a cluster: the target that owns a destination name, when it is not this one
    remote_owner: Callable[[str], NodeInfo | None] | None = None


def copy_objects(
    job: Job,
    store: ObjectStore,
    src: BucketRef,
    selection: Selection,
    dst: CopyTarget,
    *,
    dry_run: bool,
    continue_on_error: bool,
) -> None:
    missing = Missing()
    for name, explicit in selection.iter(store.mountpaths, src):
        job.check()
        dst_name = validate_object_name(dst.prepend + name)
        owner = dst.remote_owner(dst_name) if dst.remote_owner is not None and not dry_run else None
        try:
            if dry_run:
                size = store.head(src, name).size
            elif owner is not None:
                size = _copy_to(store, src, name, owner, dst.bck, dst_name)
            else:
                size = store.copy(
                    src, name, dst.bck, dst_name, checksum_type=dst.checksum_type, versioning=dst.versioning
                ).size
        except ObjectNotFound:
            if explicit:
                missing.add(name)
            continue
        job.add(1, size)
    if missing.count and not continue_on_error:
        raise RuntimeError(missing.error(src))


def _copy_to(
    store: ObjectStore,
    src: BucketRef,
    name: str,
    owner: NodeInfo,
    dst: BucketRef,
    dst_name: str,
) -> int:
    """A copy whose destination lives on another target: stream it there with a plain PUT (a target
    that does not answer raises ``PeerUnreachable``, which fails the job)."""
    obj = store.open(src, name)
    try:
        resp = put_object(owner, dst, dst_name, obj.fd, obj.size)
    finally:
        obj.close()
    if resp.status != 200:
        raise StrataError(f"{owner.id} refused {dst.object_uri(dst_name)}: {resp.status} {resp.text[:200]}")
    return obj.size


def delete_objects(
    job: Job, store: ObjectStore, bck: BucketRef, selection: Selection, *, continue_on_error: bool
) -> None:
    missing = Missing()
    names = selection.iter(store.mountpaths, bck)
    if selection.names is None:
        names = iter(list(names))  # do not walk the directories we are emptying
    for name, explicit in names:
        job.check()
        try:
            size = store.head(bck, name).size
            store.delete(bck, name)
        except ObjectNotFound:
            if explicit:
                missing.add(name)
            continue
        job.add(1, size)
    if missing.count and not continue_on_error:
        raise RuntimeError(missing.error(bck))


def move_bucket_dirs(mountpaths: Mountpaths, src: BucketRef, dst: BucketRef) -> None:
    """Rename the bucket's directory on every mountpath (objects keep their files).

    In a cluster, peers may already be sending objects of the renamed bucket here, so the
    destination directory can exist: then the source tree is merged into it file by file.
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
            _merge_tree(source, target)


def _merge_tree(source: str, target: str) -> None:
    """Move every file of ``source`` into ``target``; where both hold an object, the newer write wins."""
    for root, _dirs, files in os.walk(source, topdown=False):
        rel = os.path.relpath(root, source)
        into = os.path.normpath(os.path.join(target, rel))
        os.makedirs(into, exist_ok=True)
        for name in files:
            here, there = os.path.join(root, name), os.path.join(into, name)
            mine, theirs = read_metadata(here), read_metadata(there)
            if theirs is not None and mine is not None and theirs.mtime_ns >= mine.mtime_ns:
                os.unlink(here)
            else:
                os.replace(here, there)
        os.rmdir(root)


def summarize(job: Job, mountpaths: Mountpaths, bck: BucketRef, prefix: str) -> dict[str, Any]:
    """Object count and sizes (AIStore's BsummResult)."""
    count = total = on_disk = 0
    smallest, largest = -1, 0
    for mp in mountpaths.all:
        for name, _is_dir in iter_names(mountpaths, bck, prefix=prefix, only=mp):
            job.check()
            try:
                st = os.stat(mp.object_path(bck, name))
            except FileNotFoundError:
                continue
            count += 1
            total += st.st_size
            on_disk += st.st_blocks * 512
            smallest = st.st_size if smallest < 0 else min(smallest, st.st_size)
            largest = max(largest, st.st_size)
            if count % 1000 == 0:
                job.add(1000, 0)
    disks = 0
    seen_devices = set()
    for mp in mountpaths.all:
        device = os.stat(mp.root).st_dev
        if device not in seen_devices:
            seen_devices.add(device)
            fs = os.statvfs(mp.root)
            disks += fs.f_blocks * fs.f_frsize
    return {
        "name": bck.name,
        "provider": bck.provider,
        "namespace": {"uuid": bck.ns_uuid, "name": bck.ns_name},
        "ObjCount": {"obj_count_present": str(count), "obj_count_remote": "0"},
        "ObjSize": {
            "obj_min_size": max(smallest, 0),
            "obj_avg_size": total // count if count else 0,
            "obj_max_size": largest,
        },
        "TotalSize": {
            "size_on_disk": str(on_disk),
            "size_all_present_objs": str(total),
            "size_all_remote_objs": "0",
            "total_disks_size": str(disks),
        },
        "used_pct": round(100 * on_disk / disks) if disks else 0,
        "is_present": True,
    }
