"""GetBatch on a cluster's designated target (DT): entries on peers, pulled ahead of the writer.

``RoutingSource`` serves each entry from this target's disks when HRW places it here, and from its
owner otherwise. Each peer gets its whole share of the batch in one GetBatch request of its own
(``local=true``: it serves only what it holds), opened at the start so that every peer works in
parallel; the designated target reads those TAR streams member by member, in the same relative order,
and interleaves them into the client's order. Memory stays bounded: a member is read only when its
turn comes (TCP flow control holds the peers back meanwhile). Entries a peer reports missing, or
that a broken peer stream can no longer give, are fetched one by one (``_get``) or from a neighbour.
A peer that does not answer within ``get_batch.max_wait``, or breaks the connection, is replaced by
any neighbour holding the object (get-from-neighbour); if none does, the peer's failure stands:
``PeerUnreachable`` (503) for a peer that did not answer -- a soft error with ``coer`` (the assembler
lets that one 5xx through: only the down peer's entries are affected), a 503 for the request without
(retry once the cluster map has dropped the peer; never a 404, the object may well exist) -- and the
entry's own error (e.g. ``ObjectNotFound``) for a peer that answered.
"""

from __future__ import annotations

import concurrent.futures
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, cast

from strata.cluster.peers import CallKind, PeerClient, PeerResponse, peer_client
from strata.cluster.rebalance import find_on_neighbours
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.cluster.transfer import bucket_params, object_path
from strata.core.errors import ObjectNotFound, PeerUnreachable, StrataError
from strata.getbatch.model import MISSING_DIR, Entry
from strata.getbatch.sources import LocalSource, Payload

MISSING_PREFIX = MISSING_DIR + "/"
PREFETCH_MAX = 4 << 20
_CHUNK = 1 << 20


class PeerFailed(StrataError):
    """A peer answered, but not with the entry: an error status, or a stream out of step.

    404 as before: the entry is missing for the client (a soft error with coer). A peer that does
    not answer at all is ``PeerUnreachable`` instead.
    """

    status = 404


class _Fetched:
    """A remote entry: fully buffered (small) or an open response to stream (large)."""

    __slots__ = ("body", "response", "size")

    def __init__(self, size: int, body: bytes | None, response: PeerResponse | None) -> None:
        self.size = size
        self.body = body
        self.response = response

    def chunks(self) -> Iterable[bytes]:
        if self.body is not None:
            return (self.body,)
        assert self.response is not None
        return self.response.iter_chunks(_CHUNK)


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def _moss_in(entry: Entry) -> dict[str, object]:
    """The entry as a MossIn for the peer (its uname carries bucket, provider and namespace)."""
    item: dict[str, object] = {"uname": entry.bck.object_uname(entry.name), "objname": entry.name}
    if entry.archpath:
        item["archpath"] = entry.archpath
    if not entry.whole:
        item["start"], item["length"] = entry.start, entry.length
    return item


class PeerStream:
    """One peer's share of the batch: one GetBatch request, read as a TAR stream in order."""

    def __init__(self, peers: PeerClient, peer: NodeInfo, entries: list[Entry], max_wait: float) -> None:
        self.peer = peer
        self.broken: StrataError | None = None
        self.response: PeerResponse | None = None
        body = {"in": [_moss_in(e) for e in entries], "mime": ".tar", "coer": True, "strm": True}
        try:
            self.response = peers.request_json(
                "GET",
                peer,
                "/v1/ml/moss",
                body,
                query={"local": "true"},
                headers={"Accept": "*/*"},
                kind=CallKind.DATA,
                read_timeout=max_wait,
                stream=True,
            )
            if self.response.status != 200:
                raise PeerFailed(f"target {peer.id}: {self.response.status} {self.response.text[:200]}")
            # stream mode only reads: the answer is file enough; closed with the response
            self.tar = tarfile.open(fileobj=cast(IO[bytes], self.response), mode="r|")  # noqa: SIM115
            self.members = iter(self.tar)
        except (tarfile.TarError, OSError) as exc:
            self.broken = PeerFailed(f"target {peer.id} did not stream its entries: {exc}")
        except StrataError as exc:  # PeerUnreachable, PeerFailed
            self.broken = exc

    def next(self, entry: Entry) -> Payload | None:
        """The entry's bytes (read from the stream as the writer consumes them); None if the peer
        reported it missing. Raises ``PeerFailed`` once the stream broke."""
        if self.broken is not None:
            raise self.broken
        try:
            member = next(self.members)
            expected = f"{entry.bck.name}/{entry.name}" + (
                f"/{entry.archpath.lstrip('/')}" if entry.archpath else ""
            )
            if member.name.startswith(MISSING_PREFIX):
                return None
            if member.name.rstrip("/") != expected.rstrip("/"):
                raise PeerFailed(f"target {self.peer.id} sent {member.name!r} where {expected!r} was due")
            extracted = self.tar.extractfile(member)
            if extracted is None:
                raise PeerFailed(f"target {self.peer.id} sent {member.name!r} that is not a file")
            if member.size <= PREFETCH_MAX:  # small: read now, so a broken stream is still recoverable
                data: bytes | Iterable[bytes] = extracted.read()
                if len(data) != member.size:  # type: ignore[arg-type]
                    raise OSError(f"{len(data)} of {member.size} bytes")  # type: ignore[arg-type]
            else:  # large: stream it as the writer goes (consumed before the next member is read)
                data = _chunks(extracted)
        except PeerUnreachable as exc:
            self.broken = exc
            raise
        except (StopIteration, tarfile.TarError, OSError) as exc:
            self.broken = PeerFailed(f"target {self.peer.id} broke off its stream: {exc!r}")
            raise self.broken from None
        return Payload(member.size, data, bool(entry.archpath), None)

    def close(self) -> None:
        if self.response is not None:
            self.response.close()


class RoutingSource:
    def __init__(
        self,
        local: LocalSource,
        entries: list[Entry],
        cluster_map: Callable[[], ClusterMap],
        me: str,
        *,
        max_wait: float,
        gfn: Callable[[], None] | None = None,
        waited: Callable[[int], None] | None = None,
        peers: PeerClient | None = None,
    ) -> None:
        self.on_wait = waited  # nanoseconds spent waiting for peers (ais_target_getbatch_rxwait_ns)
        self.local = local
        self.cluster_map = cluster_map
        self.me = me
        self.max_wait = max_wait
        self.on_gfn = gfn
        self.peers = peers or peer_client()
        # 1. whose is each entry; 2. every peer's share requested at once, in parallel
        self.owners = [self._owner(e) for e in entries]
        shares: dict[str, tuple[NodeInfo, list[Entry]]] = {}
        for entry, owner in zip(entries, self.owners, strict=True):
            if owner is not None:
                shares.setdefault(owner.id, (owner, []))[1].append(entry)
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max(1, len(shares)), thread_name_prefix="getbatch-peer"
        )
        self.streams = {
            peer_id: self.pool.submit(PeerStream, self.peers, peer, share, max_wait)
            for peer_id, (peer, share) in shares.items()
        }
        self.cursor = 0

    # -- EntrySource -------------------------------------------------------------------------------

    def fetch(self, entry: Entry) -> Payload:
        owner = self.owners[self.cursor]
        self.cursor += 1
        if owner is None:
            return self.local.fetch(entry)
        started = time.monotonic_ns()
        try:
            stream = self.streams[owner.id].result(timeout=self.max_wait)
            payload = stream.next(entry)
        except (concurrent.futures.TimeoutError, StrataError) as exc:
            return self._one_by_one(entry, owner, exc)
        finally:
            if self.on_wait is not None:
                self.on_wait(time.monotonic_ns() - started)
        if payload is None:  # the owner does not have it (e.g. a rebalance has not brought it yet)
            return self._from_neighbour(entry, owner, ObjectNotFound(entry.bck.object_uri(entry.name)))
        return payload

    def warm(self, entry: Entry) -> None:
        if self.cursor < len(self.owners) and self._owner(entry) is None:
            self.local.warm(entry)

    def close(self) -> None:
        for future in self.streams.values():
            future.cancel()
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.local.close()

    # -- peers ---------------------------------------------------------------------------------------

    def _owner(self, entry: Entry) -> NodeInfo | None:
        """The owning peer, or None when the entry is this target's."""
        owner = self.cluster_map().target_for(entry.bck, entry.name)
        return None if owner is None or owner.id == self.me else owner

    def _one_by_one(self, entry: Entry, owner: NodeInfo, cause: BaseException) -> Payload:
        """The owner's stream failed: ask for this entry alone, then any neighbour."""
        try:
            fetched = self._get(owner, entry)
        except StrataError as exc:
            return self._from_neighbour(entry, owner, exc)
        return Payload(fetched.size, fetched.chunks(), bool(entry.archpath), None)

    def _get(self, peer: NodeInfo, entry: Entry) -> _Fetched:
        params = bucket_params(entry.bck, local="true")
        if entry.archpath:
            params["archpath"] = entry.archpath
        headers = {}
        if not entry.whole:
            end = "" if entry.length == -1 else str(entry.start + entry.length - 1)
            headers["Range"] = f"bytes={entry.start}-{end}"
        resp = self.peers.request(  # PeerUnreachable when the peer does not answer within max_wait
            "GET",
            peer,
            object_path(entry.bck, entry.name),
            query=params,
            headers=headers,
            kind=CallKind.DATA,
            read_timeout=self.max_wait,
            stream=True,
        )
        if resp.status not in (200, 206):
            body = resp.text[:300]
            if resp.status == 404:
                raise ObjectNotFound(
                    entry.bck.object_uri(entry.name) + (f"/{entry.archpath}" if entry.archpath else "")
                )
            raise PeerFailed(f"target {peer.id}: {resp.status} {body}")
        size = int(resp.headers.get("Content-Length", "0"))
        if size > PREFETCH_MAX:
            return _Fetched(size, None, resp)
        body_bytes = resp.content
        if len(body_bytes) != size:
            raise PeerFailed(f"target {peer.id} sent {len(body_bytes)} of {size} bytes")
        return _Fetched(size, body_bytes, None)

    def _from_neighbour(self, entry: Entry, owner: NodeInfo, cause: BaseException) -> Payload:
        """Get-from-neighbour: another target that holds the object (a rebalance not done yet, a peer
        that stopped answering); the original failure stands when none does."""
        holder = find_on_neighbours(self.cluster_map(), owner.id, entry.bck, entry.name, self.peers)
        if holder is None:
            if isinstance(cause, StrataError):
                raise cause
            raise PeerUnreachable(
                owner.id,
                f"no answer within get_batch.max_wait ({self.max_wait:g}s) "
                f"for {entry.bck.object_uri(entry.name)}",
            )
        if self.on_gfn is not None:
            self.on_gfn()
        if holder.id == self.me:
            return self.local.fetch(entry)
        fetched = self._get(holder, entry)
        return Payload(fetched.size, fetched.chunks(), bool(entry.archpath), None)
