"""Drive the AIS and S3 fronts in-process: no sockets, no server process.

``InProcessNode`` builds a node over a temporary data directory and answers requests through the
same ``Application`` protocol the HTTP server uses (``begin`` -> ``feed`` -> ``finish``, errors
through ``error_response``), so a unit test exercises every front's handlers and the object service
beneath them exactly as a request would, in microseconds. ``storage="memory"`` puts the object
service over the in-memory twin (``MemoryStore``) instead of the POSIX store.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from strata.cluster.metastore import LocalMetaStore
from strata.cluster.smap import NodeInfo, embedded_members
from strata.core.clock import SYSTEM_CLOCK, Clock
from strata.core.names import BucketRef
from strata.daemons.app import NodeApp
from strata.roles.node import Node
from strata.roles.role import EmbeddedRole, Role
from strata.server.http import Request, Response, StreamItem
from strata.storage.memory import MemoryStore
from strata.storage.mountpaths import Mountpaths


class Answer:
    """A response with its body read out (bytes, a file region, or a stream joined)."""

    def __init__(self, response: Response, body: bytes) -> None:
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.headers}
        self.body = body

    def json(self) -> object:
        return msgspec.json.decode(self.body)


def _item_bytes(item: StreamItem) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    return os.pread(item.fd, item.count, item.offset)  # a file region the stream sends zero-copy


async def _body_of(response: Response) -> bytes:
    if response.raw is not None:
        head, _, body = response.raw.partition(b"\r\n\r\n")
        response.status = int(head.split(b" ", 2)[1])
        return body
    if response.file is not None:
        try:
            return os.pread(response.file.fd, response.file.count, response.file.offset)
        finally:
            os.close(response.file.fd)
    stream = response.stream
    if stream is None:
        return response.body
    if isinstance(stream, AsyncIterator):
        return b"".join([_item_bytes(item) async for item in stream])
    return b"".join(_item_bytes(item) for item in stream)


class InProcessNode:
    """One embedded node and its fronts; ``call`` answers one request.

    ``storage`` is ``posix`` (objects in files under ``root``) or ``memory`` (the in-memory twin).
    """

    STORAGES = ("posix", "memory")

    def __init__(
        self,
        root: Path,
        storage: str = "posix",
        *,
        config: dict[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        role: Role | None = None,
        node_id: str = "inproc",
        port: int = 0,
        members: list[NodeInfo] | None = None,
        meta_dir: Path | None = None,
    ) -> None:
        """``role``, ``node_id``, ``port``, ``members`` and ``meta_dir`` (shared) make it one node of an
        in-process cluster (``inprocess_cluster``); by default it is an embedded node of its own."""
        if storage not in self.STORAGES:
            raise ValueError(f"unknown storage {storage!r} (expected one of {self.STORAGES})")
        self.storage = storage
        self.memory = MemoryStore() if storage == "memory" else None
        data = root / "data"
        (data / "meta").mkdir(parents=True, exist_ok=True)
        config_path = None
        if config is not None:
            config_path = root / "config.json"
            config_path.write_text(json.dumps(config))
        if members is None:
            members = embedded_members(node_id, "127.0.0.1", port, 0)
        self.node = Node(
            node_id=node_id,
            host="127.0.0.1",
            port=port,
            meta=LocalMetaStore(
                str(meta_dir or data / "meta"),
                None if config_path is None else str(config_path),
                members=members,
            ),
            mountpaths=Mountpaths([str(data / "mp")]),
            data_dir=str(data),
            clock=clock,
            role=role or EmbeddedRole(),
            store=self.memory,
        )
        self.app = NodeApp(self.node)

    def close(self) -> None:
        """Release the files the node holds open (tests run with ResourceWarning as an error)."""
        self.node.close()

    def corrupt(self, bck: BucketRef, object_name: str, offset: int, data: bytes) -> None:
        """Change an object's stored bytes under its metadata (bit rot), whichever the storage."""
        if self.memory is not None:
            self.memory.overwrite_in_place(bck, object_name, offset, data)
            return
        with open(self.node.store.location(bck, object_name), "r+b") as f:
            f.seek(offset)
            f.write(data)

    def call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        request = Request(
            method, path, query, {k.lower(): v for k, v in (headers or {}).items()}, "127.0.0.1"
        )
        request.headers.setdefault("content-length", str(len(body)))
        return asyncio.run(self._answer(request, body))

    async def _answer(self, request: Request, body: bytes) -> Answer:
        """As the server does it, on an event loop: begin, feed, finish (awaited), the body read out."""
        try:
            exchange = self.app.begin(request)
            if body:
                exchange.feed(body)
            result = exchange.finish()
            response = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            response = self.app.error_response(request, exc)
        return Answer(response, await _body_of(response))
