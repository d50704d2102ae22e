"""The urllib3 plumbing the ``ht`` and ``ais`` backends share: one pool, bounded retries, streamed bodies.

Retries cover connecting only (``connect``/``read``=0, no status retries): a request that reached the
server is never sent twice by the pool, since a streamed PUT body cannot be replayed and a GET that
failed half-way is the caller's to redo.
"""

from __future__ import annotations

from collections.abc import Iterator

import urllib3
import urllib3.exceptions

from .bodies import CHUNK_SIZE
from .settings import Transport

UNREACHABLE = (urllib3.exceptions.HTTPError, OSError)
"""What urllib3 raises when the peer cannot be reached or breaks off (connection refused, timeouts,
reset mid-body); every such error becomes ``BackendUnreachable``."""


def make_pool(transport: Transport, headers: dict[str, str] | None = None) -> urllib3.PoolManager:
    retries = urllib3.Retry(
        total=max(0, transport.max_attempts - 1),
        connect=max(0, transport.max_attempts - 1),
        read=0,
        status=0,
        other=0,
        redirect=5,
        backoff_factor=0.2,
        raise_on_redirect=False,
        raise_on_status=False,
    )
    return urllib3.PoolManager(
        num_pools=16,
        maxsize=32,
        retries=retries,
        timeout=urllib3.Timeout(connect=transport.connect_timeout, read=transport.read_timeout),
        headers=headers,
    )


def body_chunks(
    response: urllib3.BaseHTTPResponse, skip: int = 0, limit: int | None = None
) -> Iterator[bytes]:
    """The response body as sent (never decoded), dropping the first ``skip`` bytes and stopping after
    ``limit`` (for origins that ignore ``Range`` and answer 200 with everything)."""
    left = limit
    for chunk in response.stream(CHUNK_SIZE, decode_content=False):
        if skip:
            if len(chunk) <= skip:
                skip -= len(chunk)
                continue
            chunk, skip = chunk[skip:], 0
        if left is not None:
            chunk = chunk[:left]
            left -= len(chunk)
        if chunk:
            yield chunk
        if left == 0:
            return


def release(response: urllib3.BaseHTTPResponse) -> None:
    """Give the connection back when the body was read to the end; otherwise drop it (reading the
    rest of a large body only to reuse the socket costs more than a new connection)."""
    if not response.closed:
        response.close()
    response.release_conn()
