"""Moving object bytes between targets over HTTP (rebalance, cluster copies, archive members).

One place for target-to-target PUT and GET, streaming from and to open files: an object is never
held whole in memory, and the receiver's normal PUT path (atomic write, checksums) applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import quote

import requests

from strata.cluster.smap import NodeInfo
from strata.core.errors import StrataError
from strata.core.names import BucketRef

TIMEOUT = (3.0, 120.0)
_CHUNK = 1 << 20
_verify: bool | str = True


def configure_tls(*, skip_verify: bool, ca_bundle: str = "") -> None:
    """How this process checks other nodes' certificates (``net.http.skip_verify``, ``client_ca_tls``)."""
    global _verify
    _verify = False if skip_verify else (ca_bundle or True)


def intra_session() -> requests.Session:
    """A session for node-to-node requests: every one of them goes through here."""
    session = requests.Session()
    session.verify = _verify
    session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment do not apply inside
    return session


class TransferFailed(StrataError):
    status = 503


def object_url(node: NodeInfo, bck: BucketRef, name: str) -> str:
    return f"{node.url}/v1/objects/{bck.name}/{quote(name, safe='/')}"


def bucket_params(bck: BucketRef, **extra: str) -> dict[str, str]:
    params = {"provider": bck.provider, **extra}
    if bck.ns_uuid or bck.ns_name:
        params["namespace"] = bck.namespace_uname
    return params


class _FileBody:
    """A region of an open file as a request body with a known length (not chunked)."""

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


def put_object(
    session: requests.Session,
    node: NodeInfo,
    bck: BucketRef,
    name: str,
    fd: int,
    size: int,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    try:
        return session.put(
            object_url(node, bck, name),
            params=bucket_params(bck, **(params or {})),
            data=_FileBody(fd, size),
            headers=headers,
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise TransferFailed(f"sending {bck.object_uri(name)} to {node.id} failed: {exc}") from None


def get_object(
    session: requests.Session, node: NodeInfo, bck: BucketRef, name: str
) -> tuple[int, Iterator[bytes]]:
    """Size and chunks of an object on another target (``local=true``: no further redirects)."""
    try:
        resp = session.get(
            object_url(node, bck, name), params=bucket_params(bck, local="true"), stream=True, timeout=TIMEOUT
        )
    except requests.RequestException as exc:
        raise TransferFailed(f"reading {bck.object_uri(name)} from {node.id} failed: {exc}") from None
    if resp.status_code != 200:
        resp.close()
        raise TransferFailed(f"reading {bck.object_uri(name)} from {node.id}: {resp.status_code}")
    return int(resp.headers.get("Content-Length", "0")), resp.iter_content(_CHUNK)
