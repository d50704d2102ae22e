"""Config sections that a bucket inherits: they live both in the cluster config and in bucket props.

AIStore uses the very same Go types in both places (``cmn.CksumConf``, ``cmn.MirrorConf``...), so a
bucket created from the cluster config is a field-by-field copy, and one validator per section serves
both. Defaults here are AIStore's code defaults (cmn/config.go), which is what a new ``ais://`` bucket
shows under an untouched cluster config.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from . import _rules as rules
from ._codec import Duration, SizeExact, SizeIEC, SizeOrAuto, Wire
from .units import GiB, KiB, MiB, TiB, format_size_exact

CHECKSUM_TYPES = ("none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512")
COMPRESSION_CHOICES = ("never", "always")
WRITE_POLICIES = ("immediate", "delayed", "never")
COMPRESSION_CODECS = ("auto", "zstd", "none")
COMPRESSION_LEVELS = (1, 19)  # zstd's regular levels; 20-22 ("ultra") need windows too large per frame
COMPRESSION_FRAME_SIZES = (64 * KiB, 64 * MiB)  # a frame is the unit a range read decodes whole
COMPRESSION_MIN_SIZES = (0, GiB)  # objects below min_size are stored as they are; 0 = compress all

OmitZeroInt = Annotated[int, Wire.OMIT_ZERO]
OmitZeroSize = Annotated[int, Wire.SIZE, Wire.OMIT_ZERO]
OmitEmptyStr = Annotated[str, Wire.OMIT_ZERO]


class ChecksumConf(msgspec.Struct, frozen=True, kw_only=True):
    type: str = "xxhash2"
    validate_cold_get: bool = False
    validate_warm_get: bool = False
    validate_obj_move: bool = False
    enable_read_range: bool = False


class VersioningConf(msgspec.Struct, frozen=True, kw_only=True):
    # True as in AIStore's dev deployment template; the bare code default would be False.
    enabled: bool = True
    validate_warm_get: bool = False
    synchronize: bool = False


class MirrorConf(msgspec.Struct, frozen=True, kw_only=True):
    copies: int = 2
    burst_buffer: int = 512
    enabled: bool = False


class ErasureCodingConf(msgspec.Struct, frozen=True, kw_only=True):
    compression: str = "never"
    bundle_multiplier: int = 2
    burst_buffer: int = 512
    objsize_limit: int = 262144  # bytes, a plain number on the wire; -1 = always replicate
    data_slices: int = 2
    parity_slices: int = 2
    enabled: bool = False
    disk_only: bool = False


class ChunksConf(msgspec.Struct, frozen=True, kw_only=True):
    objsize_limit: SizeIEC = 0  # 0 = never chunk on PUT
    max_monolithic_size: OmitZeroSize = TiB
    chunk_size: OmitZeroSize = GiB
    checkpoint_every: OmitZeroInt = 0
    flags: OmitZeroInt = 0


class LRUConf(msgspec.Struct, frozen=True, kw_only=True):
    dont_evict_time: Duration = 2 * 3600.0
    capacity_upd_time: Duration = 600.0
    batch_size: OmitZeroInt = 32768
    enabled: bool = False


class WritePolicyConf(msgspec.Struct, frozen=True, kw_only=True):
    data: str = "immediate"
    md: str = "immediate"


class CompressionConf(msgspec.Struct, frozen=True, kw_only=True):
    """Compression at rest (Strata's own; not an AIStore section). Settings only: changing them never
    rewrites stored objects, it applies to what is written afterwards.

    ``codec``: ``auto`` (zstd, passing already-compressed data through), ``zstd`` or ``none``.
    ``level``: zstd level in [1, 19]. ``frame_size``: bytes per independent frame, ``auto`` (``0`` on
    input; sized by the object: 1MiB up to 1MiB, 4MiB up to 100MiB, 16MiB above) or a size in
    [64KiB, 64MiB]. ``min_size``: objects smaller than this are stored uncompressed, in [0, 1GiB].
    Sizes are exact on the wire (``"4MiB"``, ``"5000B"``) and may also be given as a number of bytes.
    """

    enabled: bool = False
    codec: str = "auto"
    level: int = 3
    frame_size: SizeOrAuto = 0  # 0 = auto
    min_size: SizeExact = 4 * KiB


class RateLimitBackendConf(msgspec.Struct, frozen=True, kw_only=True):
    """Adaptive limiting of calls to a cloud backend (retries on its 429/503)."""

    per_op_max_tokens: OmitEmptyStr = ""
    interval: Duration = 60.0
    max_tokens: int = 1000
    enabled: bool = False
    num_retries: int = 3


class RateLimitFrontendConf(msgspec.Struct, frozen=True, kw_only=True):
    """Bursty token-bucket limiting of client requests (answers 429)."""

    per_op_max_tokens: OmitEmptyStr = ""
    interval: Duration = 60.0
    max_tokens: int = 1000
    enabled: bool = False
    burst_size: int = 375


class RateLimitConf(msgspec.Struct, frozen=True, kw_only=True):
    backend: RateLimitBackendConf = msgspec.field(default_factory=RateLimitBackendConf)
    frontend: RateLimitFrontendConf = msgspec.field(default_factory=RateLimitFrontendConf)


# --- normalization (AIStore fills some zeros in when it validates) -----------------------------------


def normalize_chunks(conf: ChunksConf) -> ChunksConf:
    changes: dict[str, int] = {}
    if conf.max_monolithic_size == 0:
        changes["max_monolithic_size"] = TiB
    if conf.chunk_size == 0:
        changes["chunk_size"] = GiB
    return msgspec.structs.replace(conf, **changes) if changes else conf


def normalize_write_policy(conf: WritePolicyConf) -> WritePolicyConf:
    return WritePolicyConf(data=conf.data or "immediate", md=conf.md or "immediate")


# --- validation: each raises rules.Violation naming the dotted key -----------------------------------


def validate_checksum(conf: ChecksumConf, key: str = "checksum") -> None:
    rules.one_of(f"{key}.type", conf.type, CHECKSUM_TYPES)


def validate_versioning(conf: VersioningConf, key: str = "versioning") -> None:
    if conf.validate_warm_get and not conf.enabled:
        raise rules.Violation(f"{key}.validate_warm_get requires {key}.enabled")


def validate_mirror(conf: MirrorConf, key: str = "mirror") -> None:
    rules.int_range(f"{key}.copies", conf.copies, 2, 32)
    rules.int_range(f"{key}.burst_buffer", conf.burst_buffer, 0)


def validate_xact_knobs(compression: str, bundle_multiplier: int, key: str) -> None:
    """The stream knobs every data-moving job section carries."""
    rules.one_of(f"{key}.compression", compression, COMPRESSION_CHOICES)
    rules.int_range(f"{key}.bundle_multiplier", bundle_multiplier, 1, 16)


def validate_erasure_coding(conf: ErasureCodingConf, key: str = "ec") -> None:
    validate_xact_knobs(conf.compression, conf.bundle_multiplier, key)
    rules.int_range(f"{key}.burst_buffer", conf.burst_buffer, 32, 10000)
    rules.int_range(f"{key}.objsize_limit", conf.objsize_limit, -1)
    rules.int_range(f"{key}.data_slices", conf.data_slices, 1, 32)
    rules.int_range(f"{key}.parity_slices", conf.parity_slices, 1, 32)


def validate_chunks(conf: ChunksConf, key: str = "chunks") -> None:
    rules.size_range(f"{key}.max_monolithic_size", conf.max_monolithic_size, GiB, TiB)
    rules.size_range(f"{key}.chunk_size", conf.chunk_size, KiB, 5 * GiB)
    rules.size_range(f"{key}.objsize_limit", conf.objsize_limit, 0)
    rules.not_greater(
        f"{key}.objsize_limit",
        conf.objsize_limit,
        f"{key}.max_monolithic_size",
        conf.max_monolithic_size,
        rules.show_size,
    )
    rules.int_range(f"{key}.checkpoint_every", conf.checkpoint_every, 0, 1024)
    rules.int_range(f"{key}.flags", conf.flags, 0)


def validate_lru(conf: LRUConf, key: str = "lru") -> None:
    rules.duration_range(f"{key}.dont_evict_time", conf.dont_evict_time, 3600.0)
    rules.duration_range(f"{key}.capacity_upd_time", conf.capacity_upd_time, 10.0)
    rules.int_range(f"{key}.batch_size", conf.batch_size, 0)


def validate_write_policy(conf: WritePolicyConf, key: str = "write_policy") -> None:
    rules.one_of(f"{key}.data", conf.data, ("immediate",))
    rules.one_of(f"{key}.md", conf.md, WRITE_POLICIES)


def validate_rate_limit(conf: RateLimitConf, key: str = "rate_limit") -> None:
    backend, frontend = conf.backend, conf.frontend
    rules.duration_range(f"{key}.backend.interval", backend.interval, 1.0, 3600.0)
    rules.int_range(f"{key}.backend.max_tokens", backend.max_tokens, 1)
    rules.int_range(f"{key}.backend.num_retries", backend.num_retries, 1, 10)
    rules.duration_range(f"{key}.frontend.interval", frontend.interval, 1.0, 3600.0)
    rules.int_range(f"{key}.frontend.max_tokens", frontend.max_tokens, 1)
    rules.int_range(f"{key}.frontend.burst_size", frontend.burst_size, 0)
    if frontend.burst_size * 2 > frontend.max_tokens:
        raise rules.Violation(
            f"{key}.frontend.burst_size ({frontend.burst_size}) must not exceed 50% of "
            f"{key}.frontend.max_tokens ({frontend.max_tokens})"
        )


__all__ = [
    "CHECKSUM_TYPES",
    "ChecksumConf",
    "ChunksConf",
    "ErasureCodingConf",
    "LRUConf",
    "MirrorConf",
    "RateLimitBackendConf",
    "RateLimitConf",
    "RateLimitFrontendConf",
    "VersioningConf",
    "WritePolicyConf",
]


def validate_compression(conf: CompressionConf, key: str = "compression") -> None:
    rules.one_of(f"{key}.codec", conf.codec, COMPRESSION_CODECS)
    rules.int_range(f"{key}.level", conf.level, *COMPRESSION_LEVELS)
    if conf.frame_size != 0:  # 0 = auto
        low, high = COMPRESSION_FRAME_SIZES
        if not low <= conf.frame_size <= high:
            raise rules.Violation(
                f'{key}.frame_size ({format_size_exact(conf.frame_size)}) must be "auto" or in '
                f"[{rules.show_size(low)}, {rules.show_size(high)}]"
            )
    low, high = COMPRESSION_MIN_SIZES
    if not low <= conf.min_size <= high:
        raise rules.Violation(
            f"{key}.min_size ({format_size_exact(conf.min_size)}) must be in "
            f"[{rules.show_size(low)}, {rules.show_size(high)}]"
        )
