"""Pins the public surface of ``strata.config``: changing it is a decision, not an accident."""

from __future__ import annotations

import strata.config

EXPECTED = {
    "ACCESS_ALL", "ACCESS_NONE", "ACCESS_RO", "ACCESS_RW", "CHECKSUM_TYPES", "BackendBucket", "BucketProps",
    "BucketPropsError", "ClusterConfig", "ConfigError", "S3Conf", "bucket_id", "bucket_props_from_json",
    "bucket_props_to_json", "cluster_config_from_json", "cluster_config_to_json", "default_cluster_config",
    "format_duration", "format_size_iec", "load_cluster_config", "local_config_json", "new_bucket_props",
    "normalize_provider", "parse_access", "parse_duration", "parse_size_iec", "reset_bucket_props",
    "update_bucket_props", "update_cluster_config", "validate_cluster_config",
}  # fmt: skip


def test_public_surface_is_pinned() -> None:
    assert set(strata.config.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(strata.config, name), name
