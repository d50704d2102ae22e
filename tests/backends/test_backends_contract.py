"""The backend contract, held against every writable provider on its real emulator (``remote``):
aws on moto, gcp on gcp-storage-emulator, azure on azurite, ais on a second ``strata serve``.

What the object service will rely on: a PUT's facts match a later HEAD, bytes come back whole and by
range, custom metadata round-trips, an object written by someone else is seen, listings page with
continuation tokens, errors say 404/403/424 the way the SDK classifies them, and a dead endpoint fails
in seconds.
"""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from strata.backends import RemoteReader, backend_for
from strata.core.errors import (
    BackendUnreachable,
    BucketNotFound,
    InvalidRequest,
    NotImplementedYet,
    ObjectNotFound,
    RangeNotSatisfiable,
)
from tests.integration.server import free_port

from .conftest import Remote
from .emulators import SilentPort

pytestmark = pytest.mark.timeout(120)

MiB = 1024 * 1024


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes whose every 1 MiB block differs, so a misplaced range shows."""
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    return b"".join(bytes([index % 251]) + block[1:] for index in range(-(-size // MiB)))[:size]


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_put_head_get_round_trip(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    data = pattern(3 * MiB + 17)
    stored = backend.put(bucket, "dir/obj one", data, len(data), {"origin": "test", "k2": "v,2"}, "text/csv")
    assert stored.size == len(data)
    assert stored.custom == {"origin": "test", "k2": "v,2"}

    head = backend.head(bucket, "dir/obj one")
    assert head.size == len(data)
    assert head.etag and head.etag == stored.etag
    assert head.custom == {"origin": "test", "k2": "v,2"}
    assert head.last_modified_ns > time.time_ns() - 3600 * 10**9
    metadata = head.cold_get_metadata(remote.provider)
    assert metadata["source"] == remote.provider and metadata["origin"] == "test"
    assert metadata["ETag"] == head.etag
    assert datetime.fromisoformat(metadata["LastModified"]).timestamp() == pytest.approx(
        head.last_modified_ns / 1e9, abs=1
    )

    with backend.get(bucket, "dir/obj one") as reader:
        assert reader.info.size == len(data) and reader.length == len(data)
        assert reader.info.etag == head.etag
        assert b"".join(reader) == data


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 1), (MiB - 3, 10), (2 * MiB, None), (3 * MiB + 16, 1), (5, 3 * MiB + 12), (100, 10 * MiB)],
)
def test_range_reads(remote: Remote, offset: int, length: int | None) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    data = pattern(3 * MiB + 17, seed=1)
    backend.put(bucket, "obj", data, len(data))
    expected = data[offset : None if length is None else offset + length]
    with backend.get(bucket, "obj", offset, length) as reader:
        assert reader.info.size == len(data)  # the whole object's size, whatever the range
        assert reader.offset == offset and reader.length == len(expected)
        assert b"".join(reader) == expected


def test_range_past_the_end_is_416_with_the_size(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    backend.put(bucket, "small", b"0123456789", 10)
    with pytest.raises(RangeNotSatisfiable) as caught:
        backend.get(bucket, "small", 10, 5)
    assert caught.value.status == 416 and caught.value.size == 10


def test_streamed_put_and_get_of_a_large_body_in_bounded_memory(remote: Remote) -> None:
    """48 MiB from a generator: multipart (aws), resumable (gcp), blocks (azure), one stream (ais); then
    read back. Neither direction may hold the body: the peak of Python allocations stays under half of
    it (a part, a window or a client's transient buffers are at most ~20 MiB)."""
    backend, bucket = remote.backend, remote.new_bucket()
    size = 48 * MiB + 5
    data = pattern(size, seed=2)
    digest = hashlib.sha256(data).hexdigest()
    tracing_already = tracemalloc.is_tracing()  # PYTHONTRACEMALLOC=n runs trace from the start
    if not tracing_already:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        stored = backend.put(bucket, "big", chunks_of(data, MiB), size)
        put_peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        reader = backend.get(bucket, "big")
        hasher, biggest = hashlib.sha256(), 0
        with reader:
            for chunk in reader:
                hasher.update(chunk)
                biggest = max(biggest, len(chunk))
        get_peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing_already:
            tracemalloc.stop()
    assert stored.size == size and backend.head(bucket, "big").size == size
    assert hasher.hexdigest() == digest
    assert biggest <= 8 * MiB
    assert put_peak < size // 2, f"put held {put_peak / MiB:.1f} MiB"
    assert get_peak < size // 2, f"get held {get_peak / MiB:.1f} MiB"


def test_put_takes_bytes_a_file_or_chunks_and_refuses_a_wrong_size(remote: Remote, tmp_path: Path) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    data = pattern(100_000, seed=3)
    path = tmp_path / "body"
    path.write_bytes(data)
    with path.open("rb") as file:
        backend.put(bucket, "from-file", file, len(data))
    backend.put(bucket, "from-bytes", memoryview(data), len(data))
    backend.put(bucket, "empty", b"", 0)
    for key in ("from-file", "from-bytes"):
        assert backend.get(bucket, key).read_all() == data
    assert backend.head(bucket, "empty").size == 0
    assert backend.get(bucket, "empty").read_all() == b""
    with pytest.raises(InvalidRequest, match="ended after"):
        backend.put(bucket, "short", chunks_of(data[:1000], 100), 2000)
    with pytest.raises(InvalidRequest, match="longer than"):
        backend.put(bucket, "long", chunks_of(data[:1000], 100), 500)


def test_an_object_written_by_another_client_is_seen(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    remote.write(bucket, "elsewhere/x.bin", b"written out of band", {"who": "provider-client"})
    head = backend.head(bucket, "elsewhere/x.bin")
    assert head.size == 19 and head.custom == {"who": "provider-client"}
    assert backend.get(bucket, "elsewhere/x.bin", 8, 3).read_all() == b"out"
    names = [entry.name for entry in backend.list_page(bucket).entries]
    assert names == ["elsewhere/x.bin"]


def test_early_close_returns_the_connection_for_the_next_call(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    data = pattern(12 * MiB, seed=4)
    backend.put(bucket, "big", data, len(data))
    for _ in range(3):
        reader: RemoteReader = backend.get(bucket, "big")
        first = next(iter(reader))
        reader.close()
        reader.close()  # twice is harmless
        assert data.startswith(first)
    assert backend.get(bucket, "big", len(data) - 4).read_all() == data[-4:]


def test_listing_pages_with_continuation(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    # "p-", not "p/": moto's signature check refuses a "/" in a query value (real S3 does not)
    inside = [f"p-{index:02d}" for index in range(7)]
    for index, name in enumerate([*inside, "q/0", "o"]):
        backend.put(bucket, name, b"x" * index, index)
    pages, token, seen = 0, "", []
    while True:
        page = backend.list_page(bucket, prefix="p-", token=token, page_size=3)
        pages += 1
        if remote.paginates:
            assert len(page.entries) <= 3
        seen += page.entries
        token = page.next_token
        if not token:
            break
        assert pages < 10, "the continuation token does not advance"
    assert [entry.name for entry in seen] == inside
    assert [entry.size for entry in seen] == list(range(7))
    assert all(entry.last_modified_ns >= 0 for entry in seen)
    if remote.paginates:
        assert pages == 3
    everything = backend.list_page(bucket)
    assert [entry.name for entry in everything.entries] == sorted([*inside, "q/0", "o"])
    assert everything.next_token == ""


def test_set_custom_replaces_the_user_metadata_and_keeps_the_bytes(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    data = pattern(MiB + 5)
    backend.put(bucket, "tagged", data, len(data), {"keep": "no", "team": "a"}, "text/plain")
    changed = backend.set_custom(bucket, "tagged", {"team": "b", "stage": "train"})
    assert changed.custom == {"team": "b", "stage": "train"} and changed.size == len(data)
    head = backend.head(bucket, "tagged")
    assert head.custom == {"team": "b", "stage": "train"}
    with backend.get(bucket, "tagged") as reader:
        assert b"".join(reader) == data
    with pytest.raises(ObjectNotFound):
        backend.set_custom(bucket, "missing", {"a": "b"})


def test_delete(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    backend.put(bucket, "gone", b"abc", 3)
    backend.delete(bucket, "gone")
    with pytest.raises(ObjectNotFound):
        backend.head(bucket, "gone")
    if remote.delete_missing_is_error:
        with pytest.raises(ObjectNotFound):
            backend.delete(bucket, "gone")
    else:
        backend.delete(bucket, "gone")  # S3: deleting a missing key succeeds


def test_missing_bucket_and_object_are_404_named_for_the_sdk(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    missing = f"nobucket-{os.getpid()}"
    bucket_uri, object_uri = backend.bucket_uri(missing), backend.object_uri(bucket, "no/such")
    calls = {
        "head object, missing bucket": (lambda: backend.head(missing, "x"), BucketNotFound),
        "get object, missing bucket": (lambda: backend.get(missing, "x"), BucketNotFound),
        "list, missing bucket": (lambda: backend.list_page(missing), BucketNotFound),
        "head bucket, missing bucket": (lambda: backend.head_bucket(missing), BucketNotFound),
        "put, missing bucket": (lambda: backend.put(missing, "x", b"1", 1), BucketNotFound),
        "head, missing object": (lambda: backend.head(bucket, "no/such"), ObjectNotFound),
        "get, missing object": (lambda: backend.get(bucket, "no/such"), ObjectNotFound),
    }
    for what, (call, expected) in calls.items():
        with pytest.raises(expected) as caught:
            call()
        assert caught.value.status == 404, what
        uri = bucket_uri if expected is BucketNotFound else object_uri
        assert uri in caught.value.message, f"{what}: {caught.value.message}"


def test_buckets(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    found = backend.head_bucket(bucket)
    assert found.name == bucket and found.versioning in (True, False)
    assert bucket in backend.list_buckets()


def test_multipart_api(remote: Remote) -> None:
    backend, bucket = remote.backend, remote.new_bucket()
    if not backend.supports_multipart:
        with pytest.raises(NotImplementedYet):
            backend.create_multipart(bucket, "mp")
        return
    first, second = pattern(5 * MiB, seed=5), b"tail bytes"
    upload = backend.create_multipart(bucket, "mp", {"kind": "multipart"})
    etags = [
        backend.upload_part(bucket, "mp", upload, 1, chunks_of(first, MiB), len(first)),
        backend.upload_part(bucket, "mp", upload, 2, second, len(second)),
    ]
    stored = backend.complete_multipart(bucket, "mp", upload, list(zip([1, 2], etags, strict=True)))
    assert stored.size == len(first) + len(second)
    assert stored.custom == {"kind": "multipart"}
    assert backend.get(bucket, "mp").read_all() == first + second

    aborted = backend.create_multipart(bucket, "never")
    backend.upload_part(bucket, "never", aborted, 1, b"abc", 3)
    backend.abort_multipart(bucket, "never", aborted)
    with pytest.raises(ObjectNotFound):
        backend.head(bucket, "never")


def test_unreachable_endpoint_fails_fast_with_424(remote: Remote) -> None:
    """Nobody listens: connection refused, a couple of quick retries, then 424 (no SDK retries it)."""
    dead = f"http://127.0.0.1:{free_port()}"
    backend = backend_for(remote.provider, remote.at_endpoint(dead))
    for call in (lambda: backend.head("bucket", "x"), lambda: backend.list_page("bucket")):
        started = time.monotonic()
        with pytest.raises(BackendUnreachable) as caught:
            call()
        assert caught.value.status == 424
        assert time.monotonic() - started < 8.0
        assert str(dead.rsplit(":", 1)[1]) in caught.value.message


def test_silent_endpoint_times_out_with_424(remote: Remote) -> None:
    """Connected, but never a byte back: the read timeout ends it, not a hang."""
    silent = SilentPort()
    try:
        settings = remote.at_endpoint(silent.endpoint)
        settings = replace(settings, transport=replace(settings.transport, read_timeout=1.0))
        backend = backend_for(remote.provider, settings)
        started = time.monotonic()
        with pytest.raises(BackendUnreachable):
            backend.head("bucket", "x")
        assert time.monotonic() - started < 10.0
    finally:
        backend.close()
        silent.close()


def test_the_registry_shares_one_backend_per_settings(remote: Remote) -> None:
    assert backend_for(remote.provider, remote.settings) is remote.backend
    alias = {"aws": "s3", "gcp": "gs", "azure": "az", "ais": "ais"}[remote.provider]
    assert backend_for(alias, remote.settings) is remote.backend
