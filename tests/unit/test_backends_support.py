"""The parts of ``strata.backends`` that need no remote: bodies, dates and metadata, settings from bucket
props, the registry (aliases, caching, forks), and the 424 errors the SDK does not retry."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aistore.sdk.retry_config import RetryConfig

from strata.backends import (
    AisSettings,
    BackendSettings,
    HttpSettings,
    RemoteObject,
    Transport,
    backend_for,
    close_backends,
    normalize_backend_provider,
)
from strata.backends.bodies import iter_body, open_body, read_whole
from strata.backends.interface import ns_from_datetime, ns_from_http_date, rfc1123, rfc3339
from strata.core.errors import (
    BackendUnreachable,
    FailedDependency,
    InvalidRequest,
    NotImplementedYet,
    StrataError,
)


def chunks(*parts: bytes) -> list[bytes]:
    return list(parts)


@pytest.mark.parametrize(
    "body",
    [b"0123456789", bytearray(b"0123456789"), memoryview(b"0123456789"), chunks(b"0123", b"", b"456789")],
)
def test_every_body_shape_gives_exactly_its_bytes(body: object) -> None:
    assert b"".join(iter_body(body, 10, chunk_size=3)) == b"0123456789"  # type: ignore[arg-type]
    assert read_whole(body, 10) == b"0123456789"  # type: ignore[arg-type]


def test_a_file_body_is_read_from_its_position() -> None:
    file = io.BytesIO(b"skip-0123456789")
    file.seek(5)
    assert b"".join(iter_body(file, 10, chunk_size=4)) == b"0123456789"


def test_short_and_long_bodies_are_400() -> None:
    with pytest.raises(InvalidRequest, match="ended after 4 of 10"):
        b"".join(iter_body(chunks(b"0123"), 10))
    with pytest.raises(InvalidRequest, match="longer than"):
        b"".join(iter_body(chunks(b"0123", b"45"), 4))
    with pytest.raises(InvalidRequest, match="longer than"):
        b"".join(iter_body(io.BytesIO(b"0123456"), 4))
    # the check for extra bytes comes before the last chunk, so a reader that stops at the size meets it
    body = iter_body(chunks(b"01", b"23", b"extra"), 4)
    assert next(body) == b"01"
    with pytest.raises(InvalidRequest, match="longer than"):
        next(body)


def test_open_body_reads_exact_sizes_and_tells_its_position() -> None:
    reader = open_body(chunks(b"abc", b"defgh", b"ij"), 10)
    assert reader.tell() == 0
    assert reader.read(4) == b"abcd"
    assert reader.tell() == 4
    assert reader.read(6) == b"efghij"
    assert reader.read(1) == b""
    with pytest.raises(io.UnsupportedOperation):
        reader.seek(0)


def test_dates_are_exact_to_the_microsecond() -> None:
    moment = datetime(2026, 12, 1, 17, 41, 43, 123456, tzinfo=UTC)
    ns = ns_from_datetime(moment)
    assert ns == 1796146903123456000
    assert ns_from_datetime(moment.replace(tzinfo=None)) == ns  # naive datetimes are UTC
    assert ns_from_datetime(moment.astimezone(timezone(timedelta(hours=2)))) == ns
    assert ns_from_datetime(None) == 0
    assert rfc3339(ns) == "2026-12-01T17:41:43.123456Z"
    assert rfc3339(ns - 123456000) == "2026-12-01T17:41:43Z"
    assert rfc1123(ns) == "Tue, 01 Dec 2026 17:41:43 GMT"
    assert ns_from_http_date("Tue, 01 Dec 2026 17:41:43 GMT") == ns - 123456000
    assert ns_from_http_date("not a date") == 0
    assert ns_from_http_date(None) == 0


def test_cold_get_metadata_keys() -> None:
    found = RemoteObject(
        "o", 3, etag="abc", version="7", last_modified_ns=1796146903000000000, custom={"user": "x"}, md5="m"
    ).cold_get_metadata("aws")
    assert found == {
        "user": "x",
        "source": "aws",
        "version": "7",
        "ETag": "abc",
        "md5": "m",
        "LastModified": "2026-12-01T17:41:43Z",
        "Last-Modified": "Tue, 01 Dec 2026 17:41:43 GMT",
    }
    assert RemoteObject("o", 0).cold_get_metadata("ht") == {"source": "ht"}


def test_settings_from_bucket_extra_props() -> None:
    extra = {
        "aws": {
            "cloud_region": "eu-west-1",
            "endpoint": "http://s3.local",
            "profile": "p",
            "multipart_size": "8MiB",
        },
        "gcp": {"application_creds": "/creds.json"},
        "http": {"original_url": "http://h/dir/"},
        "oci": {},
    }
    settings = BackendSettings.from_extra(extra)
    assert (settings.aws.region, settings.aws.endpoint, settings.aws.profile) == (
        "eu-west-1",
        "http://s3.local",
        "p",
    )
    assert settings.aws.multipart_size == 8 * 1024 * 1024
    assert settings.gcp.application_creds == "/creds.json"
    assert settings.http.original_url == "http://h/dir/"
    assert BackendSettings.from_extra({"aws": {"multipart_size": -1}}).aws.multipart_size == -1
    assert BackendSettings.from_extra({}) == BackendSettings()
    hash(settings)  # the registry's cache key


def test_provider_names() -> None:
    names = ("s3", "aws", "gs", "gcp", "az", "azure", "ht", "ais")
    normalized = ["aws", "aws", "gcp", "gcp", "azure", "azure", "ht", "ais"]
    assert [normalize_backend_provider(name) for name in names] == normalized
    with pytest.raises(NotImplementedYet) as oci:
        normalize_backend_provider("oci")
    assert oci.value.status == 501
    with pytest.raises(InvalidRequest):
        normalize_backend_provider("ftp")


def test_registry_shares_backends_per_settings() -> None:
    plain = BackendSettings(http=HttpSettings(original_url="http://127.0.0.1:1/a/"))
    try:
        first = backend_for("ht", plain)
        assert (
            backend_for("ht", BackendSettings(http=HttpSettings(original_url="http://127.0.0.1:1/a/")))
            is first
        )
        # settings of other providers do not split the cache; its own section and the transport do
        assert (
            backend_for("ht", BackendSettings(http=plain.http, ais=AisSettings(alias="x", urls=("u",))))
            is first
        )
        assert (
            backend_for("ht", BackendSettings(http=plain.http, transport=Transport(read_timeout=1)))
            is not first
        )
        close_backends()
        assert backend_for("ht", plain) is not first
    finally:
        close_backends()


def test_a_forked_child_builds_its_own_clients() -> None:
    settings = BackendSettings(http=HttpSettings(original_url="http://127.0.0.1:1/a/"))
    backend = backend_for("ht", settings)
    parent_pool = backend._pool.get()  # type: ignore[attr-defined]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave at once (no pytest teardown in here)
        try:
            fresh = backend_for("ht", settings) is not backend
            own_pool = backend._pool.get() is not parent_pool  # type: ignore[attr-defined]
            os.write(write_end, b"ok" if fresh and own_pool else b"shared")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        answer = os.read(read_end, 16)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    close_backends()
    assert answer == b"ok"


def test_backend_errors_are_424_which_the_sdk_does_not_retry() -> None:
    unreachable = BackendUnreachable("aws", "http://s3.local", "connection refused")
    assert isinstance(unreachable, FailedDependency) and isinstance(unreachable, StrataError)
    assert unreachable.status == FailedDependency.status == 424
    assert "http://s3.local" in unreachable.message
    assert 424 not in RetryConfig.default().http_retry.status_forcelist
