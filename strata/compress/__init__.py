"""Compression at rest: the stored form of a compressed object and the choice to compress at all.

A pure library (imports only ``strata.core``); the object service decides when to use it.

- ``frames``: the stored form. An object is cut into frames (1 MiB for objects up to 1 MiB, 4 MiB up
  to 100 MiB or of unknown size, 16 MiB above; or a configured size), each compressed as an
  independent zstd frame that records its size and carries zstd's content checksum, followed by a seek
  table in a zstd *skippable* frame::

      [zstd frame 0][zstd frame 1]...[zstd frame N-1][skippable frame: N x (stored, original) + footer]

  This is the Zstandard seekable format (zstd's ``contrib/seekable_format``). Why that format:
  the seek table lives inside the object (no sidecar to lose or keep in step, no extra HEAD/GET per
  range read); a range read decodes only the frames it touches; and the file is plain zstd, so
  ``zstd -d`` (or any zstd library) restores the original bytes without Strata: nothing is locked in.
  ``FrameEncoder`` streams in bounded memory (one frame of input buffered); ``StoredReader`` reads
  the seek table once and decodes frames on demand, counting them. Incompressible frames cost only
  zstd's raw-block headers (about 0.002%), so stored bytes never exceed ``stored_bound``.
- ``detect``: the ``auto`` codec: pass already-compressed data (known magic numbers, high entropy)
  through unchanged, compress the rest.
"""

from strata.compress.detect import SAMPLE_SIZE, Decision, choose_codec, known_format, shannon_entropy
from strata.compress.frames import (
    DEFAULT_LEVEL,
    EncodeStats,
    FrameEncoder,
    ReadAt,
    SeekTable,
    StoredReader,
    encode,
    encode_stream,
    frame_size_for,
    read_at_fd,
    stored_bound,
)

__all__ = [
    "DEFAULT_LEVEL",
    "SAMPLE_SIZE",
    "Decision",
    "EncodeStats",
    "FrameEncoder",
    "ReadAt",
    "SeekTable",
    "StoredReader",
    "choose_codec",
    "encode",
    "encode_stream",
    "frame_size_for",
    "known_format",
    "read_at_fd",
    "shannon_entropy",
    "stored_bound",
]
