"""The archive job: pack objects (a list, a range template or a prefix) into a new shard, or append
them to an existing one (``aate``).

The shard is written through the object service as a PUT (atomic, versioned, fsynced and counted as
the destination bucket asks), so until the last byte is in, readers see the previous version (or
nothing); an aborted or failed job leaves no partial shard. Members are read through the service
too (validated when their bucket asks), with the props the job checked when it started. Appending
to a TAR copies the existing members kernel-side and continues after them; the compressed formats
are re-packed member by member.
"""

from __future__ import annotations

from dataclasses import dataclass

from strata.archive import TAR, ArchiveWriter, FileRegion, Output, format_of, new_writer
from strata.archive.tar_writer import region_chunks
from strata.config.bucket_props import BucketProps
from strata.core.errors import ObjectNotFound
from strata.core.names import BucketRef
from strata.jobs.bucket_ops import CopyTarget, Missing, Selection
from strata.jobs.registry import Job
from strata.jobs.sources import LocalObjects, ObjectSource
from strata.objects.put import ObjectPut
from strata.objects.service import ObjectService


@dataclass
class ArchiveRequest:
    src: BucketRef
    src_props: BucketProps  # as checked when the job started
    selection: Selection
    dst: CopyTarget
    archname: str
    mime: str = ""
    include_bucket_name: bool = False
    append: bool = False
    continue_on_error: bool = False

    @property
    def format(self) -> str:
        return format_of(self.archname, self.mime)


def _write_output(out: ObjectPut, shard_name: str, item: Output) -> None:
    if isinstance(item, FileRegion):
        for chunk in region_chunks(shard_name, item):
            out.write(chunk)
    else:
        out.write(item)


def _copy_existing(
    objects: ObjectService, req: ArchiveRequest, out: ObjectPut, fmt: str, writer: ArchiveWriter
) -> None:
    """For ``aate``: bring the current shard's members into the new version first."""
    try:
        shard = objects.open(req.dst.bck, req.archname, req.dst.props)
    except ObjectNotFound:
        return
    try:
        reader = objects.shard_reader(shard, fmt)
        try:
            if fmt == TAR:  # keep the bytes up to the end of the last member, drop the trailer
                end = 0
                for member in reader.members():
                    padded = (member.size + 511) // 512 * 512
                    end = max(end, member.data_offset + padded)
                if shard.metadata.codec:
                    for chunk in objects.chunks(shard, 0, end):
                        out.write(chunk)
                else:
                    _write_output(out, req.archname, FileRegion(shard.fd, 0, end))
            else:
                for member in reader.members():
                    for item in writer.add(member.name, member.size, reader.read(member), mtime=member.mtime):
                        _write_output(out, req.archname, item)
        finally:
            reader.close()
    finally:
        shard.close()


def archive_objects(
    job: Job, objects: ObjectService, req: ArchiveRequest, source: ObjectSource | None = None
) -> None:
    """Write the shard on this node; members come from ``source`` (this node's disks by default)."""
    members = source if source is not None else LocalObjects(objects)
    fmt = req.format
    writer = new_writer(fmt)
    out = objects.put(req.dst.bck, req.archname, req.dst.props)
    missing = Missing()
    try:
        if req.append:
            _copy_existing(objects, req, out, fmt, writer)
        for name, explicit in members.names(req.src, req.selection):
            job.check()
            try:
                opened = members.open(req.src, name, req.src_props)
            except ObjectNotFound:
                if explicit:
                    missing.add(name)
                continue
            try:
                member = f"{req.src.name}/{name}" if req.include_bucket_name else name
                for item in writer.add(member, opened.size, opened.source, mtime=opened.mtime):
                    _write_output(out, req.archname, item)
            finally:
                opened.close()
            job.add(1, opened.size)
        if missing.count and not req.continue_on_error:
            raise RuntimeError(missing.error(req.src))
        for item in writer.finish():
            out.write(item)
        out.commit()
        job.add(1, out.size, direction="out")
    except BaseException:
        out.abort()
        raise
