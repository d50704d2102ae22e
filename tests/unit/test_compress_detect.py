"""The ``auto`` codec choice: already-compressed and random data pass through; text and logs compress."""

from __future__ import annotations

import gzip
import io
import lzma
import os
import zipfile

import pytest
import pyzstd

from strata.compress import choose_codec, known_format, shannon_entropy
from strata.compress.detect import entropy_threshold

TEXT = b"".join(b"2026-03-12T10:%02d:00Z INFO request id=%d path=/api/v1/objects status=200\n" % (i % 60, i)
                for i in range(200))


def _zip() -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", os.urandom(3000).hex())
    return sink.getvalue()


@pytest.mark.parametrize(
    ("sample", "name"),
    [
        (gzip.compress(os.urandom(4096)), "gzip"),
        (pyzstd.compress(os.urandom(4096)), "zstd"),
        (lzma.compress(os.urandom(4096)), "xz"),
        (b"\x89PNG\r\n\x1a\n" + os.urandom(4096), "png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 200 + os.urandom(4096), "jpeg"),  # a low-entropy header first
        (b"\0\0\0\x20ftypisom" + os.urandom(4096), "mp4"),
        (b"GIF89a" + os.urandom(4096), "gif"),
        (b"RIFF\0\0\0\0WEBPVP8 " + os.urandom(4096), "webp"),
        (b"BZh91AY&SY" + os.urandom(4096), "bzip2"),
        (b"7z\xbc\xaf\x27\x1c" + os.urandom(4096), "7z"),
        (_zip(), "zip"),
    ],
)
def test_already_compressed_formats_pass_through(sample: bytes, name: str) -> None:
    assert known_format(sample) == name
    decision = choose_codec(sample)
    assert decision.codec == "none", decision


def test_a_magic_on_text_is_not_trusted() -> None:
    """A log that starts with "BZh" (s4's example) or a short sample: compress anyway."""
    assert choose_codec(b"BZh" + TEXT).codec == "zstd"
    assert choose_codec(b"\x1f\x8b short").codec == "zstd"


@pytest.mark.parametrize("size", [128, 200, 1000, 4096, 1 << 20])
def test_random_bytes_pass_through_even_in_short_samples(size: int) -> None:
    """s4's fixed 7.5-bit bar cannot be reached by a 128 B sample; the length-aware bar can."""
    decision = choose_codec(os.urandom(size))
    assert decision.codec == "none", decision


@pytest.mark.parametrize(
    "sample",
    [TEXT, TEXT[:128], b"\0" * 4096, os.urandom(2000).hex().encode(), b'{"key": "value"}' * 300, b"tiny"],
)
def test_compressible_data_is_compressed(sample: bytes) -> None:
    decision = choose_codec(sample)
    assert decision.codec == "zstd", decision


def test_configured_codecs_are_taken_as_they_are() -> None:
    assert choose_codec(os.urandom(4096), "zstd").codec == "zstd"
    assert choose_codec(TEXT, "none").codec == "none"
    with pytest.raises(ValueError):
        choose_codec(TEXT, "gzip")


def test_entropy() -> None:
    assert shannon_entropy(b"") == 0.0
    assert shannon_entropy(b"aaaa") == 0.0
    assert shannon_entropy(bytes(range(256))) == pytest.approx(8.0)
    assert entropy_threshold(4096) == pytest.approx(7.455, abs=0.001)
