"""The object service: every operation on an object, for every front, in one place.

The AIS ``/v1`` handlers, the S3 handlers, GetBatch sources, jobs and rebalance receivers parse their
protocol, call one method here and shape the answer. What must hold whatever the front lives here
once: the bucket ``access`` bits, checksum validation on read, versioning, the fsync feature, the
metrics, the hot cache of small whole-object responses. Later layers (codec, chunks, backends,
replicas, the authorizer) plug in here too, so that a capability added once works on every front.

Each operation checks the bucket's access bits for what it does (AIStore ``apc.Access*``); a caller
that already holds the bucket's props for a request passes them, so a bucket is looked up once.

Jobs (copy-bck, copy/delete-listrange, archive, move-bck, summary) go through the same methods, so a
job's copies and shards are PUTs like any other -- versioned, fsynced, checksummed and counted in
``put_count`` -- its deletes are counted deletes, and its reads are validated. Access, as in AIStore,
is checked when the job starts (``strata.roles.bucket_jobs``), not per object: the job passes the props
it checked then to every per-object call, so an object costs no bucket lookup and the whole job sees
one version of the bucket's props (a props change applies to the next job). A job's reads of source
objects are not client GETs and are not counted as such; the job's own stats count them.

Internal moves are not client operations at all: a rebalance sender opens with ``open_unchecked``
and drops its copy with ``remove_moved`` (no access bits -- a rebalance must move a read-only
bucket's objects too --, no counters; the receiver checks the bytes against the carried checksum).

Whole-bucket work on files (listing walks, rename, resilver, space used, cleanup, multipart records,
LRU walks) is still written against the POSIX store only (``storage.listing``, ``storage.housekeeping``,
``storage.multipart``, ``storage.eviction``); the service hands it the POSIX store and refuses it over
any other.

Space: every write that stores new bytes (PUT, copy, append, multipart part and complete, cold GET)
first asks the node's capacity monitor (``storage.capacity``), which answers 507 past
``space.out_of_space`` before anything is stored. Reads of buckets that cache a backend's objects
note the object's access time (``storage.atimes``: in memory, written out lazily) for LRU eviction;
a plain ``ais://`` bucket's objects are never evicted, and their reads note nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import msgspec

from strata.archive import ArchiveReader
from strata.auth import CURRENT as PRINCIPAL
from strata.auth import require
from strata.backends import ListPage, RemoteEntry, RemoteObject
from strata.cluster.smap import NodeInfo
from strata.config.access import (
    ACCESS_APPEND,
    ACCESS_DELETE_OBJECT,
    ACCESS_GET,
    ACCESS_HEAD_OBJECT,
    ACCESS_MOVE_OBJECT,
    ACCESS_PATCH,
    ACCESS_PUT,
    ACCESS_SET_BUCKET_ACL,
    ACCESS_UPDATE_OBJECT,
)
from strata.config.bucket_props import BucketProps
from strata.core.errors import (
    Forbidden,
    InvalidRequest,
    NotImplementedYet,
    ObjectCorrupted,
    ObjectNotFound,
    StrataError,
)
from strata.core.metrics import Metrics
from strata.core.names import BucketRef
from strata.objects.compression import (
    INLINE_MAX,
    Decoded,
    EncodingWrite,
    codec_pool,
    compresses,
    off_loop,
    same_stored_form,
)
from strata.objects.hotcache import HotCache
from strata.objects.put import OFFLOAD_CHUNK, ColdRead, ObjectPut, count_put, fsync_wanted
from strata.objects.remote import Remote, may_cache_remote, remote_of, same_remote_version, uploadable
from strata.server.http import Response
from strata.storage import append as appends
from strata.storage import eviction, housekeeping, multipart
from strata.storage.atimes import AccessTimes
from strata.storage.capacity import Capacity, Usage
from strata.storage.checksum import Hasher, checksum_file
from strata.storage.interface import ObjectStorage
from strata.storage.ledger import Ledger
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
Elsewhere = Callable[[BucketRef, str], Awaitable[NodeInfo | None] | None]
BucketLookup = Callable[[BucketRef], BucketProps]
MetadataChange = Callable[[ObjectMetadata], ObjectMetadata]


_current_principal = PRINCIPAL.get  # the request's principal (``strata.auth``): bound once, read per check


class ObjectService:
    """The one object path of a node (see the module docstring)."""

    def __init__(
        self,
        store: ObjectStorage,
        bucket_lookup: BucketLookup,
        metrics: Metrics,
        hot: HotCache,
        elsewhere: Elsewhere | None = None,
        *,
        capacity: Capacity | None = None,
        atimes: AccessTimes | None = None,
    ) -> None:
        """``elsewhere``: the node's get-from-neighbour (a target asks its peers; None: nowhere else).
        ``capacity``: the disks' watermarks (None: never refuse for space); ``atimes``: where reads note
        access times (None: not noted)."""
        self._elsewhere = elsewhere
        self.space = capacity
        self.atimes = atimes
        self.store = store
        self._bucket_lookup = bucket_lookup
        self.metrics = metrics
        self.hot = hot
        self.shards = ShardIndexes()

    @property
    def ledger(self) -> Ledger | None:
        """The store's savings ledger (``storage.ledger``; None when ``STRATA_LEDGER=0``)."""
        return self.store.ledger

    def _posix(self, what: str) -> ObjectStore:
        """The store for operations still written against the POSIX files (see ``storage.interface``)."""
        if not isinstance(self.store, ObjectStore):
            raise NotImplementedYet(f"{what} needs the POSIX object store")
        return self.store

    # -- buckets and access ------------------------------------------------------------------------

    def bucket(self, bck: BucketRef, access: int = 0, props: BucketProps | None = None) -> BucketProps:
        """The bucket's props (404 when it does not exist), after checking the ``access`` bits asked for:
        the request's principal must hold them (``strata.auth``: a token's or an S3 user's permissions;
        none when auth is off or the work is the cluster's own), then the bucket's ``access`` prop must
        allow them too (an admin is spared only PATCH and SET-BUCKET-ACL there, as in AIStore).

        ``props`` already looked up for this request are checked rather than looked up again.
        """
        principal = _current_principal()
        if principal is not None and access:
            require(principal, access, bck)
            if principal.admin:
                access &= ~(ACCESS_PATCH | ACCESS_SET_BUCKET_ACL)
        if props is None:
            props = self._bucket_lookup(bck)
        if access and props.access & access != access:
            raise Forbidden(f"{bck.uri}: access denied (bucket access bits do not allow the operation)")
        return props

    def failed(self, method: str) -> None:
        """Count an object request that failed (any front), by its HTTP method."""
        counter = _FAILURE_COUNTERS.get(method)
        if counter is not None:
            self.metrics.add(counter)

    # -- reads ---------------------------------------------------------------------------------

    def cached(self, bck: BucketRef, object_name: str, *, remote: bool = False) -> bytes | None:
        """A whole small object's serialized response from the hot cache, if still current.

        The caller has checked GET access and that the read is cacheable (no range, no validation);
        ``remote``: the bucket caches a backend's objects, so the read is noted for LRU eviction.
        """
        location = self.store.location(bck, object_name)
        hit = self.hot.get(location)
        if hit is not None:
            self.metrics.add("get_count")
            self.metrics.add("hot_hit_count")
            atimes = self.atimes
            if remote and atimes is not None:
                atimes.note(location, atimes.now)
        return hit

    def remember(self, obj: OpenObject, response: bytes) -> None:
        """Keep a whole small object's serialized response for the next reader of the same version."""
        self.hot.put(obj.path, obj.raw_metadata, response)

    def open(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> OpenObject:
        """Open for reading (GET access); validates the checksum when the bucket asks for it.

        The descriptor keeps this version readable even if the object is overwritten meanwhile. The
        caller sends the bytes and reports them with ``sent``. (GetBatch opens thousands per request:
        props it already holds that allow GET skip the lookup.)
        """
        if props is None or not props.access & ACCESS_GET:
            props = self.bucket(bck, ACCESS_GET, props)
        obj = self.store.open(bck, object_name)
        if props.checksum.validate_warm_get and obj.metadata.checksum_type != "none":
            self._validate(bck, object_name, obj)
        atimes = self.atimes
        if atimes is not None and may_cache_remote(bck, props):
            atimes.note(obj.path, atimes.now)
        return obj

    def _validate(self, bck: BucketRef, object_name: str, obj: OpenObject) -> None:
        """Recompute an opened object's checksum; a mismatch closes it, is counted, logged and raised."""
        md = obj.metadata
        try:
            if md.codec:
                actual = self.decoded(obj).checksum(md.checksum_type)
            else:
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

    # -- compressed versions -------------------------------------------------------------------------

    def decoded(self, obj: OpenObject) -> Decoded:
        """A compressed version's original bytes, decoded frame by frame (``obj.metadata.codec`` set).

        The seek table is read now: a damaged one is ``ObjectCorrupted`` before any byte is sent.
        """
        return Decoded(obj, self.metrics)

    def read(self, obj: OpenObject, offset: int, count: int) -> bytes:
        """``count`` original bytes of an open version at ``offset`` (small reads: GetBatch, hot cache)."""
        if obj.metadata.codec:
            return self.decoded(obj).pread(count, offset)
        data = os.pread(obj.fd, count, offset) if count else b""
        if len(data) != count:
            raise StrataError(f"{obj.path}: object file is shorter ({len(data)}) than its metadata says")
        return data

    def chunks(self, obj: OpenObject, offset: int, count: int) -> Iterator[bytes]:
        """Original bytes ``[offset, offset + count)`` of an open version, in pieces of at most a frame
        (1 MiB for a plain one), for a caller already off the event loop (jobs, GetBatch)."""
        if obj.metadata.codec:
            yield from self.decoded(obj).chunks(offset, count)
            return
        end = offset + count
        while offset < end:
            data = os.pread(obj.fd, min(end - offset, 1 << 20), offset)
            if not data:
                raise StrataError(f"{obj.path}: object file is shorter than its metadata says")
            offset += len(data)
            yield data

    async def respond_decoded(
        self, obj: OpenObject, status: int, headers: list[tuple[str, str]], offset: int, count: int
    ) -> Response:
        """The response to a read of a compressed version: its first frame decoded before the head goes
        out -- bit rot there is a 422, not a broken 200 -- then the rest streamed, decoding one frame
        ahead in the codec threads. Owns ``obj`` from here on (closed when the body is done)."""
        try:
            decoded = self.decoded(obj)
            frames = decoded.frames_for(offset, count)
            first = await self._decode(decoded, frames[0]) if frames else b""
        except BaseException:
            obj.close()
            raise
        return Response(status, headers, stream=self._stream(decoded, frames, first, offset, count),
                        content_length=count)  # fmt: skip

    @staticmethod
    async def _decode(decoded: Decoded, index: int) -> bytes:
        """One frame, in the codec threads unless it is small."""
        if decoded.frame_start(index + 1) - decoded.frame_start(index) <= INLINE_MAX:
            return decoded.decode(index)
        return await asyncio.get_running_loop().run_in_executor(codec_pool(), decoded.decode, index)

    @staticmethod
    async def _stream(
        decoded: Decoded, frames: range, first: bytes, offset: int, count: int
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        end = offset + count
        ahead: asyncio.Future[bytes] | None = None  # the next frame, decoding while this one is sent
        try:
            for position, index in enumerate(frames):
                data = first if position == 0 else await ahead if ahead is not None else b""
                ahead = None
                if position + 1 < len(frames):
                    ahead = loop.run_in_executor(codec_pool(), decoded.decode, frames[position + 1])
                start = decoded.frame_start(index)
                yield data[max(offset - start, 0) : min(end - start, len(data))]
        finally:
            if ahead is not None:  # its thread reads the descriptor closed next: let it finish
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: an error there matters no more
            decoded.obj.close()

    def undecodable(self, bck: BucketRef) -> Iterator[tuple[str, str]]:
        """Every compressed object of the bucket whose frames fail to decode or whose original fails
        its checksum, with the reason (``strata savings --verify``: a full read of compressed data)."""
        for name in self.store.iter_names(bck):
            try:
                obj = self.store.open(bck, name)
            except ObjectNotFound:
                continue
            if not obj.metadata.codec:
                obj.close()
                continue
            try:
                self._validate(bck, name, obj)  # counted and logged as a GET's would be; closes on failure
            except ObjectCorrupted as exc:
                yield name, exc.message
                continue
            obj.close()

    def open_shard(
        self, bck: BucketRef, object_name: str, fmt: str, props: BucketProps | None = None
    ) -> tuple[OpenObject, ArchiveReader]:
        """A shard (archive object) opened for reading its members (GET access), with a known index.

        Call ``remember_shard`` after a successful lookup: the index a reader had to build serves later
        requests for the same shard version.
        """
        props = self.bucket(bck, ACCESS_GET, props)
        obj = self.store.open(bck, object_name)
        atimes = self.atimes
        if atimes is not None and may_cache_remote(bck, props):
            atimes.note(obj.path, atimes.now)
        try:
            return obj, self.shard_reader(obj, fmt)
        except BaseException:
            obj.close()
            raise

    def shard_reader(self, obj: OpenObject, fmt: str) -> ArchiveReader:
        """An archive reader over an open version: its file, or its frames when stored compressed
        (members are then read through the seek table, decoding only the frames they lie in)."""
        source: int | Decoded = self.decoded(obj) if obj.metadata.codec else obj.fd
        return self.shards.reader(self.store, obj, source, fmt)

    def remember_shard(self, obj: OpenObject, reader: ArchiveReader) -> None:
        self.shards.remember(self.store, obj, reader)

    def elsewhere(self, bck: BucketRef, object_name: str) -> Awaitable[NodeInfo | None] | None:
        """Get-from-neighbour: another node that may hold an object missing here (a rebalance has not
        moved it yet), to await; None when there is nowhere else to look."""
        return None if self._elsewhere is None else self._elsewhere(bck, object_name)

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
        """An object's metadata for internal use (conditions, copy sources, job sizes): no access check."""
        return self.store.head(bck, object_name)

    def open_unchecked(self, bck: BucketRef, object_name: str) -> OpenObject:
        """Open for internal work that is not a client read: no access check, no validation, not counted.

        For rebalance transfers (the receiver checks the bytes against the checksum they carry) and
        read-ahead hints (the read that follows checks).
        """
        return self.store.open(bck, object_name)

    # -- listing ------------------------------------------------------------------------------

    def names(self, bck: BucketRef, prefix: str = "") -> Iterator[str]:
        """The bucket's object names that start with ``prefix``, in order (jobs walk buckets with it).

        No access check: a job checked the bucket's access when it started.
        """
        return self.store.iter_names(bck, prefix)

    def walk(
        self, bck: BucketRef, *, prefix: str = "", after: str = "", recursive: bool = True
    ) -> Iterator[tuple[str, bool]]:
        """A listing page's walk: ``(name, is_dir)`` after ``after`` in order; virtual directories
        (``"dir/", True``) instead of what they hold when not ``recursive``.

        The listing request checks LIST access once; ``listed`` gives each entry's metadata.
        """
        return self._posix("listing").walk(bck, prefix=prefix, after=after, recursive=recursive)

    def listed(self, bck: BucketRef, object_name: str) -> tuple[str, ObjectMetadata] | None:
        """A listed object's location and metadata (one metadata read); None when it was deleted since
        the walk saw it. Not counted as a HEAD."""
        try:
            return self.store.find(bck, object_name)
        except ObjectNotFound:
            return None

    def mountpath_of(self, location: str) -> str:
        """The mountpath an object's ``location`` is on (AIStore's ``Ais-Location``); "" when none."""
        return self.store.mountpath_of(location) if isinstance(self.store, ObjectStore) else ""

    # -- writes --------------------------------------------------------------------------------

    def room_for(self, bck: BucketRef, object_name: str, incoming: int = 0) -> None:
        """507 when a disk is past ``space.out_of_space`` (checked before a write stores anything;
        ``incoming``: its size when known). A clock read, not a ``statvfs``, per call."""
        space = self.space
        if space is not None and not space.admits(incoming):
            raise space.refusal(bck.object_uri(object_name))

    def put(
        self,
        bck: BucketRef,
        object_name: str,
        props: BucketProps | None = None,
        *,
        extra_hasher: Hasher | None = None,
        size_hint: int | None = None,
        through: bool = True,
    ) -> ObjectPut:
        """Begin a write (PUT access); the caller streams bytes into it and commits.

        ``size_hint`` (the body's length when known) lets a small object skip compression at once and
        sizes the frames. A remote bucket's write goes through to its backend first unless
        ``through=False`` (a cold GET storing what the backend gave).
        """
        props = self.bucket(bck, ACCESS_PUT, props)
        self.room_for(bck, object_name, size_hint or 0)
        fsync = fsync_wanted(props)
        remote = remote_of(bck, props)
        upload = (remote, object_name) if remote is not None and through else None  # write-through
        if compresses(props, size_hint):
            writer = self.store.writer(bck, object_name, "none", fsync=fsync)
            encoding = EncodingWrite(
                writer, props, self.metrics, size_hint=size_hint, extra_hasher=extra_hasher
            )
            return ObjectPut(writer, props, self.metrics, encoding, remote=upload)
        checksum_type = props.checksum.type
        writer = self.store.writer(bck, object_name, checksum_type, fsync=fsync, extra_hasher=extra_hasher)
        return ObjectPut(writer, props, self.metrics, remote=upload)

    def put_stored(
        self, bck: BucketRef, object_name: str, source: ObjectMetadata, props: BucketProps | None = None
    ) -> ObjectPut:
        """Begin a copy whose bytes arrive as they are stored at the source (PUT access): a compressed
        object copied between targets into a bucket whose settings keep that form -- no recompression.
        """
        props = self.bucket(bck, ACCESS_PUT, props)
        self.room_for(bck, object_name, source.stored)
        if not same_stored_form(source, props):
            raise InvalidRequest(
                f"{bck.object_uri(object_name)}: the copy's stored form does not suit the bucket"
            )
        writer = self.store.writer(bck, object_name, "none", fsync=fsync_wanted(props))
        return ObjectPut(writer, props, self.metrics, stored=source)

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
        # a compressed version's checksum is of its original: its stored bytes are not hashed here
        checksum_type = "none" if carried.codec else carried.checksum_type
        return self._posix("a rebalance transfer").writer(bck, object_name, checksum_type)

    def delete(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> None:
        """Delete (DELETE access); for a remote bucket, in the backend first, then the local copy (a
        network call: the fronts run it off the event loop)."""
        props = self.bucket(bck, ACCESS_DELETE_OBJECT, props)
        remote = remote_of(bck, props)
        if remote is not None:
            remote.backend.delete(remote.name, object_name)
            with contextlib.suppress(ObjectNotFound):
                self.store.delete(bck, object_name)
        else:
            self.store.delete(bck, object_name)
        self.metrics.add("delete_count")

    # -- remote buckets ------------------------------------------------------------------------------

    def fetch(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> ObjectMetadata:
        """Cold GET: bring a remote bucket's object here (GET access), streamed into a local write and
        published with the remote facts. A network call: run it off the event loop."""
        cold = self.cold_read(bck, object_name, props)
        with cold.reader:
            try:
                for chunk in cold.reader:
                    cold.out.write(chunk)
            except BaseException:
                cold.out.abort()
                raise
        return cold.commit()

    def cold_read(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> ColdRead:
        """Start a cold GET (GET access): the backend's reader and the local write it fills, for a
        response that streams the bytes to the client while storing them. Opening the backend's GET is
        a network call: run this off the event loop."""
        props = self.bucket(bck, ACCESS_GET, props)
        remote = self._remote(bck, props)
        self.room_for(bck, object_name)  # before asking the backend for anything
        reader = remote.backend.get(remote.name, object_name)
        try:
            out = self.put(bck, object_name, props, size_hint=reader.length, through=False)
        except BaseException:
            reader.close()
            raise
        return ColdRead(reader, out, remote.provider)

    def refresh(self, bck: BucketRef, object_name: str, props: BucketProps) -> None:
        """Warm GET with ``latest-ver`` / ``versioning.validate_warm_get``: HEAD the backend and fetch the
        object again when its version or ETag changed; when it is gone there, so is it here with
        ``versioning.synchronize`` (``ObjectNotFound`` either way). A network call: off the event loop."""
        try:
            cached = self.store.head(bck, object_name)
        except ObjectNotFound:
            return  # a cold GET follows anyway
        try:
            remote = self._remote(bck, props)
            found = remote.backend.head(remote.name, object_name)
        except ObjectNotFound:
            if props.versioning.synchronize:
                with contextlib.suppress(ObjectNotFound):
                    self.store.delete(bck, object_name)
            raise
        if not same_remote_version(cached, found):
            self.fetch(bck, object_name, props)

    def ensure_cached(self, bck: BucketRef, object_name: str, props: BucketProps) -> None:
        """A remote bucket's object is here afterwards (a cold GET when it was not): what a copy from
        a remote bucket reads. Nothing for other buckets. A network call: off the event loop."""
        if remote_of(bck, props) is not None and self.listed(bck, object_name) is None:
            self.fetch(bck, object_name, props)

    def remote_names(self, bck: BucketRef, props: BucketProps, prefix: str = "") -> Iterator[str]:
        """Every name the backend holds under ``prefix``, page by page (a job's walk of a remote bucket;
        access was checked when the job started)."""
        return (entry.name for entry in self.remote_entries(bck, props, prefix))

    def remote_entries(self, bck: BucketRef, props: BucketProps, prefix: str = "") -> Iterator[RemoteEntry]:
        """Every object the backend holds under ``prefix`` (name, size, version), page by page."""
        for _token, page in self.remote_pages(bck, props, prefix):
            yield from page.entries

    def remote_pages(
        self, bck: BucketRef, props: BucketProps, prefix: str = "", token: str = ""
    ) -> Iterator[tuple[str, ListPage]]:
        """The backend's listing pages from ``token`` on, each with the token that fetched it (so a
        client's listing can resume at the page it stopped in). Network calls: off the event loop."""
        remote = self._remote(bck, props)
        while True:
            page = remote.backend.list_page(remote.name, prefix, token)
            yield token, page
            token = page.next_token
            if not token:
                return

    def evict(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> int:
        """Drop the cached copy of a remote bucket's object (the backend keeps it); its size, -1 when
        nothing was cached. Not a client DELETE: not counted as one."""
        self.bucket(bck, ACCESS_DELETE_OBJECT, props)
        try:
            size = self.store.head(bck, object_name).size
            self.store.delete(bck, object_name)
        except ObjectNotFound:
            return -1
        return size

    def head_remote(self, bck: BucketRef, object_name: str, props: BucketProps | None = None) -> RemoteObject:
        """A remote bucket's object as the backend describes it (HEAD access): not here yet."""
        props = self.bucket(bck, ACCESS_HEAD_OBJECT, props)
        remote = self._remote(bck, props)
        return remote.backend.head(remote.name, object_name)

    @staticmethod
    def _remote(bck: BucketRef, props: BucketProps) -> Remote:
        remote = remote_of(bck, props)
        if remote is None:
            raise InvalidRequest(f"{bck.uri} has no backend (neither a cloud bucket nor a backend_bck)")
        return remote

    def remove_moved(self, bck: BucketRef, object_name: str) -> None:
        """Drop this node's copy of an object its new owner now holds (rebalance): not a client
        DELETE, so no access check and no counter."""
        self.store.delete(bck, object_name)

    def update_metadata(
        self, bck: BucketRef, object_name: str, change: MetadataChange, access: int = ACCESS_UPDATE_OBJECT
    ) -> ObjectMetadata:
        """Change an object's metadata in one step (custom metadata PATCH: UPDATE-OBJECT access).

        A remote bucket's user metadata is written through: the backend's copy first, then the cached
        one (if any) with the backend's new facts (version, ETag). Network calls: off the event loop.
        """
        props = self.bucket(bck, access)
        remote = remote_of(bck, props)
        if remote is None:
            return self.store.update_metadata(bck, object_name, change)
        try:
            cached: ObjectMetadata | None = self.store.head(bck, object_name)
        except ObjectNotFound:
            cached = None
        if cached is None:  # not cached: only the backend's copy changes
            found = remote.backend.head(remote.name, object_name)
            cached_or_remote = ObjectMetadata(
                size=found.size, custom=found.cold_get_metadata(remote.provider)
            )
        else:
            cached_or_remote = cached
        wanted = change(cached_or_remote).custom
        stored = remote.backend.set_custom(remote.name, object_name, uploadable(wanted))
        facts = stored.cold_get_metadata(remote.provider)
        if cached is None:
            return msgspec.structs.replace(cached_or_remote, custom={**wanted, **facts})

        def with_facts(md: ObjectMetadata) -> ObjectMetadata:
            changed = change(md)
            return msgspec.structs.replace(changed, custom={**changed.custom, **facts})

        return self.store.update_metadata(bck, object_name, with_facts)

    def copy(
        self,
        src_bck: BucketRef,
        src_name: str,
        dst_bck: BucketRef,
        dst_name: str,
        dst_props: BucketProps | None = None,
        src_props: BucketProps | None = None,
    ) -> ObjectMetadata:
        """Copy an object (GET on the source, PUT on the destination); bytes move kernel-side.

        The copy reads the source: when its bucket validates reads, a corrupted source is refused
        (``ObjectCorrupted``) rather than copied. A remote source not cached yet is fetched first, and a
        remote destination written through (network calls: off the event loop then).
        """
        src_props = self.bucket(src_bck, ACCESS_GET, src_props)
        dst_props = self.bucket(dst_bck, ACCESS_PUT, dst_props)
        self.room_for(dst_bck, dst_name)
        self.ensure_cached(src_bck, src_name, src_props)
        if src_props.checksum.validate_warm_get:
            self.open(src_bck, src_name, src_props).close()
        source = self.store.head(src_bck, src_name)
        if not same_stored_form(source, dst_props) or remote_of(dst_bck, dst_props) is not None:
            # compress, or decode, on the way; into a remote bucket: written through its backend
            return self._recode(src_bck, src_name, dst_bck, dst_name, dst_props)
        md = self.store.copy(
            src_bck,
            src_name,
            dst_bck,
            dst_name,
            checksum_type=dst_props.checksum.type,
            versioning=dst_props.versioning.enabled,
            fsync=fsync_wanted(dst_props),
        )
        count_put(self.metrics, md)
        return md

    def _recode(
        self, src_bck: BucketRef, src_name: str, dst_bck: BucketRef, dst_name: str, dst_props: BucketProps
    ) -> ObjectMetadata:
        """A copy whose stored form changes (into or out of a compressing bucket): original bytes read
        and written again, in bounded memory, keeping custom metadata and ETag."""
        source = self.store.open(src_bck, src_name)
        try:
            md = source.metadata
            out = self.put(dst_bck, dst_name, dst_props, size_hint=md.size)
            try:
                for piece in self.chunks(source, 0, md.size):
                    out.write(piece)
            except BaseException:
                out.abort()
                raise
        finally:
            source.close()
        return out.commit(custom=dict(md.custom), etag=md.etag)

    def rename(self, bck: BucketRef, src_name: str, dst_name: str) -> None:
        props = self.bucket(bck, ACCESS_MOVE_OBJECT)
        if dst_name != src_name:
            self.store.rename(bck, src_name, dst_name, versioning=props.versioning.enabled)

    def append(self, bck: BucketRef, object_name: str, handle: str, data: bytes) -> str:
        """Append to an object in several requests (APPEND access); returns the handle to continue."""
        self.bucket(bck, ACCESS_APPEND)
        self.room_for(bck, object_name, len(data))
        handle = appends.append(self._posix("append"), bck, object_name, handle, data)
        self.metrics.add("append_count")
        return handle

    def flush(
        self, bck: BucketRef, object_name: str, handle: str
    ) -> ObjectMetadata | Awaitable[ObjectMetadata]:
        """Publish what was appended under ``handle`` as the object's new version.

        Into a compressing bucket the appended bytes are encoded on the way, and a remote bucket's
        object goes to its backend first (in the codec threads: an awaitable); otherwise the append
        file is renamed into place.
        """
        props = self.bucket(bck, ACCESS_APPEND)
        store = self._posix("append")
        path = appends.handle_path(store, bck, object_name, handle)
        size = os.stat(path).st_size
        if compresses(props, size) or remote_of(bck, props) is not None:

            def encode() -> ObjectMetadata:
                md = self._assemble(bck, object_name, props, [path], size)
                os.unlink(path)
                return md

            return off_loop(encode)
        return appends.flush(
            self._posix("append"),
            bck,
            object_name,
            handle,
            checksum_type=props.checksum.type,
            versioning=props.versioning.enabled,
        )

    # -- buckets' space ----------------------------------------------------------------------------

    def create_bucket(self, bck: BucketRef) -> None:
        """Make room for a bucket about to enter the BMD (called by the roles that store objects)."""
        self.store.create_bucket(bck)

    def destroy_bucket(self, bck: BucketRef) -> None:
        """Remove a destroyed bucket's objects (after it left the BMD: no new writes can arrive)."""
        self.store.destroy_bucket(bck)

    # -- multipart uploads -----------------------------------------------------------------------

    def create_upload(
        self, bck: BucketRef, object_name: str, record: multipart.UploadRecord | None = None
    ) -> str:
        """Start a multipart upload (PUT access); S3 keeps its upload ``record`` with it."""
        self.bucket(bck, ACCESS_PUT)
        return multipart.create(self._posix("a multipart upload"), bck, object_name, record)

    def put_part(self, bck: BucketRef, object_name: str, upload_id: str, part: int) -> multipart.PartWriter:
        self.bucket(bck, ACCESS_PUT)
        self.room_for(bck, object_name)
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
    ) -> ObjectMetadata | Awaitable[ObjectMetadata]:
        """Assemble the parts in order and publish them as the object (PUT access).

        Into a compressing bucket the parts are encoded as one stream (no per-part frames or padding:
        a multipart upload compresses as well as a single PUT), and a remote bucket's object is
        uploaded to its backend first (write-through) -- both in the codec threads (an awaitable).
        """
        props = self.bucket(bck, ACCESS_PUT)
        self.room_for(bck, object_name)
        store = self._posix("a multipart upload")
        directory, paths = multipart.part_files(store, bck, object_name, upload_id, parts)
        size = sum(os.stat(path).st_size for path in paths)
        if compresses(props, size) or remote_of(bck, props) is not None:

            def assemble() -> ObjectMetadata:
                md = self._assemble(bck, object_name, props, paths, size, custom=custom, etag=etag)
                multipart.completed(directory)
                return md

            return off_loop(assemble)
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
        count_put(self.metrics, md)
        return md

    def _assemble(
        self,
        bck: BucketRef,
        object_name: str,
        props: BucketProps,
        paths: list[str],
        size: int,
        *,
        custom: dict[str, str] | None = None,
        etag: str = "",
    ) -> ObjectMetadata:
        """Write the concatenation of ``paths`` as the object through the object path (the bucket's
        encoding, a remote bucket's write-through); the caller removes the files once it is published."""
        out = self.put(bck, object_name, props, size_hint=size)
        try:
            for path in paths:
                with open(path, "rb", buffering=0) as part:
                    while piece := part.read(OFFLOAD_CHUNK):
                        out.write(piece)
        except BaseException:
            out.abort()
            raise
        return out.commit(custom=custom, etag=etag)

    def abort_upload(self, bck: BucketRef, object_name: str, upload_id: str) -> None:
        self.bucket(bck, ACCESS_PUT)
        multipart.abort(self._posix("a multipart upload"), bck, object_name, upload_id)

    def upload_record(
        self, bck: BucketRef, object_name: str, upload_id: str
    ) -> tuple[str, multipart.UploadRecord]:
        """A multipart upload's directory and record (``NotFound`` unless it exists for this name)."""
        return multipart.load_record(self._posix("a multipart upload"), bck, object_name, upload_id)

    def uploads(self, bck: BucketRef) -> Iterator[tuple[str, multipart.UploadRecord]]:
        """Every multipart upload in progress in the bucket: ``(upload id, record)``."""
        return multipart.list_records(self._posix("a multipart upload"), bck)

    # -- whole buckets (jobs; access was checked when the job started) --------------------------

    def rename_bucket(self, src: BucketRef, dst: BucketRef) -> None:
        """Move the bucket's objects under its new name (move-bck): its files keep their bytes."""
        housekeeping.rename_bucket(self._posix("renaming a bucket"), src, dst)

    def resilver(self, bck: BucketRef) -> Iterator[int | None]:
        """Bring every object onto its HRW mountpath; yields per object its size if moved, else None."""
        return housekeeping.resilver(self._posix("resilver"), bck)

    def usage(self, bck: BucketRef, prefix: str = "") -> Iterator[tuple[int, int] | None]:
        """Per object under ``prefix``: ``(size, bytes on disk)``; None for one deleted meanwhile."""
        return housekeeping.usage(self._posix("a bucket summary"), bck, prefix)

    def capacity(self) -> int:
        """Total bytes of the filesystems the node's objects live on."""
        return housekeeping.capacity(self._posix("a bucket summary"))

    # -- space and LRU eviction (the lru job; access was checked when it started) -------------------

    def disk_usage(self, *, fresh: bool = False) -> Usage | None:
        """The node's disks against the watermarks (measured now with ``fresh``); None without a monitor."""
        if self.space is None:
            return None
        return self.space.refresh() if fresh else self.space.usage()

    def write_access_times(self) -> None:
        """Write out the access times this process noted but has not written yet (before an LRU walk)."""
        if self.atimes is not None:
            self.atimes.flush()

    def cached_objects(
        self, bck: BucketRef, roots: tuple[str, ...]
    ) -> Iterator[eviction.CachedObject | None]:
        """Every object of the bucket on the mountpaths ``roots``, with its access time and bytes on disk."""
        return eviction.cached_objects(self._posix("lru eviction"), bck, roots)

    def evict_unread(self, bck: BucketRef, found: eviction.CachedObject) -> int:
        """Drop a cached copy the LRU walk chose unless it was read since; the bytes freed (0: kept).
        Not a client DELETE: not counted as one; the savings ledger follows as for any delete."""
        return eviction.evict_unread(self._posix("lru eviction"), bck, found)

    def cleanup(self, buckets: list[BucketRef], stale_before: float) -> Iterator[int | None]:
        """Remove trash, stale work files and empty directories; yields removed work files' sizes
        (None between steps)."""
        return housekeeping.cleanup(self._posix("cleanup-store"), buckets, stale_before)
