"""The ``auto`` codec choice: compress, or store as is because the bytes are already compressed.

Only the start of the object is known when the choice is made (a streaming PUT), so the decision is a
guess from a sample, as in s4 (§1.1): a known compressed-format magic number, or a sample whose
Shannon entropy is at least 7.5 bits/byte, means "pass through".

Where this does better than s4's dispatcher:
- A wrong guess cannot cost space: the encoder stores a frame that does not shrink as zstd raw blocks
  (+0.003%), so "compress" on incompressible data only costs CPU. s4's weakness (4 KiB of zeros before
  compressed data defeats passthrough) therefore costs no bytes here.
- A magic number is trusted when the bytes after the header look compressed at a lower bar (6.0
  bits/byte) than plain high entropy needs: JPEG/MP4 headers carry low-entropy metadata (EXIF, box
  tables) that keeps the whole-sample entropy under 7.5, while text that happens to start with a magic
  (a log line beginning ``BZh``) stays near 4-5 bits/byte and is still compressed.
- The entropy bar follows the sample's length: a plug-in estimate over n bytes falls short of the
  true entropy by about 255 / (2 n ln 2) bits (Miller-Madow), so 7.5 bits/byte cannot be reached by
  random data under ~200 B and s4's rule never fires on short objects. The bar is lowered by that bias
  (7.455 at 4 KiB, 6.06 at 128 B; English text or base64 stay below it).
- Formats s4 does not list are recognised too (GIF, lz4, RAR, Ogg, FLAC, MP3, JPEG 2000, AVI); Parquet
  and ORC are left to entropy, as in s4.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Literal

SAMPLE_SIZE = 4096  # bytes of the object's start to look at
MIN_ENTROPY_SAMPLE = 128  # below this, entropy says nothing: use the codec
MIN_MAGIC_SAMPLE = 48  # below this, a magic number alone is not trusted
ENTROPY_THRESHOLD = 7.5  # bits/byte: random-looking, compression will not help
MAGIC_ENTROPY_THRESHOLD = 6.0  # bits/byte after the first 16 bytes, for a sample with a known magic

Codec = Literal["zstd", "none"]

# (name, offset, magic): formats whose body is already compressed
MAGICS: tuple[tuple[str, int, bytes], ...] = (
    ("gzip", 0, b"\x1f\x8b"),
    ("zstd", 0, b"\x28\xb5\x2f\xfd"),
    ("png", 0, b"\x89PNG\r\n\x1a\n"),
    ("jpeg", 0, b"\xff\xd8\xff"),
    ("gif", 0, b"GIF87a"),
    ("gif", 0, b"GIF89a"),
    ("zip", 0, b"PK\x03\x04"),
    ("7z", 0, b"7z\xbc\xaf\x27\x1c"),
    ("xz", 0, b"\xfd7zXZ\x00"),
    ("bzip2", 0, b"BZh"),
    ("lz4", 0, b"\x04\x22\x4d\x18"),
    ("rar", 0, b"Rar!\x1a\x07"),
    ("pdf", 0, b"%PDF-"),
    ("mp4", 4, b"ftyp"),
    ("webm", 0, b"\x1a\x45\xdf\xa3"),
    ("ogg", 0, b"OggS"),
    ("flac", 0, b"fLaC"),
    ("mp3", 0, b"ID3"),
    ("jpeg2000", 0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"),
)
_RIFF_COMPRESSED = (b"WEBP", b"AVI ")  # RIFF containers with a compressed payload (WAV is not)


@dataclass(frozen=True)
class Decision:
    """The codec to store an object with, and why (for logs and the passed-through metric)."""

    codec: Codec
    reason: str


def shannon_entropy(data: bytes | bytearray | memoryview) -> float:
    """Bits per byte of ``data`` over the 256 byte values (0.0 for empty input)."""
    total = len(data)
    if not total:
        return 0.0
    return -sum(count / total * math.log2(count / total) for count in Counter(bytes(data)).values())


def entropy_threshold(sample_length: int) -> float:
    """The bits/byte a sample of this length must reach to count as random (see the module docstring)."""
    return ENTROPY_THRESHOLD - 255 / (2 * sample_length * math.log(2))


def known_format(sample: bytes | bytearray | memoryview) -> str | None:
    """The compressed format whose magic number ``sample`` starts with, if any."""
    head = bytes(sample[:16])
    for name, offset, magic in MAGICS:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_COMPRESSED:
        return head[8:12].decode().strip().lower()
    return None


def choose_codec(sample: bytes | bytearray | memoryview, codec: str = "auto") -> Decision:
    """Pick the codec for an object whose first bytes are ``sample`` (at most ``SAMPLE_SIZE`` are used).

    ``codec`` is the bucket's setting: ``zstd`` and ``none`` are taken as they are; ``auto`` decides.
    """
    if codec == "zstd":
        return Decision("zstd", "configured")
    if codec == "none":
        return Decision("none", "configured")
    if codec != "auto":
        raise ValueError(f'codec must be "auto", "zstd" or "none", not {codec!r}')
    sample = bytes(sample[:SAMPLE_SIZE])
    name = known_format(sample)
    if name and len(sample) > MIN_MAGIC_SAMPLE and shannon_entropy(sample[16:]) >= MAGIC_ENTROPY_THRESHOLD:
        return Decision("none", f"already compressed ({name})")
    if len(sample) < MIN_ENTROPY_SAMPLE:
        return Decision("zstd", "sample too short to judge")
    entropy = shannon_entropy(sample)
    if entropy >= entropy_threshold(len(sample)):
        return Decision("none", f"high entropy ({entropy:.2f} bits/byte)")
    return Decision("zstd", f"compressible ({entropy:.2f} bits/byte)")
