"""The work of bucket-wide and multi-object jobs: copy, move, delete, summarize.

Each function does one job's work on this node, checks ``job.check()`` between objects (so an
abort stops it promptly) and counts progress on the job. Every object goes through the object
service with the bucket props the job checked when it started (``strata.objects.service`` says why):
a copy is a PUT like any other -- atomic, versioned, fsynced and counted as the destination bucket
asks --, a delete a counted delete.
"""

from __future__ import annotations

import base64
import concurrent.futures
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strata.cluster.smap import NodeInfo
from strata.cluster.transfer import STORED_MD_HEADER, put_object
from strata.config.bucket_props import BucketProps
from strata.core.errors import InvalidRequest, ObjectNotFound, StrataError
from strata.core.names import BucketRef, validate_object_name
from strata.jobs.blob_download import BlobParams, blob_fetch
from strata.jobs.registry import Job
from strata.jobs.templates import expand_template, is_prefix
from strata.objects.compression import same_stored_form
from strata.objects.service import ObjectService

MAX_LISTED_MISSING = 10
T = TypeVar("T")
R = TypeVar("R")


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

    def iter(self, objects: ObjectService, bck: BucketRef) -> Iterator[tuple[str, bool]]:
        """``(name, named_explicitly)``: explicit names must exist; range/prefix matches just do."""
        if self.names is not None:
            for name in self.names:
                yield name, True
        elif self.template is not None and not is_prefix(self.template):
            for name in expand_template(self.template):
                yield name, False
        else:
            for name in objects.names(bck, self.template or ""):
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
    """Where a job's copies go: the destination bucket with the props checked when the job started
    (None for a dry run, which writes nothing), and a prefix for the destination names."""

    bck: BucketRef
    props: BucketProps | None
    prepend: str = ""
    # in a cluster: the target that owns a destination name, when it is not this one
    remote_owner: Callable[[str], NodeInfo | None] | None = None


def copy_objects(
    job: Job,
    objects: ObjectService,
    src: BucketRef,
    src_props: BucketProps,
    selection: Selection,
    dst: CopyTarget,
    *,
    dry_run: bool,
    continue_on_error: bool,
    names: Iterable[tuple[str, bool]] | None = None,
) -> None:
    """Copy the selected objects (``names`` instead: a remote source's listing, ``remote_source_names``;
    each one not cached yet is fetched on the way)."""
    missing = Missing()
    for name, explicit in selection.iter(objects, src) if names is None else names:
        job.check()
        dst_name = validate_object_name(dst.prepend + name)
        owner = dst.remote_owner(dst_name) if dst.remote_owner is not None and not dry_run else None
        try:
            if dry_run or dst.props is None:
                size = objects.metadata(src, name).size if names is None else 0
            elif owner is not None:
                objects.ensure_cached(src, name, src_props)  # a remote source's object, here now
                size = _copy_to(objects, src, src_props, name, owner, dst.bck, dst_name, dst.props)
            else:
                size = objects.copy(src, name, dst.bck, dst_name, dst.props, src_props).size
        except ObjectNotFound:
            if explicit:
                missing.add(name)
            continue
        job.add(1, size)
    if missing.count and not continue_on_error:
        raise RuntimeError(missing.error(src))


def remote_source_names(
    objects: ObjectService,
    bck: BucketRef,
    props: BucketProps,
    prefix: str,
    mine: Callable[[str], bool] | None = None,
) -> Iterator[tuple[str, bool]]:
    """A remote bucket's names under ``prefix`` as its backend lists them, page by page (a copy of the
    whole bucket, cached or not); in a cluster only those this target owns (``mine``)."""
    for name in objects.remote_names(bck, props, prefix):
        if mine is None or mine(name):
            yield name, False


def _copy_to(
    objects: ObjectService,
    src: BucketRef,
    src_props: BucketProps,
    name: str,
    owner: NodeInfo,
    dst: BucketRef,
    dst_name: str,
    dst_props: BucketProps,
) -> int:
    """A copy whose destination lives on another target: stream it there with a plain PUT (a target
    that does not answer raises ``PeerUnreachable``, which fails the job)."""
    obj = objects.open(src, name, src_props)
    try:
        md = obj.metadata
        if md.codec and same_stored_form(md, dst_props):  # compressed, and kept so there: bytes as stored
            headers = {STORED_MD_HEADER: base64.b64encode(obj.whole_record()).decode()}
            resp = put_object(owner, dst, dst_name, obj.fd, md.stored, headers=headers)
        else:  # the original bytes (decoded on the way when compressed); the owner stores them its way
            source = objects.chunks(obj, 0, obj.size) if md.codec else obj.fd
            resp = put_object(owner, dst, dst_name, source, obj.size)
    finally:
        obj.close()
    if resp.status != 200:
        raise StrataError(f"{owner.id} refused {dst.object_uri(dst_name)}: {resp.status} {resp.text[:200]}")
    return obj.size


def delete_objects(
    job: Job,
    objects: ObjectService,
    bck: BucketRef,
    props: BucketProps,
    selection: Selection,
    *,
    continue_on_error: bool,
) -> None:
    missing = Missing()
    names = selection.iter(objects, bck)
    if selection.names is None:
        names = iter(list(names))  # do not walk the directories we are emptying
    for name, explicit in names:
        job.check()
        try:
            size = objects.metadata(bck, name).size
            objects.delete(bck, name, props)
        except ObjectNotFound:
            if explicit:
                missing.add(name)
            continue
        job.add(1, size)
    if missing.count and not continue_on_error:
        raise RuntimeError(missing.error(bck))


PREFETCH_WORKERS = 16
"""Cold GETs a prefetch runs side by side by default. Each waits on the backend, not on a core, so
the job keeps that many requests in flight (AIStore defaults to one worker per mountpath and caps at
the CPUs: its workers are goroutines; ours are threads blocked in the backend's client)."""
MAX_PREFETCH_WORKERS = 64


def prefetch_workers(value: Any) -> int:
    """``num-workers`` of a prefetch request: 0 or absent = ``PREFETCH_WORKERS``, -1 = one at a time,
    else that many (at most ``MAX_PREFETCH_WORKERS``)."""
    try:
        wanted = int(value or 0)
    except (TypeError, ValueError):
        raise InvalidRequest(f'num-workers must be an integer, not "{value}"') from None
    if wanted < -1:
        raise InvalidRequest(f"num-workers must be -1 (no workers), 0 (default) or positive, not {wanted}")
    if wanted == 0:
        return PREFETCH_WORKERS
    return 1 if wanted == -1 else min(wanted, MAX_PREFETCH_WORKERS)


def prefetch_objects(
    job: Job,
    objects: ObjectService,
    bck: BucketRef,
    props: BucketProps,
    selection: Selection,
    *,
    continue_on_error: bool,
    latest: bool = False,
    workers: int = PREFETCH_WORKERS,
    owned: Callable[[str], bool] | None = None,
    blob: BlobThreshold | None = None,
) -> None:
    """Bring a remote bucket's objects into the cache (cold GETs, ``workers`` at a time); cached ones
    are skipped unless ``latest`` asks for the backend's current version. A prefix selects by the
    backend's listing. ``owned``: in a cluster, whether a name is this target's (HRW) to fetch --
    every target runs the job over the same selection and fetches its own share. With ``blob``,
    objects of at least its threshold go through the blob downloader."""
    missing = Missing()
    if selection.names is None and (selection.template is None or is_prefix(selection.template)):
        names: Iterator[tuple[str, bool]] = (
            (name, False) for name in objects.remote_names(bck, props, selection.template or "")
        )
    else:
        names = selection.iter(objects, bck)
    if owned is not None:
        names = ((name, explicit) for name, explicit in names if owned(name))

    def fetch(item: tuple[str, bool]) -> tuple[str, bool, int | None]:
        """(name, named explicitly, size fetched: -1 when cached already, None when missing)."""
        name, explicit = item
        if not latest and objects.listed(bck, name) is not None:
            return name, explicit, -1
        try:
            return name, explicit, _prefetch_one(job, objects, bck, name, props, blob)
        except ObjectNotFound:
            return name, explicit, None

    for name, explicit, size in in_parallel(job, fetch, names, workers):
        if size is None:
            if explicit or selection.template:
                missing.add(name)
        elif size >= 0:
            job.add(1, size)
    if missing.count and not continue_on_error:
        raise RuntimeError(missing.error(bck))


def in_parallel(job: Job, work: Callable[[T], R], items: Iterator[T], workers: int) -> Iterator[R]:
    """``work(item)`` for each item on ``workers`` threads, results as they complete; at most two per
    worker are queued (a bucket of millions is never listed into memory). The job is checked before
    each item (its abort and throttle), and the first error stops the rest."""
    if workers <= 1:
        for item in items:
            job.check()
            yield work(item)
        return
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=f"job-{job.id}") as pool:
        pending: set[concurrent.futures.Future[R]] = set()
        try:
            for item in items:
                job.check()
                pending.add(pool.submit(work, item))
                if len(pending) >= 2 * workers:
                    done, pending = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    for future in done:
                        yield future.result()
            for future in concurrent.futures.as_completed(pending):
                yield future.result()
        finally:
            for future in pending:
                future.cancel()


@dataclass(frozen=True)
class BlobThreshold:
    """Prefetch's ``blob-threshold``: objects of at least ``size`` bytes are blob-downloaded."""

    size: int
    params: BlobParams


def _prefetch_one(
    job: Job,
    objects: ObjectService,
    bck: BucketRef,
    name: str,
    props: BucketProps,
    blob: BlobThreshold | None,
) -> int:
    """One cold GET (its size, or 0 when the blob downloader counted the bytes on the job itself)."""
    if blob is not None:
        info = objects.head_remote(bck, name, props)
        if info.size >= blob.size:
            blob_fetch(objects, bck, name, props, blob.params, job, info)
            return 0
    return objects.fetch(bck, name, props).size


def evict_objects(
    job: Job, objects: ObjectService, bck: BucketRef, props: BucketProps, selection: Selection
) -> None:
    """Drop cached copies of a remote bucket's objects (the backend keeps them)."""
    names = list(selection.iter(objects, bck))  # do not walk the directories we are emptying
    for name, _explicit in names:
        job.check()
        size = objects.evict(bck, name, props)
        if size >= 0:
            job.add(1, size)


def summarize(
    job: Job, objects: ObjectService, bck: BucketRef, prefix: str, remote: BucketProps | None = None
) -> dict[str, Any]:
    """Object count and sizes (AIStore's BsummResult). ``remote``: the props of a remote bucket whose
    backend listing is counted too (``obj_count_remote``, ``size_all_remote_objs``)."""
    remote_count = remote_total = 0
    if remote is not None:
        for entry in objects.remote_entries(bck, remote, prefix):
            remote_count += 1
            remote_total += entry.size
            if remote_count % 1000 == 0:
                job.check()
    count = total = on_disk = 0
    smallest, largest = -1, 0
    for measured in objects.usage(bck, prefix):
        job.check()
        if measured is None:
            continue
        size, allocated = measured
        count += 1
        total += size
        on_disk += allocated
        smallest = size if smallest < 0 else min(smallest, size)
        largest = max(largest, size)
        if count % 1000 == 0:
            job.add(1000, 0)
    disks = objects.capacity()
    return {
        "name": bck.name,
        "provider": bck.provider,
        "namespace": {"uuid": bck.ns_uuid, "name": bck.ns_name},
        "ObjCount": {"obj_count_present": str(count), "obj_count_remote": str(remote_count)},
        "ObjSize": {
            "obj_min_size": max(smallest, 0),
            "obj_avg_size": total // count if count else 0,
            "obj_max_size": largest,
        },
        "TotalSize": {
            "size_on_disk": str(on_disk),
            "size_all_present_objs": str(total),
            "size_all_remote_objs": str(remote_total),
            "total_disks_size": str(disks),
        },
        "used_pct": round(100 * on_disk / disks) if disks else 0,
        "is_present": True,
    }
