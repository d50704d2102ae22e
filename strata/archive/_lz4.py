"""A typed face for ``lz4.frame``, which ships no type information."""

from __future__ import annotations

from typing import Protocol, cast

import lz4.frame  # type: ignore[import-untyped]


class FrameCompressor(Protocol):
    def begin(self) -> bytes: ...
    def compress(self, data: bytes | memoryview) -> bytes: ...
    def flush(self) -> bytes: ...


class FrameDecompressor(Protocol):
    eof: bool
    needs_input: bool
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def new_compressor() -> FrameCompressor:
    """Level 0 (lz4's fast default), linked 64 KiB blocks, content checksum on: the lz4 CLI's defaults."""
    return cast(FrameCompressor, lz4.frame.LZ4FrameCompressor(content_checksum=True))


def new_decompressor() -> FrameDecompressor:
    return cast(FrameDecompressor, lz4.frame.LZ4FrameDecompressor())


FRAME_MAGIC = b"\x04\x22\x4d\x18"
