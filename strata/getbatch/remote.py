"""GetBatch on a cluster's designated target (DT): entries on peers, pulled ahead of the writer.

``RoutingSource`` serves each entry from this target's disks when HRW places it here, and from its
owner otherwise. Remote entries are fetched by a small thread pool ahead of the writer -- up to
``LOOKAHEAD`` entries, each buffered up to ``PREFETCH_MAX`` bytes (larger ones stream when their
turn comes) -- so the stream stays in request order while peers work in parallel and memory stays
bounded. A peer that does not answer within ``get_batch.max_wait``, or breaks the connection, is
replaced by any neighbour holding the object (get-from-neighbour); if none does, the entry is
missing: a soft error with ``coer``, a failed request without.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import requests

from strata.cluster.rebalance import find_on_neighbours
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.cluster.transfer import TIMEOUT, bucket_params, intra_session, object_url
from strata.errors import ObjectNotFound, StrataError
from strata.getbatch.model import Entry
from strata.getbatch.sources import LocalSource, Payload

LOOKAHEAD = 16
PREFETCH_MAX = 4 << 20
_CHUNK = 1 << 20


class PeerFailed(StrataError):
    status = 404  # with coer a soft error; without, the entry is missing for the client


class _Fetched:
    """A remote entry: fully buffered (small) or an open response to stream (large)."""

    __slots__ = ("body", "response", "size")

    def __init__(self, size: int, body: bytes | None, response: requests.Response | None) -> None:
        self.size = size
        self.body = body
        self.response = response

    def chunks(self) -> Iterable[bytes]:
        if self.body is not None:
            return (self.body,)
        assert self.response is not None
        return _stream(self.response)


def _stream(response: requests.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_content(_CHUNK)
    finally:
        response.close()


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
    ) -> None:
        self.on_wait = waited  # nanoseconds spent waiting for peers (ais_target_getbatch_rxwait_ns)
        self.local = local
        self.entries = entries
        self.cluster_map = cluster_map
        self.me = me
        self.max_wait = max_wait
        self.on_gfn = gfn
        self.cursor = 0
        self.pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="getbatch-peer")
        self.pending: dict[int, concurrent.futures.Future[_Fetched]] = {}
        self.submitted = 0
        self._sessions = threading.local()

    # -- EntrySource -------------------------------------------------------------------------------

    def fetch(self, entry: Entry) -> Payload:
        index = self.cursor
        self.cursor += 1
        self._look_ahead(index)
        owner = self._owner(entry)
        if owner is None:
            return self.local.fetch(entry)
        future = self.pending.pop(index, None)
        if future is None:
            future = self.pool.submit(self._get, owner, entry)
        started = time.monotonic_ns()
        try:
            fetched = future.result(timeout=self.max_wait)
        except (concurrent.futures.TimeoutError, StrataError) as exc:
            future.cancel()
            return self._from_neighbour(entry, owner, exc)
        finally:
            if self.on_wait is not None:
                self.on_wait(time.monotonic_ns() - started)
        return Payload(fetched.size, fetched.chunks(), bool(entry.archpath), None)

    def warm(self, entry: Entry) -> None:
        if self._owner(entry) is None:
            self.local.warm(entry)

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.local.close()

    # -- peers ---------------------------------------------------------------------------------------

    def _owner(self, entry: Entry) -> NodeInfo | None:
        """The owning peer, or None when the entry is this target's."""
        owner = self.cluster_map().target_for(entry.bck, entry.name)
        return None if owner is None or owner.id == self.me else owner

    def _look_ahead(self, index: int) -> None:
        """Start fetching the next remote entries (bounded window)."""
        start = max(self.submitted, index + 1)
        end = min(len(self.entries), index + 1 + LOOKAHEAD)
        for ahead in range(start, end):
            entry = self.entries[ahead]
            owner = self._owner(entry)
            if owner is not None:
                self.pending[ahead] = self.pool.submit(self._get, owner, entry)
        self.submitted = max(self.submitted, end)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = intra_session()
        return session

    def _get(self, peer: NodeInfo, entry: Entry) -> _Fetched:
        params = bucket_params(entry.bck, local="true")
        if entry.archpath:
            params["archpath"] = entry.archpath
        headers = {}
        if not entry.whole:
            end = "" if entry.length == -1 else str(entry.start + entry.length - 1)
            headers["Range"] = f"bytes={entry.start}-{end}"
        try:
            resp = self._session().get(
                object_url(peer, entry.bck, entry.name),
                params=params,
                headers=headers,
                stream=True,
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise PeerFailed(
                f"target {peer.id} did not answer for {entry.bck.object_uri(entry.name)}: {exc}"
            ) from None
        if resp.status_code not in (200, 206):
            body = resp.text[:300]
            resp.close()
            if resp.status_code == 404:
                raise ObjectNotFound(
                    entry.bck.object_uri(entry.name) + (f"/{entry.archpath}" if entry.archpath else "")
                )
            raise PeerFailed(f"target {peer.id}: {resp.status_code} {body}")
        size = int(resp.headers.get("Content-Length", "0"))
        if size > PREFETCH_MAX:
            return _Fetched(size, None, resp)
        try:
            body_bytes = resp.content
        except requests.RequestException as exc:
            raise PeerFailed(
                f"target {peer.id} broke off {entry.bck.object_uri(entry.name)}: {exc}"
            ) from None
        if len(body_bytes) != size:
            raise PeerFailed(f"target {peer.id} sent {len(body_bytes)} of {size} bytes")
        return _Fetched(size, body_bytes, None)

    def _from_neighbour(self, entry: Entry, owner: NodeInfo, cause: BaseException) -> Payload:
        """Get-from-neighbour: another target that holds the object (a rebalance not done yet, a peer
        that stopped answering); the original failure stands when none does."""
        holder = find_on_neighbours(self.cluster_map(), owner.id, entry.bck, entry.name)
        if holder is None:
            if isinstance(cause, StrataError):
                raise cause
            raise PeerFailed(
                f"target {owner.id} did not answer within get_batch.max_wait ({self.max_wait:g}s) "
                f"for {entry.bck.object_uri(entry.name)}"
            )
        if self.on_gfn is not None:
            self.on_gfn()
        if holder.id == self.me:
            return self.local.fetch(entry)
        fetched = self._get(holder, entry)
        return Payload(fetched.size, fetched.chunks(), bool(entry.archpath), None)
