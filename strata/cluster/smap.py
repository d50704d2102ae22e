"""The cluster map (AIStore's Smap): which proxies and targets are alive, and where objects live.

In cluster mode every node registers itself in etcd under a lease (``NodeInfo``); the map is
the set of live registrations plus the persistent maintenance flags. Placement is HRW over the
active targets, with ``id_digest = digest(daemon_id)`` exactly as AIStore and the SDK compute it,
so ``direct=True`` reads land where proxies redirect. The primary proxy is the longest-lived one
(the lowest etcd create revision): every node computes the same answer with no election.
"""

from __future__ import annotations

import msgspec

from strata.core.hrw import digest, pick
from strata.core.names import BucketRef
from strata.core.wire import NetInfo, Smap, Snode

FLAG_MAINTENANCE = 1 << 2
FLAG_DECOMMISSION = 1 << 3


class NodeInfo(msgspec.Struct, frozen=True):
    """What a node registers about itself."""

    id: str
    role: str  # "proxy" | "target"
    host: str
    port: int
    started_ns: int = 0
    create_revision: int = 0  # filled in from etcd: the registration's age
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def snode(self, flags: int = 0) -> Snode:
        net = NetInfo(node_hostname=self.host, daemon_port=str(self.port), direct_url=self.url)
        return Snode(
            daemon_id=self.id,
            daemon_type=self.role,
            public_net=net,
            intra_control_net=net,
            intra_data_net=net,
            flags=flags,
            id_digest=digest(self.id),
        )


class ClusterMap:
    """An immutable view of the cluster at one ``version`` (the etcd revision it was built at)."""

    def __init__(self, version: int, uuid: str, nodes: list[NodeInfo], flags: dict[str, int]) -> None:
        self.version = version
        self.uuid = uuid
        self.flags = flags
        self.proxies = {n.id: n for n in nodes if n.role == "proxy"}
        self.targets = {n.id: n for n in nodes if n.role == "target"}
        self.active = [
            t
            for t in self.targets.values()
            if not flags.get(t.id, 0) & (FLAG_MAINTENANCE | FLAG_DECOMMISSION)
        ]
        self._candidates = [(digest(t.id), t) for t in sorted(self.active, key=lambda t: t.id)]
        proxies = sorted(self.proxies.values(), key=lambda p: (p.create_revision, p.id))
        self.primary: NodeInfo | None = proxies[0] if proxies else None

    def target_for(self, bck: BucketRef, object_name: str) -> NodeInfo | None:
        return pick(self._candidates, digest(bck.object_uname(object_name)))

    def target_for_key(self, key: str) -> NodeInfo | None:
        """The target HRW picks for any other key (e.g. the target that pages a remote listing)."""
        return pick(self._candidates, digest(key))

    def node(self, node_id: str) -> NodeInfo | None:
        return self.targets.get(node_id) or self.proxies.get(node_id)

    def to_smap(self, creation_time: str = "") -> Smap:
        primary = self.primary.snode() if self.primary is not None else _no_proxy()
        return Smap(
            tmap={t.id: t.snode(self.flags.get(t.id, 0)) for t in self.targets.values()},
            pmap={p.id: p.snode(self.flags.get(p.id, 0)) for p in self.proxies.values()},
            proxy_si=primary,
            version=self.version,
            uuid=self.uuid,
            creation_time=creation_time,
        )


def _no_proxy() -> Snode:
    net = NetInfo(node_hostname="", daemon_port="0", direct_url="")
    return Snode(
        daemon_id="",
        daemon_type="proxy",
        public_net=net,
        intra_control_net=net,
        intra_data_net=net,
        flags=0,
        id_digest=0,
    )


def embedded_members(
    node_id: str, host: str, port: int, started_ns: int, scheme: str = "http"
) -> list[NodeInfo]:
    """An embedded node's cluster map: the one node, as the primary proxy and as the one target."""
    return [
        NodeInfo(node_id, "proxy", host, port, started_ns, scheme=scheme),
        NodeInfo(node_id, "target", host, port, scheme=scheme),
    ]
