"""Moving object bytes between targets over HTTP (rebalance, cluster copies, archive members).

One place for target-to-target PUT and GET, streaming from and to open files: an object is never
held whole in memory, and the receiver's normal PUT path (atomic write, checksums) applies. The
calls go through the process's peer client (``strata.cluster.peers``) as ``DATA`` calls; a target
that does not answer raises ``PeerUnreachable``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from strata.cluster.peers import CallKind, PeerClient, PeerResponse, peer_client
from strata.cluster.smap import NodeInfo
from strata.core.errors import ObjectNotFound, StrataError
from strata.core.names import BucketRef

_CHUNK = 1 << 20


def object_path(bck: BucketRef, name: str) -> str:
    return f"/v1/objects/{quote(bck.name)}/{quote(name, safe='/')}"


STORED_MD_HEADER = "Strata-Stored-Md"
"""A copy sent between targets as it is stored (compressed): the source's metadata record, base64."""


def bucket_params(bck: BucketRef, **extra: str) -> dict[str, str]:
    params = {"provider": bck.provider, **extra}
    if bck.ns_uuid or bck.ns_name:
        params["namespace"] = bck.namespace_uname
    return params


class FileBody:
    """The first ``size`` bytes of an open file as a request body, read as they are sent (a peer PUT's,
    a backend upload's)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.len = size
        self.offset = 0

    def read(self, n: int = -1) -> bytes:
        want = self.len - self.offset if n < 0 else min(n, self.len - self.offset)
        if want <= 0:
            return b""
        data = os.pread(self.fd, want, self.offset)
        self.offset += len(data)
        return data


class _ChunksBody:
    """Chunks produced as they are sent (a compressed object decoded on the way) as a request body."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._left = b""

    def read(self, n: int = -1) -> bytes:
        while not self._left:
            piece = next(self._chunks, None)
            if piece is None:
                return b""
            self._left = piece
        if n < 0 or n >= len(self._left):
            data, self._left = self._left, b""
        else:
            data, self._left = self._left[:n], self._left[n:]
        return data


def put_object(
    node: NodeInfo,
    bck: BucketRef,
    name: str,
    source: int | Iterable[bytes],
    size: int,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    peers: PeerClient | None = None,
) -> PeerResponse:
    """PUT ``size`` bytes of ``source`` (an open file from its start, or chunks) as ``bck/name`` on
    ``node``; the answer is for the caller to judge."""
    return (peers or peer_client()).request(
        "PUT",
        node,
        object_path(bck, name),
        query=bucket_params(bck, **(params or {})),
        headers={**(headers or {}), "Content-Length": str(size)},
        body=FileBody(source, size) if isinstance(source, int) else _ChunksBody(source),
        kind=CallKind.DATA,
    )


def get_object(
    node: NodeInfo, bck: BucketRef, name: str, *, peers: PeerClient | None = None
) -> tuple[int, Iterator[bytes]]:
    """Size and chunks of an object on another target (``local=true``: no further redirects).

    ``ObjectNotFound`` when the target does not hold it; another failing status is a ``StrataError``.
    """
    resp = (peers or peer_client()).request(
        "GET",
        node,
        object_path(bck, name),
        query=bucket_params(bck, local="true"),
        kind=CallKind.DATA,
        stream=True,
    )
    if resp.status != 200:
        detail = resp.text[:200]
        if resp.status == 404:
            raise ObjectNotFound(bck.object_uri(name), f"not on {node.id}")
        raise StrataError(f"reading {bck.object_uri(name)} from {node.id}: {resp.status} {detail}")
    return int(resp.headers.get("Content-Length", "0")), resp.iter_chunks(_CHUNK)
