"""Feature flags (AIStore cmn/feat/feat.go): a uint64 where bit N is the N-th name of ``feat.Cluster``.

The cluster config carries all of them; a bucket carries only the bucket-scope bits, and a bucket
created from the cluster config gets the cluster's flags with every other bit cleared. Only the names
Strata needs to reason about are spelled out here; the others are still accepted as numbers.
"""

from __future__ import annotations

NUM_FEATURES = 28  # 0 = Enforce-IntraCluster-Access ... 27 = S3-Redirect-Rebuild
ALL_FEATURES = (1 << NUM_FEATURES) - 1

FEATURE_NAMES = {
    0: "Enforce-IntraCluster-Access",
    1: "Skip-Loading-VersionChecksum-MD",
    4: "Fsync-PUT",
    9: "S3-Presigned-Request",
    11: "Disable-Cold-GET",
    12: "Streaming-Cold-GET",
    14: "S3-Use-Path-Style",
    18: "S3-ListObjectVersions",
    21: "Resume-Interrupted-MPU",
    24: "Count-Object-NotFound-Stats",
    27: "S3-Redirect-Rebuild",
}

FEATURE_ENFORCE_INTRA_CLUSTER_ACCESS = 1 << 0
FEATURE_SKIP_LOADING_VERSION_CHECKSUM_MD = 1 << 1
FEATURE_FSYNC_PUT = 1 << 4
FEATURE_S3_PRESIGNED_REQUEST = 1 << 9
FEATURE_DISABLE_COLD_GET = 1 << 11
FEATURE_STREAMING_COLD_GET = 1 << 12
FEATURE_S3_USE_PATH_STYLE = 1 << 14
FEATURE_S3_LIST_OBJECT_VERSIONS = 1 << 18
FEATURE_RESUME_INTERRUPTED_MPU = 1 << 21
FEATURE_COUNT_OBJECT_NOT_FOUND_STATS = 1 << 24
FEATURE_S3_REDIRECT_REBUILD = 1 << 27

BUCKET_FEATURES = (
    FEATURE_SKIP_LOADING_VERSION_CHECKSUM_MD
    | FEATURE_FSYNC_PUT
    | FEATURE_S3_PRESIGNED_REQUEST
    | FEATURE_DISABLE_COLD_GET
    | FEATURE_STREAMING_COLD_GET
    | FEATURE_S3_USE_PATH_STYLE
    | FEATURE_S3_LIST_OBJECT_VERSIONS
    | FEATURE_RESUME_INTERRUPTED_MPU
    | FEATURE_COUNT_OBJECT_NOT_FOUND_STATS
)


def feature_name(bit: int) -> str:
    return FEATURE_NAMES.get(bit, f"feature-bit-{bit}")


def describe_features(flags: int) -> str:
    """``"Fsync-PUT,Disable-Cold-GET"`` for error messages."""
    return ",".join(feature_name(bit) for bit in range(64) if flags >> bit & 1)


def check_features(flags: int, key: str, *, bucket_scope: bool) -> str | None:
    """The reason ``flags`` is invalid, or None. Bucket props may only carry bucket-scope bits."""
    if not 0 <= flags <= ALL_FEATURES:
        return f"{key} ({flags}) sets bits beyond the {NUM_FEATURES} known features"
    if bucket_scope and flags & ~BUCKET_FEATURES:
        names = describe_features(flags & ~BUCKET_FEATURES)
        return f"{key}: {names} cannot be set on a bucket (cluster-only)"
    exclusive = FEATURE_DISABLE_COLD_GET | FEATURE_STREAMING_COLD_GET
    if flags & exclusive == exclusive:
        return f"{key}: Disable-Cold-GET and Streaming-Cold-GET are mutually exclusive"
    return None
