"""A cold GET's stream (``objects.put.ColdRead``): the backend's chunks are stored as they are sent, and
the object is published with the last one -- only if the body is the size the backend announced.

In-process: an embedded node over a temporary directory; the backend's side is a ``RemoteReader`` made
here (what a backend's ``get`` answers), so a body that ends early or runs long can be staged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.backends import RemoteObject, RemoteReader
from strata.core.errors import FailedDependency, ObjectNotFound
from strata.core.names import BucketRef
from strata.objects.put import ColdRead

from .inprocess import InProcessNode

BUCKET = BucketRef.parse("cache", "ais")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[InProcessNode]:
    node = InProcessNode(tmp_path)
    created = node.call(
        "POST", "/v1/buckets/cache", "provider=ais", json.dumps({"action": "create-bck"}).encode()
    )
    assert created.status == 200
    yield node
    node.close()


def _cold_read(node: InProcessNode, chunks: list[bytes], announced: int) -> tuple[ColdRead, list[bool]]:
    closed: list[bool] = []
    info = RemoteObject("k", announced, etag="e-1", version="7")
    reader = RemoteReader(info, 0, announced, iter(chunks), lambda: closed.append(True))
    out = node.node.objects.put(BUCKET, "k", size_hint=max(announced, 0), through=False)
    return ColdRead(reader, out, "aws"), closed


def _drain(cold: ColdRead) -> list[bytes]:
    async def run() -> list[bytes]:
        return [chunk async for chunk in cold.stream()]

    return asyncio.run(run())


@pytest.mark.parametrize("announced", [8, -1])  # -1: the backend did not say (an HTTP origin may not)
def test_every_chunk_is_sent_and_the_object_is_published_with_the_remote_facts(
    node: InProcessNode, announced: int
) -> None:
    cold, closed = _cold_read(node, [b"abc", b"", b"defgh"], announced)
    assert _drain(cold) == [b"abc", b"defgh"]
    md = node.node.objects.store.head(BUCKET, "k")
    assert md.size == 8 and md.custom["source"] == "aws" and md.custom["version"] == "7"
    assert closed == [True]


@pytest.mark.parametrize(("chunks", "announced"), [([b"abc"], 8), ([b"abcd", b"efgh", b"ij"], 8)])
def test_a_body_of_another_size_than_announced_is_never_stored(
    node: InProcessNode, chunks: list[bytes], announced: int
) -> None:
    cold, closed = _cold_read(node, chunks, announced)
    with pytest.raises(FailedDependency, match="another size"):
        _drain(cold)
    with pytest.raises(ObjectNotFound):
        node.node.objects.store.head(BUCKET, "k")
    assert closed == [True]
