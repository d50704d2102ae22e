"""Where a job reads objects from: this node's disks, or -- in a cluster -- any target.

Jobs that gather objects into one place (the archive job; GetBatch later) ask a source for the
names a selection covers and for each object's bytes. ``LocalObjects`` reads this node's objects
through the object service (zero-copy regions, validated when the bucket asks); ``ClusterObjects``
reads local objects the same way and streams the others from their HRW owners (whose GET path
applies the same rules), and lists prefixes across every target.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import msgspec

from strata.archive import FileRegion, Source
from strata.cluster.peers import CallKind, PeerClient, peer_client
from strata.cluster.smap import ClusterMap, NodeInfo
from strata.cluster.transfer import get_object
from strata.config.bucket_props import BucketProps
from strata.core.errors import StrataError
from strata.core.names import BucketRef
from strata.core.wire import ListObjectsPage
from strata.jobs.bucket_ops import Selection
from strata.jobs.templates import expand_template, is_prefix
from strata.objects.service import ObjectService

_page_decoder = msgspec.msgpack.Decoder(ListObjectsPage)
LIST_PAGE = 10000


@dataclass
class Opened:
    """One object ready to be read: its size, write time (seconds) and bytes."""

    size: int
    mtime: int
    source: Source
    close: Callable[[], None]


class ObjectSource(Protocol):
    def names(self, bck: BucketRef, selection: Selection) -> Iterator[tuple[str, bool]]: ...

    def open(self, bck: BucketRef, name: str, props: BucketProps | None = None) -> Opened:
        """The object's bytes; ``props`` are its bucket's as the job checked them when it started
        (None: looked up and checked now)."""
        ...


class LocalObjects:
    def __init__(self, objects: ObjectService) -> None:
        self.objects = objects

    def names(self, bck: BucketRef, selection: Selection) -> Iterator[tuple[str, bool]]:
        return selection.iter(self.objects, bck)

    def open(self, bck: BucketRef, name: str, props: BucketProps | None = None) -> Opened:
        obj = self.objects.open(bck, name, props)
        # a compressed object is decoded as the shard is written; a plain one is copied kernel-side
        source: Source = FileRegion(obj.fd, 0, obj.size)
        if obj.metadata.codec:
            source = self.objects.chunks(obj, 0, obj.size)
        return Opened(obj.size, obj.metadata.mtime_ns // 1_000_000_000, source, obj.close)


class ClusterObjects:
    """Any object of the cluster, from this target's point of view.

    An object its owner does not hold is ``ObjectNotFound`` (a missing member); an owner that does
    not answer raises ``PeerUnreachable``: the object may exist, so it is never counted as missing.
    """

    def __init__(
        self,
        objects: ObjectService,
        cluster_map: Callable[[], ClusterMap],
        me: str,
        peers: PeerClient | None = None,
    ) -> None:
        self.local = LocalObjects(objects)
        self.cluster_map = cluster_map
        self.me = me
        self.peers = peers or peer_client()

    def names(self, bck: BucketRef, selection: Selection) -> Iterator[tuple[str, bool]]:
        if selection.names is not None:
            return ((name, True) for name in selection.names)
        template = selection.template or ""
        if not is_prefix(template):
            return ((name, False) for name in expand_template(template))
        streams = [self._target_names(t, bck, template) for t in self.cluster_map().targets.values()]
        return ((name, False) for name in _unique(heapq.merge(*streams)))

    def open(self, bck: BucketRef, name: str, props: BucketProps | None = None) -> Opened:
        owner = self.cluster_map().target_for(bck, name)
        if owner is None or owner.id == self.me:
            return self.local.open(bck, name, props)
        size, chunks = get_object(owner, bck, name, peers=self.peers)
        return Opened(size, 0, chunks, lambda: None)

    def _target_names(self, target: NodeInfo, bck: BucketRef, prefix: str) -> Iterator[str]:
        """One target's local names under ``prefix``, page by page."""
        token = ""
        while True:
            value = {
                "prefix": prefix,
                "pagesize": LIST_PAGE,
                "continuation_token": token,
                "flags": "16",
                "props": "name",
            }
            resp = self.peers.request_json(
                "GET",
                target,
                f"/v1/buckets/{bck.name}",
                {"action": "list", "name": "", "value": value},
                query={"provider": bck.provider},
                headers={"Accept": "application/msgpack"},
                kind=CallKind.LIST,
            )
            if resp.status != 200:
                raise StrataError(f"listing {bck.uri} on {target.id}: {resp.status} {resp.text[:200]}")
            page = _page_decoder.decode(resp.content)
            for entry in page.Entries or []:
                yield entry.n
            if not page.ContinuationToken:
                return
            token = page.ContinuationToken


def _unique(names: Iterator[str]) -> Iterator[str]:
    last = None
    for name in names:
        if name != last:
            yield name
            last = name
