"""Small, fast HTTP clients for setting up benchmarks: a keep-alive asyncio PUT loader and the
AIStore REST calls the benchmarks need (create bucket, list objects page by page).

The loader speaks raw HTTP/1.1 over a few keep-alive connections: a Python client built on a
framework would be the bottleneck long before the server is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import msgspec
import requests

try:  # uvloop makes the loader roughly twice as fast; plain asyncio works too
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadResult:
    objects: int
    bytes: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.objects / self.seconds if self.seconds else 0.0


def object_path(bucket: str, name: str) -> str:
    return f"/v1/objects/{bucket}/{quote(name)}?provider=ais"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, rest = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    chunked = False
    for line in rest.split(b"\r\n"):
        key, _, value = line.partition(b":")
        k = key.strip().lower()
        if k == b"content-length":
            length = int(value.strip())
        elif k == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, bytes(body)
            body += await reader.readexactly(size + 2)
            del body[-2:]
    return status, (await reader.readexactly(length)) if length else b""


async def _put_worker(
    host: str, port: int, bucket: str, names: Iterator[str], body_for: Callable[[str], bytes],
    counts: list[int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    hostname = f"{host}:{port}".encode()
    try:
        for name in names:
            body = body_for(name)
            head = (
                b"PUT " + object_path(bucket, name).encode() + b" HTTP/1.1\r\nHost: " + hostname
                + b"\r\nContent-Type: application/octet-stream\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n"
            )  # fmt: skip
            writer.write(head + body)
            status, resp = await _read_response(reader)
            if status not in (200, 201, 204):
                raise LoadError(f"PUT {bucket}/{name}: HTTP {status}: {resp[:300]!r}")
            counts[0] += 1
            counts[1] += len(body)
    finally:
        writer.close()


def put_objects(
    base_url: str,
    bucket: str,
    names: list[str],
    body_for: Callable[[str], bytes],
    connections: int = 64,
    progress_every: float = 0.0,
) -> LoadResult:
    """PUT every name (body from `body_for`) over `connections` keep-alive connections."""
    hostport = base_url.removeprefix("http://").rstrip("/")
    host, _, port = hostport.partition(":")
    counts = [0, 0]

    async def main() -> None:
        it = iter(names)
        workers = [
            asyncio.ensure_future(_put_worker(host, int(port), bucket, it, body_for, counts))
            for _ in range(max(1, min(connections, len(names))))
        ]
        reporter = None
        if progress_every > 0:

            async def report() -> None:
                t0 = time.monotonic()
                while True:
                    await asyncio.sleep(progress_every)
                    dt = time.monotonic() - t0
                    done = counts[0]
                    print(f"    ... {done:,}/{len(names):,} objects, {done / dt:,.0f}/s", flush=True)

            reporter = asyncio.ensure_future(report())
        try:
            await asyncio.gather(*workers)
        finally:
            if reporter is not None:
                reporter.cancel()
            for w in workers:
                w.cancel()

    t0 = time.perf_counter()
    if uvloop is not None:
        uvloop.run(main())
    else:
        asyncio.run(main())
    seconds = time.perf_counter() - t0
    return LoadResult(objects=counts[0], bytes=counts[1], seconds=seconds)


def create_bucket(base_url: str, bucket: str) -> None:
    r = requests.post(
        f"{base_url}/v1/buckets/{bucket}",
        params={"provider": "ais"},
        json={"action": "create-bck", "name": "", "value": None},
        timeout=60,
    )
    if r.status_code not in (200, 409):
        raise LoadError(f"create bucket {bucket}: HTTP {r.status_code}: {r.text[:300]}")


class ListPage(msgspec.Struct, rename={"uuid": "UUID", "token": "ContinuationToken", "entries": "Entries"}):
    uuid: str = ""
    token: str = ""
    entries: list[dict[str, object]] | None = None


@dataclass(frozen=True)
class ListResult:
    entries: int
    total_size: int
    pages: int
    seconds: float
    first_page_seconds: float

    @property
    def per_second(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


def list_all_raw(base_url: str, bucket: str, pagesize: int = 10000, props: str = "name,size") -> ListResult:
    """Every entry of the bucket through raw msgpack paging (what the SDK does, minus its objects)."""
    decoder = msgspec.msgpack.Decoder(ListPage)
    session = requests.Session()
    uuid, token = "", ""
    entries = total = pages = 0
    first = 0.0
    t0 = time.perf_counter()
    while True:
        msg = {
            "action": "list", "name": "",
            "value": {"prefix": "", "pagesize": pagesize, "uuid": uuid, "continuation_token": token,
                      "flags": "0", "props": props},
        }  # fmt: skip
        r = session.get(
            f"{base_url}/v1/buckets/{bucket}",
            params={"provider": "ais"},
            data=msgspec.json.encode(msg),
            headers={"Accept": "application/msgpack", "Content-Type": "application/json"},
            timeout=600,
        )
        if r.status_code != 200:
            raise LoadError(f"list {bucket}: HTTP {r.status_code}: {r.text[:300]}")
        page = decoder.decode(r.content)
        pages += 1
        if pages == 1:
            first = time.perf_counter() - t0
        for e in page.entries or ():
            entries += 1
            s = e.get("s", 0)
            total += s if isinstance(s, int) else 0
        if not page.uuid:
            raise LoadError("list answered an empty UUID (the SDK would loop forever)")
        uuid, token = page.uuid, page.token
        if not token:
            break
    return ListResult(entries, total, pages, time.perf_counter() - t0, first)


def list_all_sdk(base_url: str, bucket: str, pagesize: int = 10000) -> ListResult:
    """Every entry through the official SDK's iterator (names + sizes)."""
    from aistore.sdk import Client

    client = Client(base_url)
    entries = total = 0
    t0 = time.perf_counter()
    first = 0.0
    for obj in client.bucket(bucket).list_objects_iter(props="name,size", page_size=pagesize):
        if entries == 0:
            first = time.perf_counter() - t0
        entries += 1
        total += obj.size or 0
    seconds = time.perf_counter() - t0
    return ListResult(entries, total, -1, seconds, first)
