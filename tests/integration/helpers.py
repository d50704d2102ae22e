"""Helpers shared by the integration tests: an SDK client that fails fast, raw HTTP calls, patterns."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import tarfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import tenacity
from aistore.sdk import Client
from aistore.sdk.errors import AISError
from aistore.sdk.retry_config import RetryConfig
from urllib3.util.retry import Retry

# A read timeout long enough for a 20 MiB body on a busy 2-core box, short enough to catch a hang.
CLIENT_TIMEOUT = (3.0, 30.0)


def fast_client(endpoint: str) -> Client:
    """The official SDK client, with its retries turned off.

    The default retry policy re-sends on 429/5xx for ~90 s and retries some errors (including
    ErrObjNotFound) with backoff: against a wrong server that turns a clear failure into a slow one.
    Here every answer reaches the test as it came.
    """
    retry = RetryConfig(
        http_retry=Retry(total=0, connect=0, read=0, redirect=5, status=0, status_forcelist=[]),
        network_retry=tenacity.Retrying(stop=tenacity.stop_after_attempt(1), reraise=True),
    )
    return Client(endpoint, retry_config=retry, timeout=CLIENT_TIMEOUT)


def metric(endpoint: str, name: str) -> int:
    """A counter of a node's Prometheus ``/metrics`` (``ais_target_<name>``), summed over its workers."""
    text = requests.get(f"{endpoint}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f"ais_target_{name}{{"):
            return int(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def raw(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One request on a fresh session (a new TCP connection), the way a new client would send it."""
    kwargs.setdefault("timeout", CLIENT_TIMEOUT)
    with requests.Session() as session:
        return session.request(method, url, **kwargs)


def raw_exact(
    endpoint: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send ``path`` byte for byte (no dot-segment normalisation, no re-quoting) on a new connection."""
    host, port = endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=CLIENT_TIMEOUT[1])
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if body is not None:
            all_headers["Content-Length"] = str(len(body))
        for key, value in all_headers.items():
            conn.putheader(key, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def act(action: str, value: Any = None, name: str = "") -> dict[str, Any]:
    """An ActMsg body, with the three keys the SDK always sends."""
    return {"action": action, "name": name, "value": value}


def bucket_props(endpoint: str, bucket: str) -> dict[str, Any]:
    """HEAD the bucket on a fresh connection and decode ``Ais-Bucket-Props``."""
    resp = raw("HEAD", f"{endpoint}/v1/buckets/{bucket}", params={"provider": "ais"})
    assert resp.status_code == 200, f"HEAD bucket {bucket}: {resp.status_code} {resp.headers}"
    props: dict[str, Any] = json.loads(resp.headers["Ais-Bucket-Props"])
    return props


def error_json(resp: requests.Response) -> dict[str, Any]:
    """The AIS error body of a failed non-HEAD request."""
    try:
        body: dict[str, Any] = resp.json()
    except ValueError as err:
        raise AssertionError(f"error body is not JSON: {resp.status_code} {resp.text[:300]!r}") from err
    return body


def pattern(name: str, size: int) -> bytes:
    """Content derivable from the name alone: a repeated digest of the name, cut to ``size``."""
    seed = hashlib.sha256(name.encode()).digest()
    reps = size // len(seed) + 1
    return (seed * reps)[:size]


@contextmanager
def timed(limit_s: float, what: str) -> Iterator[None]:
    """Fail if the body takes longer than ``limit_s`` seconds."""
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    assert elapsed < limit_s, f"{what} took {elapsed:.2f}s (limit {limit_s}s)"


def assert_head_404(target: Any) -> None:
    """HEAD of a missing object or bucket answers 404.

    HEAD answers have no body and the SDK does not read ``Hdr-Error``, so it raises a plain ``AISError``
    (not ErrObjNotFound/ErrBckNotFound) — that is the SDK's behaviour against AIStore too.
    """
    with pytest.raises(AISError) as info:
        target.head()
    assert info.value.status_code == 404, info.value


def make_tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    """A tar archive of ``files`` (name -> bytes) in memory; ``mode`` "w:gz" compresses it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    """A zip archive of ``files`` (name -> bytes) in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
