"""A cluster in one process: a proxy and targets as in-process nodes, wired by the fake peer client.

Every node is an ``InProcessNode`` with its role object (``ProxyRole``, ``TargetRole``) and its own data
directory; they share one metadata directory, whose ``LocalMetaStore`` gives all of them the same
cluster map and BMD (the handlers cannot tell it from etcd). Node-to-node calls go through a
``FakePeerClient`` whose handlers answer with the called node's own application, so a proxy's fan-out,
a GetBatch designated target pulling from its peers, or a copy sent to its destination's owner run the
real code paths without a socket. ``call`` plays the client: it follows 307 redirects to the node the
``Location`` names, as the SDK does.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from strata.cluster import peers
from strata.cluster.peers import FakePeerClient, PeerCall, PeerResponse
from strata.cluster.smap import NodeInfo
from strata.roles.role import ProxyRole, TargetRole

from .inprocess import Answer, InProcessNode

MAX_REDIRECTS = 3


class InProcessCluster:
    def __init__(self, root: Path, targets: int = 2) -> None:
        self.members = [NodeInfo("p1", "proxy", "127.0.0.1", 1, 1)]
        self.members += [NodeInfo(f"t{i}", "target", "127.0.0.1", 1 + i) for i in range(1, targets + 1)]
        meta_dir = root / "meta"
        self.nodes: dict[str, InProcessNode] = {}
        for info in self.members:
            role = ProxyRole() if info.role == "proxy" else TargetRole()
            self.nodes[info.id] = InProcessNode(
                root / info.id,
                role=role,
                node_id=info.id,
                port=info.port,
                members=self.members,
                meta_dir=meta_dir,
            )
        self.peers = FakePeerClient()
        for node_id in self.nodes:
            self.peers.serve(node_id, self._handler(node_id))
        peers.install(self.peers)

    @property
    def proxy(self) -> InProcessNode:
        return self.nodes["p1"]

    def _handler(self, node_id: str):  # type: ignore[no-untyped-def]
        def answer(call: PeerCall) -> PeerResponse:
            got = self.nodes[node_id].call(call.method, call.path, call.query, call.body, call.headers)
            return PeerResponse.of(got.status, got.body, got.headers)

        return answer

    def _by_port(self, port: int) -> InProcessNode:
        for info in self.members:
            if info.port == port:
                return self.nodes[info.id]
        raise AssertionError(f"no node on port {port}")

    def call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """A client request to the proxy, following redirects as the SDK does."""
        node = self.proxy
        for _ in range(MAX_REDIRECTS):
            answer = node.call(method, path, query, body, headers)
            if answer.status != 307:
                return answer
            location = urlsplit(answer.headers["location"])
            assert location.port is not None
            node, path, query = self._by_port(location.port), location.path, location.query
        raise AssertionError("too many redirects")

    def close(self) -> None:
        peers.install(None)
        for node in self.nodes.values():
            node.close()
