"""Strata's cluster config and bucket props, in AIStore's shapes and with AIStore's rules.

- ``units``: Go durations (``"2h0m"``) and IEC sizes (``"256KiB"``) as AIStore prints them.
- ``cluster``: ``ClusterConfig`` -- defaults, loading a (partial) JSON file, set-config, the wire JSON.
- ``bucket_props``: ``BucketProps`` -- inheritance from the cluster config, set/reset-bprops, the
  ``Ais-Bucket-Props`` JSON.
- ``access`` / ``features``: the bit sets both of them carry.

Values are natural Python inside (seconds, bytes, ints) and AIStore-encoded only at the edges; every
bad input raises an ``InvalidRequest`` subclass (HTTP 400) naming the key and the rule.
"""

from ._cluster_sections import S3Conf
from .access import (
    ACCESS_ALL,
    ACCESS_NONE,
    ACCESS_RO,
    ACCESS_RW,
    parse_access,
)
from .bucket_props import (
    CHECKSUM_TYPES,
    BackendBucket,
    BucketProps,
    BucketPropsError,
    bucket_id,
    bucket_props_from_json,
    bucket_props_to_json,
    new_bucket_props,
    normalize_provider,
    reset_bucket_props,
    update_bucket_props,
)
from .cluster import (
    ClusterConfig,
    ConfigError,
    cluster_config_from_json,
    cluster_config_to_json,
    default_cluster_config,
    load_cluster_config,
    local_config_json,
    update_cluster_config,
    validate_cluster_config,
)
from .units import format_duration, format_size_iec, parse_duration, parse_size_iec

__all__ = [
    "ACCESS_ALL",
    "ACCESS_NONE",
    "ACCESS_RO",
    "ACCESS_RW",
    "CHECKSUM_TYPES",
    "BackendBucket",
    "BucketProps",
    "BucketPropsError",
    "ClusterConfig",
    "ConfigError",
    "S3Conf",
    "bucket_id",
    "bucket_props_from_json",
    "bucket_props_to_json",
    "cluster_config_from_json",
    "cluster_config_to_json",
    "default_cluster_config",
    "format_duration",
    "format_size_iec",
    "load_cluster_config",
    "local_config_json",
    "new_bucket_props",
    "normalize_provider",
    "parse_access",
    "parse_duration",
    "parse_size_iec",
    "reset_bucket_props",
    "update_bucket_props",
    "update_cluster_config",
    "validate_cluster_config",
]
