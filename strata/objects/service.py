"""The object service: every operation on an object, for every front, in one place.

The AIS ``/v1`` handlers, the S3 handlers, GetBatch sources, jobs and rebalance receivers parse their
protocol, call one method here and shape the answer. What must hold whatever the front lives here
once: the bucket ``access`` bits, checksum validation on read, versioning, the fsync feature, the
metrics, the hot cache of small whole-object responses. Later layers (codec, chunks, backends,
replicas, the authorizer) plug in here too, so that a capability added once works on every front.

Each operation checks the bucket's access bits for what it does (AIStore ``apc.Access*``); a caller
that already holds the bucket's props for a request passes them, so a bucket is looked up once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from strata.archive import ArchiveReader
from strata.config.access import (
    ACCESS_APPEND,
    ACCESS_DELETE_OBJECT,
    ACCESS_GET,
    ACCESS_HEAD_OBJECT,
    ACCESS_MOVE_OBJECT,
    ACCESS_PUT,
    ACCESS_UPDATE_OBJECT,
)
from strata.config.bucket_props import BucketProps
from strata.config.features import FEATURE_FSYNC_PUT
from strata.core.errors import Forbidden, NotImplementedYet, ObjectCorrupted, ObjectNotFound
from strata.core.metrics import Metrics
from strata.core.names import BucketRef
from strata.objects.hotcache import HotCache
from strata.storage import append as appends
from strata.storage import multipart
from strata.storage.checksum import Hasher, checksum_file
from strata.storage.interface import ObjectStorage, PendingWrite
from strata.storage.metadata import ObjectMetadata
from strata.storage.objects import ObjectStore, ObjectWriter, OpenObject
from strata.storage.shards import ShardIndexes

log = logging.getLogger("strata.objects")

_FAILURE_COUNTERS = {
    "GET": "err_get_count",
    "PUT": "err_put_count",
    "HEAD": "err_head_count",
    "DELETE": "err_delete_count",
}
BucketLookup = Callable[[BucketRef], BucketProps]
MetadataChange = Callable[[ObjectMetadata], ObjectMetadata]


def fsync_wanted(props: BucketProps) -> bool:
    return bool(int(props.features) & FEATURE_FSYNC_PUT)


class ObjectPut:
    """A write in progress: bytes go to a work file as they arrive; ``commit`` publishes them.

    Checksum, versioning and fsync follow the bucket's props as they were when the write began.
    """

    __slots__ = ("_metrics", "props", "writer")

    def __init__(self, writer: PendingWrite, props: BucketProps, metrics: Metrics) -> None:
        self.writer = writer
        self.props = props
        self._metrics = metrics

    @property
    def size(self) -> int:
        return self.writer.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writer.write(data)

    def commit(
        self,
        *,
        custom: dict[str, str] | None = None,
        expected_checksum: tuple[str, str] | None = None,
        etag: str = "",
    ) -> ObjectMetadata:
        md = self.writer.commit(
            versioning=self.props.versioning.enabled,
            custom=custom,
            expected_checksum=expected_checksum,
            etag=etag,
        )
        self._metrics.add("put_count")
        self._metrics.add("put_bytes", md.size)
        return md

    def abort(self) -> None:
        self.writer.abort()


class ObjectService:
    """The one object path of a node (see the module docstring)."""

    def __init__(
        self,
        store: ObjectStorage,
        bucket_lookup: BucketLookup,
        metrics: Metrics,
        hot: HotCache,
    ) -> None:
        self.store = store
        self._bucket_lookup = bucket_lookup
        self.metrics = metrics
        self.hot = hot
        self.shards = ShardIndexes()

    def _posix(self, what: str) -> ObjectStore:
        """The store for operations still written against the POSIX files (see ``storage.interface``)."""
        if not isinstance(self.store, ObjectStore):
            raise NotImplementedYet(f"{what} needs the POSIX object store")
        return self.store

    # -- buckets and access ------------------------------------------------------------------------

    def bucket(self, bck: BucketRef, access: int = 0, props: BucketProps | None = None) -> BucketProps:
        """The bucket's props (404 when it does not exist), after checking the ``access`` bits asked for.

        ``props`` already looked up for this request are checked rather than looked up again.
        """
        if props is None:
            props = self._bucket_lookup(bck)
        if access and not (props.access & access):
            raise Forbidden(f"{bck.uri}: access denied (bucket access bits do not allow the operation)")
        return props

    def failed(self, method: str) -> None:
        """Count an object request that failed (any front), by its HTTP method."""
        counter = _FAILURE_COUNTERS.get(method)
        if counter is not None:
            self.metrics.add(counter)

    # -- reads ---------------------------------------------------------------------------------

    def cached(self, bck: BucketRef, object_name: str) -> bytes | None:
        """A whole small object's serialized response from the hot cache, if still current.

        The caller has checked GET access and that the read is cacheable (no range, no validation).
        """
        hit = self.hot.get(self.store.location(bck, object_name))
        if hit is not None:
            self.metrics.add("get_count")
            self.metrics.add("hot_hit_count")
        return hit

    def remember(self, obj: OpenObject, response: bytes) -> None:
        """Keep a whole small object's serialized response for the next reader of the same version."""
        self.hot.put(obj.path, obj.raw_metadata, response)

    def open(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> OpenObject:
        """Open for reading (GET access); validates the checksum when the bucket asks for it.

        The descriptor keeps this version readable even if the object is overwritten meanwhile. The
        caller sends the bytes and reports them with ``sent``.
        """
        props = self.bucket(bck, ACCESS_GET, props)
        obj = self.store.open(bck, object_name)
        md = obj.metadata
        if props.checksum.validate_warm_get and md.checksum_type != "none":
            try:
                actual = checksum_file(obj.fd, md.checksum_type)
            except BaseException:
                obj.close()
                raise
            if actual != md.checksum_value:
                obj.close()
                self.metrics.add("err_cksum_count")
                log.error(
                    "corrupted object %s at %s: stored %s checksum %s, computed %s",
                    bck.object_uri(object_name), obj.path, md.checksum_type, md.checksum_value, actual,
                )  # fmt: skip
                raise ObjectCorrupted(
                    f"{bck.object_uri(object_name)}: checksum mismatch: stored {md.checksum_value}, "
                    f"computed {actual} ({md.checksum_type}); the object is corrupted"
                )
        return obj

    def open_shard(
        self, bck: BucketRef, object_name: str, fmt: str, props: BucketProps | None = None
    ) -> tuple[OpenObject, ArchiveReader]:
        """A shard (archive object) opened for reading its members (GET access), with a known index.

        Call ``remember_shard`` after a successful lookup: the index a reader had to build serves later
        requests for the same shard version.
        """
        self.bucket(bck, ACCESS_GET, props)
        return self.shards.open(self.store, bck, object_name, fmt)

    def remember_shard(self, obj: OpenObject, reader: ArchiveReader) -> None:
        self.shards.remember(self.store, obj, reader)

    def sent(self, nbytes: int) -> None:
        """Count one GET that sends ``nbytes`` of object data."""
        self.metrics.add("get_count")
        self.metrics.add("get_bytes", nbytes)

    def head(
        self, bck: BucketRef, object_name: str, props: BucketProps | None = None
    ) -> tuple[str, ObjectMetadata]:
        """Where the object is and its metadata (HEAD access)."""
        self.bucket(bck, ACCESS_HEAD_OBJECT, props)
        found = self.store.find(bck, object_name)
        self.metrics.add("head_count")
        return found

    def metadata(self, bck: BucketRef, object_name: str) -> ObjectMetadata:
        """An object's metadata for internal use (conditions, copy sources), with no access check."""
        return self.store.head(bck, object_name)

    # -- writes --------------------------------------------------------------------------------

    def put(
        self,
        bck: BucketRef,
        object_name: str,
        props: BucketProps | None = None,
        *,
        extra_hasher: Hasher | None = None,
    ) -> ObjectPut:
        """Begin a write (PUT access); the caller streams bytes into it and commits."""
        props = self.bucket(bck, ACCESS_PUT, props)
        writer = self.store.writer(
            bck, object_name, props.checksum.type, fsync=fsync_wanted(props), extra_hasher=extra_hasher
        )
        return ObjectPut(writer, props, self.metrics)

    def receive(self, bck: BucketRef, object_name: str, carried: ObjectMetadata) -> ObjectWriter | None:
        """A write of an object moved here by a rebalance, with the metadata it had on the sender.

        None when a copy already here is as new or newer (a client wrote it after the map changed).
        """
        self.bucket(bck)
        try:
            current = self.store.head(bck, object_name)
        except ObjectNotFound:
            current = None
        if current is not None and current.mtime_ns >= carried.mtime_ns:
            return None
        return self._posix("a rebalance transfer").writer(bck, object_name, carried.checksum_type)

    def delete(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> None:
        self.bucket(bck, ACCESS_DELETE_OBJECT, props)
        self.store.delete(bck, object_name)
        self.metrics.add("delete_count")

    def update_metadata(
        self, bck: BucketRef, object_name: str, change: MetadataChange, access: int = ACCESS_UPDATE_OBJECT
    ) -> ObjectMetadata:
        """Change an object's metadata in one step (custom metadata PATCH: UPDATE-OBJECT access)."""
        self.bucket(bck, access)
        return self.store.update_metadata(bck, object_name, change)

    def copy(
        self,
        src_bck: BucketRef,
        src_name: str,
        dst_bck: BucketRef,
        dst_name: str,
        dst_props: BucketProps | None = None,
    ) -> ObjectMetadata:
        """Copy an object (GET on the source, PUT on the destination); bytes move kernel-side."""
        self.bucket(src_bck, ACCESS_GET)
        dst_props = self.bucket(dst_bck, ACCESS_PUT, dst_props)
        md = self.store.copy(
            src_bck,
            src_name,
            dst_bck,
            dst_name,
            checksum_type=dst_props.checksum.type,
            versioning=dst_props.versioning.enabled,
            fsync=fsync_wanted(dst_props),
        )
        self.metrics.add("put_count")
        self.metrics.add("put_bytes", md.size)
        return md

    def rename(self, bck: BucketRef, src_name: str, dst_name: str) -> None:
        props = self.bucket(bck, ACCESS_MOVE_OBJECT)
        if dst_name != src_name:
            self.store.rename(bck, src_name, dst_name, versioning=props.versioning.enabled)

    def append(self, bck: BucketRef, object_name: str, handle: str, data: bytes) -> str:
        """Append to an object in several requests (APPEND access); returns the handle to continue."""
        self.bucket(bck, ACCESS_APPEND)
        handle = appends.append(self._posix("append"), bck, object_name, handle, data)
        self.metrics.add("append_count")
        return handle

    def flush(self, bck: BucketRef, object_name: str, handle: str) -> ObjectMetadata:
        """Publish what was appended under ``handle`` as the object's new version."""
        props = self.bucket(bck, ACCESS_APPEND)
        return appends.flush(
            self._posix("append"),
            bck,
            object_name,
            handle,
            checksum_type=props.checksum.type,
            versioning=props.versioning.enabled,
        )

    # -- multipart uploads -----------------------------------------------------------------------

    def create_upload(
        self, bck: BucketRef, object_name: str, record: multipart.UploadRecord | None = None
    ) -> str:
        """Start a multipart upload (PUT access); S3 keeps its upload ``record`` with it."""
        self.bucket(bck, ACCESS_PUT)
        return multipart.create(self._posix("a multipart upload"), bck, object_name, record)

    def put_part(self, bck: BucketRef, object_name: str, upload_id: str, part: int) -> multipart.PartWriter:
        self.bucket(bck, ACCESS_PUT)
        return multipart.PartWriter(self._posix("a multipart upload"), bck, object_name, upload_id, part)

    def complete_upload(
        self,
        bck: BucketRef,
        object_name: str,
        upload_id: str,
        parts: list[int],
        *,
        custom: dict[str, str] | None = None,
        etag: str = "",
    ) -> ObjectMetadata:
        """Assemble the parts in order and publish them as the object (PUT access)."""
        props = self.bucket(bck, ACCESS_PUT)
        md = multipart.complete(
            self._posix("a multipart upload"),
            bck,
            object_name,
            upload_id,
            parts,
            checksum_type=props.checksum.type,
            versioning=props.versioning.enabled,
            custom=custom,
            etag=etag,
        )
        self.metrics.add("put_count")
        self.metrics.add("put_bytes", md.size)
        return md

    def abort_upload(self, bck: BucketRef, object_name: str, upload_id: str) -> None:
        self.bucket(bck, ACCESS_PUT)
        multipart.abort(self._posix("a multipart upload"), bck, object_name, upload_id)
