"""The client side of the compression benchmarks: raw HTTP/1.1 from ``http.client``, nothing in between.

A PUT streams the file with ``socket.sendfile`` after the request head (no Python per byte, no copy in
user space); a GET reads into one reused buffer and drops it. So the client costs about what ``zstd``
reading a file and writing to /dev/null costs, and the ratio against the ``zstd`` anchors is about
the server. Bucket props, ``/metrics`` and the stored files are read the ways the tests read them.
"""

from __future__ import annotations

import bisect
import hashlib
import http.client
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

_BUFFER = 1 << 20
_TIMEOUT = 900.0


class BenchError(RuntimeError):
    """The server answered something a benchmark cannot go on from (wrong status, wrong bytes)."""


def object_path(bucket: str, name: str) -> str:
    return f"/v1/objects/{bucket}/{quote(name)}?provider=ais"


def connect(base: str) -> http.client.HTTPConnection:
    host, _, port = base.removeprefix("http://").rstrip("/").partition(":")
    return http.client.HTTPConnection(host, int(port), timeout=_TIMEOUT, blocksize=_BUFFER)


def _answer(conn: http.client.HTTPConnection, what: str, ok: tuple[int, ...] = (200, 201)) -> bytes:
    resp = conn.getresponse()
    body = resp.read()
    if resp.status not in ok:
        raise BenchError(f"{what}: HTTP {resp.status}: {body[:300]!r}")
    return body


def request(base: str, method: str, path: str, body: Any = None) -> bytes:
    """One JSON (or empty) request on a fresh connection; the answer's body."""
    conn = connect(base)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        return _answer(conn, f"{method} {path}")
    finally:
        conn.close()


def create_bucket(base: str, bucket: str, compression: dict[str, Any] | None = None) -> None:
    """An ais:// bucket; ``compression`` set through ``set-bprops`` as the SDK sends it."""
    request(
        base,
        "POST",
        f"/v1/buckets/{bucket}?provider=ais",
        {"action": "create-bck", "name": "", "value": None},
    )
    if compression is not None:
        set_compression(base, bucket, compression)


def set_compression(base: str, bucket: str, compression: dict[str, Any]) -> None:
    value = {"compression": compression}
    request(base, "PATCH", f"/v1/buckets/{bucket}?provider=ais", {"action": "set-bprops", "value": value})


def bucket_compression(base: str, bucket: str) -> dict[str, Any]:
    conn = connect(base)
    try:
        conn.request("HEAD", f"/v1/buckets/{bucket}?provider=ais")
        resp = conn.getresponse()
        resp.read()
        props: dict[str, Any] = json.loads(resp.getheader("Ais-Bucket-Props") or "{}")
        return dict(props.get("compression") or {})
    finally:
        conn.close()


def put_file(base: str, bucket: str, name: str, path: Path, repeat: int = 1) -> float:
    """PUT the file's bytes (``repeat`` times over, as one object); seconds from the first byte of the
    request to the end of the answer."""
    size = path.stat().st_size
    conn = connect(base)
    try:
        started = time.perf_counter()
        conn.putrequest("PUT", object_path(bucket, name), skip_accept_encoding=True)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size * repeat))
        conn.endheaders()
        assert conn.sock is not None
        for _ in range(repeat):
            with path.open("rb") as f:
                conn.sock.sendfile(f)
        _answer(conn, f"PUT {bucket}/{name}")
        return time.perf_counter() - started
    finally:
        conn.close()


def get_discard(base: str, bucket: str, name: str, expect: int, digest: bool = False) -> tuple[float, str]:
    """GET the whole object into a reused buffer; (seconds, SHA-256 if ``digest`` else "")."""
    conn = connect(base)
    buffer = bytearray(_BUFFER)
    view = memoryview(buffer)
    hasher = hashlib.sha256() if digest else None
    try:
        started = time.perf_counter()
        conn.request("GET", object_path(bucket, name))
        resp = conn.getresponse()
        if resp.status != 200:
            raise BenchError(f"GET {bucket}/{name}: HTTP {resp.status}: {resp.read()[:300]!r}")
        received = 0
        while n := resp.readinto(buffer):
            received += n
            if hasher is not None:
                hasher.update(view[:n])
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    if received != expect:
        raise BenchError(f"GET {bucket}/{name}: {received:,} B, want {expect:,}")
    return seconds, hasher.hexdigest() if hasher is not None else ""


class RangeReader:
    """Range GETs over one keep-alive connection, each timed from request to its last byte."""

    def __init__(self, base: str, bucket: str, name: str) -> None:
        self.conn = connect(base)
        self.path = object_path(bucket, name)

    def read(self, offset: int, length: int) -> tuple[float, bytes]:
        started = time.perf_counter()
        self.conn.request("GET", self.path, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
        resp = self.conn.getresponse()
        body = resp.read()
        seconds = time.perf_counter() - started
        if resp.status != 206 or len(body) != length:
            raise BenchError(f"range GET {self.path} @{offset}: HTTP {resp.status}, {len(body)} B")
        return seconds, body

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------------------------------------
# what the server reports and what it stored

# the frames-decoded counter under the names it has had or may have
FRAMES_DECODED = ("ais_target_frames_decoded_count", "strata_frames_decoded_total")
COMPRESSED_PUTS = ("ais_target_compressed_put_count",)
PASSTHROUGH_PUTS = ("ais_target_passthrough_put_count",)


def metrics(base: str) -> dict[str, float]:
    """Every sample of ``/metrics``, summed over label sets, by metric name."""
    text = request(base, "GET", "/metrics").decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_and_labels, _, value = line.rpartition(" ")
        name = name_and_labels.split("{", 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


def counter(sample: dict[str, float], names: tuple[str, ...]) -> tuple[str, float] | None:
    """The first of ``names`` the server exports, with its value."""
    for name in names:
        if name in sample:
            return name, sample[name]
    return None


def ledger(base: str, bucket: str) -> dict[str, Any] | None:
    """The savings ledger's entry for a bucket (``GET /v1/cluster?what=savings``), None if not served."""
    try:
        answer = json.loads(request(base, "GET", f"/v1/cluster?what=savings&bck={bucket}&provider=ais"))
    except BenchError:
        return None
    for entry in answer.get("buckets", []):
        if str(entry.get("bucket", "")).removeprefix("ais://") == bucket:
            return dict(entry)
    return None


def object_file(data_dir: Path, bucket: str, name: str) -> Path:
    """The file Strata keeps an object's stored bytes in: ``<mountpath>/@ais/<bucket>/%ob/<name>``."""
    for root, dirs, _files in os.walk(data_dir):
        if root.endswith(f"/@ais/{bucket}") and "%ob" in dirs:
            candidate = Path(root) / "%ob" / name
            if candidate.is_file():
                return candidate
    raise BenchError(f"no stored file for ais://{bucket}/{name} under {data_dir}")


def stored_size(data_dir: Path, bucket: str, name: str) -> int:
    return object_file(data_dir, bucket, name).stat().st_size


@dataclass(frozen=True)
class Frames:
    """The frame boundaries of a stored object, from its seek table (None: stored as it is)."""

    original_offsets: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.original_offsets) - 1

    def touched(self, offset: int, length: int) -> int:
        """Frames holding original bytes ``[offset, offset + length)``: the least a read can decode."""
        if length <= 0:
            return 0
        first = bisect.bisect_right(self.original_offsets, offset) - 1
        last = bisect.bisect_right(self.original_offsets, offset + length - 1) - 1
        return last - first + 1


def stored_frames(path: Path) -> Frames | None:
    """The seek table of a stored file (Strata's own reader of it), or None if it has none."""
    from strata.compress.frames import SeekTable, read_at_fd
    from strata.core.errors import ObjectCorrupted

    fd = os.open(path, os.O_RDONLY)
    try:
        table = SeekTable.read(read_at_fd(fd), os.fstat(fd).st_size)
    except ObjectCorrupted:
        return None
    finally:
        os.close(fd)
    return Frames(table.original_offsets)
