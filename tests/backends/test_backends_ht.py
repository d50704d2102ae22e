"""The ht backend against a local HTTP origin (``http.server``): objects under ``extra.http.original_url``,
ranges from origins that honour ``Range`` and from ones that ignore it, an origin without HEAD, refusals
and missing files, and the read-only operations answered 405 at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from strata.backends import BackendSettings, HttpSettings, backend_for
from strata.backends.ht import HttpBackend
from strata.core.errors import (
    BackendUnreachable,
    BucketNotFound,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    ObjectNotFound,
    RangeNotSatisfiable,
)
from tests.integration.server import free_port

from .conftest import FAST
from .emulators import HttpOrigin

pytestmark = pytest.mark.timeout(60)

DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4


@pytest.fixture(scope="module")
def files(http_origin: HttpOrigin) -> Path:
    for directory in ("plain", "ranged", "nohead", "private"):
        (http_origin.root / directory).mkdir(exist_ok=True)
        (http_origin.root / directory / "obj.bin").write_bytes(DATA)
    (http_origin.root / "plain" / "with space.txt").write_text("spaced")
    return http_origin.root


def backend_at(origin: HttpOrigin, directory: str) -> HttpBackend:
    settings = BackendSettings(
        http=HttpSettings(original_url=f"{origin.endpoint}/{directory}/"), transport=FAST
    )
    backend = backend_for("ht", settings)
    assert isinstance(backend, HttpBackend)
    return backend


@pytest.mark.parametrize("directory", ["plain", "ranged"])
def test_head_and_get(http_origin: HttpOrigin, files: Path, directory: str) -> None:
    backend = backend_at(http_origin, directory)
    head = backend.head("origin", "obj.bin")
    assert head.size == len(DATA)
    mtime = (files / directory / "obj.bin").stat().st_mtime
    assert abs(head.last_modified_ns / 1e9 - mtime) < 2
    assert head.cold_get_metadata("ht")["source"] == "ht"
    assert backend.get("origin", "obj.bin").read_all() == DATA


@pytest.mark.parametrize("directory", ["plain", "ranged"])
@pytest.mark.parametrize(
    ("offset", "length"), [(0, 1), (1000, 70_000), (len(DATA) - 10, None), (5, len(DATA))]
)
def test_ranges_whether_or_not_the_origin_honours_them(
    http_origin: HttpOrigin, files: Path, directory: str, offset: int, length: int | None
) -> None:
    """``plain`` ignores Range (200 + everything): the range is cut out while streaming."""
    backend = backend_at(http_origin, directory)
    expected = DATA[offset : None if length is None else offset + length]
    with backend.get("origin", "obj.bin", offset, length) as reader:
        assert reader.info.size == len(DATA)
        assert reader.length == len(expected)
        assert b"".join(reader) == expected


@pytest.mark.parametrize("directory", ["plain", "ranged"])
def test_range_past_the_end_is_416(http_origin: HttpOrigin, files: Path, directory: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        backend_at(http_origin, directory).get("origin", "obj.bin", len(DATA) + 5, 10)
    assert caught.value.size == len(DATA)


def test_names_are_joined_to_the_original_url_or_used_as_urls(http_origin: HttpOrigin, files: Path) -> None:
    backend = backend_at(http_origin, "plain")
    assert backend.get("origin", "with space.txt").read_all() == b"spaced"
    absolute = f"{http_origin.endpoint}/ranged/obj.bin"
    assert backend.head("origin", absolute).size == len(DATA)


def test_an_origin_without_head_is_asked_with_a_one_byte_get(http_origin: HttpOrigin, files: Path) -> None:
    assert backend_at(http_origin, "nohead").head("origin", "obj.bin").size == len(DATA)


def test_refusals_and_missing_files(http_origin: HttpOrigin, files: Path) -> None:
    with pytest.raises(Forbidden) as refused:
        backend_at(http_origin, "private").get("origin", "obj.bin")
    assert refused.value.status == 403
    with pytest.raises(ObjectNotFound) as missing:
        backend_at(http_origin, "plain").head("origin", "nothing.bin")
    assert "ht://origin/nothing.bin" in missing.value.message


def test_read_only_operations_are_405(http_origin: HttpOrigin, files: Path) -> None:
    backend = backend_at(http_origin, "plain")
    for call in (
        lambda: backend.put("origin", "new", b"x", 1),
        lambda: backend.delete("origin", "obj.bin"),
        lambda: backend.list_page("origin"),
        lambda: backend.create_multipart("origin", "new"),
    ):
        with pytest.raises(MethodNotAllowed) as caught:
            call()
        assert caught.value.status == 405
    assert (files / "plain" / "obj.bin").read_bytes() == DATA


def test_buckets(http_origin: HttpOrigin, files: Path) -> None:
    assert backend_at(http_origin, "plain").head_bucket("origin").props["original_url"].endswith("/plain/")
    with pytest.raises(BucketNotFound):
        backend_at(http_origin, "no-such-dir").head_bucket("origin")
    assert backend_at(http_origin, "plain").list_buckets() == []


def test_no_original_url_is_400() -> None:
    backend = backend_for("ht", BackendSettings(transport=FAST))
    with pytest.raises(InvalidRequest, match="original_url"):
        backend.head("origin", "obj.bin")


def test_unreachable_origin_is_424_fast() -> None:
    settings = BackendSettings(
        http=HttpSettings(original_url=f"http://127.0.0.1:{free_port()}/"), transport=FAST
    )
    started = time.monotonic()
    with pytest.raises(BackendUnreachable) as caught:
        backend_for("ht", settings).get("origin", "obj.bin")
    assert caught.value.status == 424 and time.monotonic() - started < 5
