"""The cluster config: defaults from the spec, the wire JSON, loading, set-config and every range rule."""

# The rule tables below read best one rule per line, even when a line runs long.
# ruff: noqa: E501

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from strata.config import (
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
from strata.core.errors import InvalidRequest

SECTIONS = [
    "backend", "mirror", "ec", "chunks", "log", "periodic", "timeout", "client", "proxy", "space", "lru",
    "disk", "rebalance", "resilver", "checksum", "versioning", "net", "fshc", "auth", "keepalivetracker",
    "downloader", "transport", "memsys", "tcb", "tco", "arch", "lso", "rate_limit", "get_batch",
    "write_policy", "features", "lastupdate_time", "uuid", "config_version",
]  # fmt: skip

# dotted key -> wire value, straight from the spec's table (section 3).
SPEC_DEFAULTS: dict[str, Any] = {
    "mirror.copies": 2, "mirror.burst_buffer": 512, "mirror.enabled": False,
    "ec.compression": "never", "ec.bundle_multiplier": 2, "ec.burst_buffer": 512, "ec.objsize_limit": 262144,
    "ec.data_slices": 2, "ec.parity_slices": 2, "ec.enabled": False, "ec.disk_only": False,
    "chunks.objsize_limit": "0B", "chunks.max_monolithic_size": "1TiB", "chunks.chunk_size": "1GiB",
    "log.level": "3", "log.max_size": "64MiB", "log.max_total": "512MiB", "log.flush_time": "1m",
    "log.stats_time": "3m", "log.to_stderr": False,
    "periodic.stats_time": "10s", "periodic.retry_sync_time": "2s", "periodic.notif_time": "30s",
    "timeout.cplane_operation": "2s", "timeout.max_keepalive": "5s", "timeout.max_host_busy": "20s",
    "timeout.startup_time": "1m", "timeout.join_startup_time": "3m", "timeout.send_file_time": "5m",
    "timeout.ec_streams_time": "10m", "timeout.object_md": "2h0m", "timeout.cold_get_conflict": "5s",
    "client.client_timeout": "10s", "client.client_long_timeout": "5m", "client.list_timeout": "5m",
    "space.cleanupwm": 65, "space.lowwm": 75, "space.highwm": 90, "space.out_of_space": 95,
    "space.batch_size": 32768, "space.dont_cleanup_time": "30m",
    "lru.dont_evict_time": "2h0m", "lru.capacity_upd_time": "10m", "lru.batch_size": 32768, "lru.enabled": False,
    "disk.disk_util_low_wm": 20, "disk.disk_util_high_wm": 80, "disk.disk_util_max_wm": 95,
    "disk.iostat_time_long": "2s", "disk.iostat_time_short": "100ms", "disk.iostat_time_smooth": "8s",
    "rebalance.bundle_multiplier": 2, "rebalance.burst_buffer": 1024, "rebalance.dest_retry_time": "2m",
    "rebalance.enabled": True,
    "versioning.enabled": True,
    "checksum.type": "xxhash2", "checksum.validate_cold_get": False, "checksum.validate_warm_get": False,
    "checksum.validate_obj_move": False, "checksum.enable_read_range": False,
    "transport.max_header": 4096, "transport.burst_buffer": 1024, "transport.idle_teardown": "4s",
    "transport.quiescent": "10s", "transport.lz4_block": "256KiB",
    "memsys.min_free": "2GiB", "memsys.default_buf": "32KiB", "memsys.to_gc": "4GiB", "memsys.hk_time": "3m",
    "tcb.compression": "never", "tcb.bundle_multiplier": 2, "tcb.burst_buffer": 512,
    "tco.bundle_multiplier": 2, "arch.burst_buffer": 512,
    "lso.bundle_multiplier": 1, "lso.burst_buffer": 32, "lso.walk_buffer": 128, "lso.idle_time": "20s",
    "lso.quiescent": "5s",
    "write_policy.data": "immediate", "write_policy.md": "immediate", "features": "0",
    "auth.client_auth_required": False,
    "keepalivetracker.proxy.name": "heartbeat", "keepalivetracker.proxy.interval": "10s",
    "keepalivetracker.proxy.factor": 3, "keepalivetracker.target.interval": "10s",
    "keepalivetracker.num_retries": 3, "keepalivetracker.retry_factor": 4,
    "downloader.timeout": "1h0m",
    "get_batch.max_wait": "20s", "get_batch.warmup_workers": -1, "get_batch.max_soft_errs": 6,
    "get_batch.max_gfn": 5,
    "rate_limit.backend.interval": "1m", "rate_limit.backend.max_tokens": 1000,
    "rate_limit.backend.enabled": False, "rate_limit.backend.num_retries": 3,
    "rate_limit.frontend.interval": "1m", "rate_limit.frontend.max_tokens": 1000,
    "rate_limit.frontend.burst_size": 375,
    "net.l4.proto": "tcp", "net.http.idle_conn_time": "6s", "net.http.client_auth_tls": 0,
    "net.http.domain_tls": "",
    "fshc.test_files": 4, "fshc.error_limit": 2, "fshc.io_err_limit": 10, "fshc.io_err_time": "10s",
    "fshc.enabled": True,
}  # fmt: skip


def wire(cfg: ClusterConfig) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cluster_config_to_json(cfg))
    return result


def lookup(document: dict[str, Any], dotted: str) -> Any:
    node: Any = document
    for part in dotted.split("."):
        node = node[part]
    return node


def test_default_config_is_fully_populated_in_aistore_order() -> None:
    document = wire(default_cluster_config())
    assert list(document) == SECTIONS  # pointer sections (tracing, distributed_sort) left out when unset
    assert document["backend"] == {}


@pytest.mark.parametrize(("key", "value"), SPEC_DEFAULTS.items())
def test_defaults_match_the_spec(key: str, value: Any) -> None:
    assert lookup(wire(default_cluster_config()), key) == value


def test_defaults_are_valid_and_quoted_ints_are_strings() -> None:
    cfg = default_cluster_config()
    validate_cluster_config(cfg)
    document = wire(cfg)
    assert document["features"] == "0"
    assert isinstance(document["config_version"], str)
    assert "checkpoint_every" not in document["chunks"]  # omitempty leaves vanish at zero
    assert "per_op_max_tokens" not in document["rate_limit"]["backend"]


def test_typed_values_inside() -> None:
    cfg = default_cluster_config()
    assert cfg.lru.dont_evict_time == 7200.0
    assert cfg.chunks.chunk_size == 1 << 30
    assert cfg.disk.iostat_time_short == pytest.approx(0.1)


def test_to_json_from_json_round_trip() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {
            "space": {"highwm": 85},
            "auth": {"signature": {"key": "s3cret", "method": "HS512"}},
            "backend": {"aws": {}},
            "tracing": {"enabled": False},
            "distributed_sort": {"call_timeout": "5m"},
            "features": "16",
        },
    )
    data = cluster_config_to_json(cfg, mask_secrets=False)
    again = cluster_config_from_json(data)
    assert again == cfg
    assert cluster_config_to_json(again, mask_secrets=False) == data


def test_hmac_secret_is_masked_but_rsa_public_key_is_shown() -> None:
    cfg = update_cluster_config(
        default_cluster_config(), {"auth.signature.key": "s3cret", "auth.signature.method": "HS256"}
    )
    assert wire(cfg)["auth"]["signature"]["key"] != "s3cret"
    assert b"s3cret" not in local_config_json(cfg, confdir="/c", mountpaths=[], host="h", port=1)
    cfg = update_cluster_config(
        default_cluster_config(), {"auth": {"signature": {"key": "PEM", "method": "RS256"}}}
    )
    assert wire(cfg)["auth"]["signature"] == {"key": "PEM", "method": "RS256"}


# --- loading ---------------------------------------------------------------------------------------


def test_load_none_gives_defaults() -> None:
    assert load_cluster_config(None) == default_cluster_config()


def test_load_partial_file_merges_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"space": {"highwm": 80}, "LRU": {"Enabled": True}, "uuid": "abc"}))
    cfg = load_cluster_config(str(path))
    assert cfg.space.highwm == 80
    assert cfg.space.lowwm == 75
    assert cfg.lru.enabled is True
    assert cfg.uuid == "abc"


def test_load_full_file_written_by_to_json(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_bytes(cluster_config_to_json(default_cluster_config()))
    assert load_cluster_config(str(path)) == default_cluster_config()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"space": {"highwatermark": 80}}', 'unknown key "space.highwatermark"'),
        ('{"nosuchsection": {}}', 'unknown key "nosuchsection"'),
        ('{"space": {"highwm": "high"}}', "space.highwm must be an integer"),
        ('{"space": 5}', "space must be a JSON object"),
        ('{"lru": {"enabled": 1}}', "lru.enabled must be a boolean"),
        ('{"lru": {"dont_evict_time": 7200}}', "lru.dont_evict_time must be a duration string"),
        ('{"lru": {"dont_evict_time": "2 hours"}}', "lru.dont_evict_time is not a valid duration"),
        ('{"chunks": {"chunk_size": 1024}}', "chunks.chunk_size must be a size string"),
        ('{"chunks": {"chunk_size": "big"}}', "chunks.chunk_size is not a valid size"),
        ('{"space": {"highwm": 101, "out_of_space": 101}}', "space.out_of_space (101) must be in [0, 100]"),
    ],
)
def test_load_rejects_bad_files_with_clear_messages(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_cluster_config(str(path))
    assert message in str(info.value)
    assert str(info.value).startswith("config: ")
    assert info.value.status == 400


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_cluster_config(str(tmp_path / "nope.json"))


# --- set-config ------------------------------------------------------------------------------------


def test_update_with_dotted_string_values_like_the_cli() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {
            "space.highwm": "91",
            "lru.enabled": "true",
            "lru.dont_evict_time": "3h",
            "chunks.chunk_size": "64MiB",
        },
    )
    assert cfg.space.highwm == 91
    assert cfg.lru.enabled is True
    assert cfg.lru.dont_evict_time == 3 * 3600
    assert cfg.chunks.chunk_size == 64 << 20


def test_update_nested_mixed_and_case_insensitive() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {"Space": {"HighWM": 92}, "space.lowwm": 70, "MIRROR.copies": 3, "auth.required_claims.aud": "a,b"},
    )
    assert (cfg.space.highwm, cfg.space.lowwm, cfg.mirror.copies) == (92, 70, 3)
    assert cfg.auth.required_claims is not None
    assert cfg.auth.required_claims.aud == ["a", "b"]


def test_update_never_mutates_its_inputs() -> None:
    cfg = default_cluster_config()
    before = cluster_config_to_json(cfg)
    partial: dict[str, Any] = {"space": {"highwm": 85}, "space.lowwm": 70, "mirror.copies": "3"}
    snapshot = json.dumps(partial)
    updated = update_cluster_config(cfg, partial)
    assert cluster_config_to_json(cfg) == before
    assert json.dumps(partial) == snapshot
    assert updated is not cfg


@pytest.mark.parametrize("key", ["uuid", "config_version", "lastupdate_time"])
def test_update_rejects_system_keys(key: str) -> None:
    with pytest.raises(ConfigError, match="read-only"):
        update_cluster_config(default_cluster_config(), {key: "1"})


def test_update_rejects_value_and_section_for_the_same_key() -> None:
    with pytest.raises(ConfigError, match="both as a value and a section"):
        update_cluster_config(default_cluster_config(), {"space": 1, "space.highwm": 2})


def test_zero_means_default_fields_are_filled_in() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {
            "chunks.chunk_size": "0",
            "chunks.max_monolithic_size": "0B",
            "get_batch.warmup_workers": 0,
            "get_batch.max_gfn": 0,
            "get_batch.max_soft_errs": 3,
            "disk.iostat_time_smooth": "0s",
            "transport.quiescent": "0s",
            "transport.idle_teardown": "8s",
        },
    )
    assert cfg.chunks.chunk_size == 1 << 30
    assert cfg.chunks.max_monolithic_size == 1 << 40
    assert cfg.get_batch.warmup_workers == -1
    assert cfg.get_batch.max_gfn == 3
    assert cfg.disk.iostat_time_smooth == 8.0
    assert cfg.transport.quiescent == 16.0


def test_auth_v41_shape_is_accepted_and_written_as_50() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {"auth": {"enabled": True, "cluster_key": {"enabled": True, "ttl": "24h", "nonce_window": "2m"}}},
    )
    auth = wire(cfg)["auth"]
    assert auth["client_auth_required"] is True
    assert auth["intra_cluster"] == {
        "node_join_secret_path": "",
        "ttl": "24h0m",
        "nonce_window": "2m",
        "rotation_grace": "1m",
        "request_auth": True,
    }
    assert "enabled" not in auth and "cluster_key" not in auth


def test_auth_v40_secret_and_50_shape() -> None:
    cfg = update_cluster_config(default_cluster_config(), {"auth": {"enabled": True, "secret": "k"}})
    assert cfg.auth.signature is not None
    assert cfg.auth.signature.key == "k"
    cfg = update_cluster_config(
        default_cluster_config(),
        {
            "auth": {
                "client_auth_required": True,
                "oidc": {"allowed_iss": ["https://issuer.example"], "issuer_ca_bundle": "/ca.pem"},
                "required_claims": {"aud": ["strata"]},
            }
        },
    )
    auth = wire(cfg)["auth"]
    assert auth["oidc"] == {"allowed_iss": ["https://issuer.example"], "issuer_ca_bundle": "/ca.pem"}
    assert auth["required_claims"] == {"aud": ["strata"]}


def test_signature_method_is_case_insensitive() -> None:
    cfg = update_cluster_config(default_cluster_config(), {"auth.signature.method": "hs384"})
    assert cfg.auth.signature is not None and cfg.auth.signature.method == "HS384"


# Every range rule of the spec, one failing case each: (partial, expected message fragment).
VIOLATIONS: list[tuple[dict[str, Any], str]] = [
    ({"mirror.copies": 1}, "mirror.copies (1) must be in [2, 32]"),
    ({"mirror.copies": 33}, "mirror.copies (33) must be in [2, 32]"),
    ({"ec.compression": "sometimes"}, 'ec.compression ("sometimes") must be one of "never", "always"'),
    ({"ec.bundle_multiplier": 17}, "ec.bundle_multiplier (17) must be in [1, 16]"),
    ({"ec.burst_buffer": 31}, "ec.burst_buffer (31) must be in [32, 10000]"),
    ({"ec.objsize_limit": -2}, "ec.objsize_limit (-2) must be at least -1"),
    ({"ec.data_slices": 0}, "ec.data_slices (0) must be in [1, 32]"),
    ({"ec.parity_slices": 33}, "ec.parity_slices (33) must be in [1, 32]"),
    ({"chunks.objsize_limit": "2GiB", "chunks.max_monolithic_size": "1GiB"},
     "chunks.objsize_limit (2GiB) must not exceed chunks.max_monolithic_size (1GiB)"),
    ({"chunks.max_monolithic_size": "512MiB"}, "chunks.max_monolithic_size (512MiB) must be in [1GiB, 1TiB]"),
    ({"chunks.max_monolithic_size": "2TiB"}, "chunks.max_monolithic_size (2TiB) must be in [1GiB, 1TiB]"),
    ({"chunks.chunk_size": "512B"}, "chunks.chunk_size (512B) must be in [1KiB, 5GiB]"),
    ({"chunks.chunk_size": "6GiB"}, "chunks.chunk_size (6GiB) must be in [1KiB, 5GiB]"),
    ({"chunks.checkpoint_every": 1025}, "chunks.checkpoint_every (1025) must be in [0, 1024]"),
    ({"log.max_size": "512B"}, "log.max_size (512B) must be in [1KiB, 1GiB]"),
    ({"log.max_total": "11GiB"}, "log.max_total (11GiB) must be in [1MiB, 10GiB]"),
    ({"log.max_size": "512MiB", "log.max_total": "768MiB"}, "log.max_total (768MiB) must be at least twice"),
    ({"log.flush_time": "2h"}, "log.flush_time (2h0m) must be in [0s, 1h0m]"),
    ({"log.stats_time": "11m"}, "log.stats_time (11m) must be in [0s, 10m]"),
    ({"periodic.stats_time": "500ms"}, "periodic.stats_time (500ms) must be in [1s, 1m]"),
    ({"periodic.retry_sync_time": "5ms"}, "periodic.retry_sync_time (5ms) must be in [10ms, 10s]"),
    ({"periodic.notif_time": "2m"}, "periodic.notif_time (2m) must be in [1s, 1m]"),
    ({"timeout.cplane_operation": "5ms"}, "timeout.cplane_operation (5ms) must be at least 10ms"),
    ({"timeout.max_keepalive": "3s"}, "timeout.max_keepalive (3s) must be at least twice timeout.cplane_operation"),
    ({"timeout.max_host_busy": "9s"}, "timeout.max_host_busy (9s) must be at least 10s"),
    ({"timeout.startup_time": "29s"}, "timeout.startup_time (29s) must be at least 30s"),
    ({"timeout.join_startup_time": "90s"}, "timeout.join_startup_time (1m30s) must be 0 or at least twice"),
    ({"timeout.send_file_time": "59s"}, "timeout.send_file_time (59s) must be at least 1m"),
    ({"timeout.ec_streams_time": "4m"}, "timeout.ec_streams_time (4m) must be at least 5m"),
    ({"timeout.object_md": "10m"}, "timeout.object_md (10m) must be 0 or in [20m, 16h0m]"),
    ({"timeout.object_md": "17h"}, "timeout.object_md (17h0m) must be 0 or in [20m, 16h0m]"),
    ({"timeout.cold_get_conflict": "500ms"}, "timeout.cold_get_conflict (500ms) must be 0 or in [1s, 20s]"),
    ({"timeout.cold_get_conflict": "21s"}, "timeout.cold_get_conflict (21s) must be 0 or in [1s, 20s]"),
    ({"client.client_timeout": "0s"}, "client.client_timeout (0s) must be in [1s, 30m]"),
    ({"client.list_timeout": "31m"}, "client.list_timeout (31m) must be in [1s, 30m]"),
    ({"client.client_timeout": "6m"}, "client.client_timeout (6m) must not exceed client.client_long_timeout (5m)"),
    ({"space.lowwm": 80, "space.highwm": 75}, "space.lowwm (80) must not exceed space.highwm (75)"),
    ({"space.cleanupwm": 76}, "space.cleanupwm (76) must not exceed space.lowwm (75)"),
    ({"space.highwm": 96}, "space.highwm (96) must not exceed space.out_of_space (95)"),
    ({"space.batch_size": 1000}, "space.batch_size (1000) must be in [1024, 524288]"),
    ({"space.dont_cleanup_time": "10m"}, "space.dont_cleanup_time (10m) must be at least 15m"),
    ({"lru.dont_evict_time": "59m"}, "lru.dont_evict_time (59m) must be at least 1h0m"),
    ({"lru.capacity_upd_time": "5s"}, "lru.capacity_upd_time (5s) must be at least 10s"),
    ({"disk.disk_util_low_wm": 90}, "disk.disk_util_low_wm (90) must not exceed disk.disk_util_high_wm (80)"),
    ({"disk.iostat_time_long": "1s"}, "disk.iostat_time_long (1s) must be in [2s, 1m]"),
    ({"disk.iostat_time_short": "500\u00b5s"}, "disk.iostat_time_short (500\u00b5s) must be in [1ms, 1m]"),
    ({"rebalance.dest_retry_time": "11m"}, "rebalance.dest_retry_time (11m) must be in [1s, 10m]"),
    ({"rebalance.compression": "maybe"}, 'rebalance.compression ("maybe") must be one of'),
    ({"versioning.enabled": False, "versioning.validate_warm_get": True},
     "versioning.validate_warm_get requires versioning.enabled"),
    ({"checksum.type": "crc64"}, 'checksum.type ("crc64") must be one of "none", "xxhash", "xxhash2"'),
    ({"transport.max_header": 256}, "transport.max_header (256) must be in [512, 131072]"),
    ({"transport.burst_buffer": 8192}, "transport.burst_buffer (8192) must be in [256, 4096]"),
    ({"transport.idle_teardown": "500ms"}, "transport.idle_teardown (500ms) must be at least 1s"),
    ({"transport.lz4_block": "128KiB"}, "transport.lz4_block (128KiB) must be one of 64KiB, 256KiB, 1MiB, 4MiB"),
    ({"memsys.min_free": "50MiB"}, "memsys.min_free (50MiB) must be 0 or at least 100MiB"),
    ({"memsys.default_buf": "256KiB"}, "memsys.default_buf (256KiB) must be in [0B, 128KiB]"),
    ({"memsys.default_buf": "6KiB"}, "memsys.default_buf (6144 bytes) must be a multiple of 4KiB"),
    ({"memsys.hk_time": "2h"}, "memsys.hk_time (2h0m) must be in [0s, 1h0m]"),
    ({"memsys.min_pct_free": 96}, "memsys.min_pct_free (96) must be in [0, 95]"),
    ({"tcb.bundle_multiplier": 0}, "tcb.bundle_multiplier (0) must be in [1, 16]"),
    ({"lso.walk_buffer": 8}, "lso.walk_buffer (8) must be in [16, 4096]"),
    ({"lso.idle_time": "4s"}, "lso.idle_time (4s) must be in [5s, 10m]"),
    ({"lso.quiescent": "1s"}, "lso.quiescent (1s) must be in [2s, 1m]"),
    ({"lso.quiescent": "30s", "lso.idle_time": "20s"}, "lso.quiescent (30s) must be less than lso.idle_time (20s)"),
    ({"write_policy.data": "delayed"}, 'write_policy.data ("delayed") must be one of "immediate"'),
    ({"write_policy.md": "later"}, 'write_policy.md ("later") must be one of "immediate", "delayed", "never"'),
    ({"features": str(1 << 28)}, "features (268435456) sets bits beyond the 28 known features"),
    ({"features": str((1 << 11) | (1 << 12))}, "Disable-Cold-GET and Streaming-Cold-GET are mutually exclusive"),
    ({"auth.signature.method": "ES256"}, 'auth.signature.method ("ES256") must be one of "HMAC"'),
    ({"auth": {"signature": {"key": "k", "method": "HS256"}, "oidc": {"allowed_iss": ["https://i"]}}},
     "mutually exclusive"),
    ({"auth.signature.key": "k"}, "auth.signature.key needs auth.signature.method"),
    ({"auth.oidc.allowed_iss": ["https:///path"]}, "must be an https:// URL with a host"),
    ({"auth.oidc.jwks_cache.min_rotation_refresh": "500ms"}, "min_rotation_refresh (500ms) must be at least"),
    ({"auth.oidc.jwks_cache.min_background_refresh": "1m"}, "min_background_refresh (1m) must be at least 5m"),
    ({"auth.oidc.allowed_iss": ["http://issuer"]}, 'issuer "http://issuer" must be an https:// URL'),
    ({"auth.intra_cluster.ttl": "30m"}, "auth.intra_cluster.ttl (30m) must be 0 or at least 1h0m"),
    ({"auth.intra_cluster.nonce_window": "11m"}, "auth.intra_cluster.nonce_window (11m) must be in [0s, 10m]"),
    ({"auth.intra_cluster.rotation_grace": "2h"}, "auth.intra_cluster.rotation_grace (2h0m) must be in [0s, 1h0m]"),
    ({"keepalivetracker.proxy.interval": "500ms"}, "keepalivetracker.proxy.interval (500ms) must be in [1s, 1m]"),
    ({"keepalivetracker.target.factor": 11}, "keepalivetracker.target.factor (11) must be in [1, 10]"),
    ({"keepalivetracker.target.interval": "50s"}, "times keepalivetracker.target.factor (3) must not exceed 2m"),
    ({"keepalivetracker.proxy.name": "average"}, 'keepalivetracker.proxy.name ("average") must be one of'),
    ({"keepalivetracker.num_retries": 0}, "keepalivetracker.num_retries (0) must be in [1, 10]"),
    ({"downloader.timeout": "2h"}, "downloader.timeout (2h0m) must be in [1s, 1h0m]"),
    ({"get_batch.max_wait": "500ms"}, "get_batch.max_wait (500ms) must be in [1s, 1m]"),
    ({"get_batch.warmup_workers": 11}, "get_batch.warmup_workers (11) must be in [1, 10]"),
    ({"get_batch.max_gfn": -2}, "get_batch.max_gfn (-2) must be at least -1"),
    ({"rate_limit.backend.interval": "500ms"}, "rate_limit.backend.interval (500ms) must be in [1s, 1h0m]"),
    ({"rate_limit.frontend.interval": "2h"}, "rate_limit.frontend.interval (2h0m) must be in [1s, 1h0m]"),
    ({"rate_limit.backend.num_retries": 11}, "rate_limit.backend.num_retries (11) must be in [1, 10]"),
    ({"rate_limit.frontend.burst_size": 501}, "rate_limit.frontend.burst_size (501) must not exceed 50%"),
    ({"net.l4.proto": "udp"}, 'net.l4.proto ("udp") must be one of "tcp"'),
    ({"net.http.client_auth_tls": 5}, "net.http.client_auth_tls (5) must be in [0, 4]"),
    ({"net.http.idle_conn_time": "31s"}, "net.http.idle_conn_time (31s) must be in [0s, 30s]"),
    ({"net.http.idle_conns": 5000}, "net.http.idle_conns (5000) must be in [0, 4096]"),
    ({"net.http.server_read_header_time": "0s"}, "net.http.server_read_header_time (0s) must be in [100ms, 1h0m]"),
    ({"net.http.server_idle_conn_time": "2h"}, "net.http.server_idle_conn_time (2h0m) must be in [100ms, 1h0m]"),
    ({"fshc.io_err_time": "5s"}, "fshc.io_err_time (5s) must be in [10s, 1m]"),
    ({"distributed_sort.missing_shards": "explode"}, 'distributed_sort.missing_shards ("explode") must be one of'),
    ({"compression.codec": "lz4"}, 'compression.codec ("lz4") must be one of "auto", "zstd", "none"'),
    ({"compression.level": 22}, "compression.level (22) must be in [1, 19]"),
    ({"compression.frame_size": "64MiB1"}, 'compression.frame_size is not "auto" or a valid size: "64MiB1"'),
    ({"compression.frame_size": "65MiB"}, 'compression.frame_size (65MiB) must be "auto" or in [64KiB, 64MiB]'),
    ({"compression.min_size": "1.5GiB"}, "compression.min_size (1536MiB) must be in [0B, 1GiB]"),
]  # fmt: skip


@pytest.mark.parametrize(("partial", "message"), VIOLATIONS)
def test_every_rule_has_a_clear_message(partial: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        update_cluster_config(default_cluster_config(), partial)
    assert message in str(info.value), str(info.value)
    assert isinstance(info.value, InvalidRequest)


def test_validate_reports_on_a_hand_built_config() -> None:
    cfg = default_cluster_config()
    bad = msgspec.structs.replace(cfg, space=msgspec.structs.replace(cfg.space, lowwm=80, highwm=75))
    with pytest.raises(
        ConfigError, match=r"^config: space.lowwm \(80\) must not exceed space.highwm \(75\)$"
    ):
        validate_cluster_config(bad)


def test_boundaries_are_inclusive() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {
            "mirror.copies": 32,
            "space.out_of_space": 100,
            "timeout.ec_streams_time": "-1s",
            "timeout.object_md": "0s",
            "get_batch.warmup_workers": 10,
            "rate_limit.frontend.burst_size": 500,
            "memsys.min_free": "0B",
        },
    )
    assert cfg.mirror.copies == 32
    assert cfg.timeout.ec_streams_time == -1


def test_compression_section_is_strata_own_and_left_out_until_set(tmp_path: Path) -> None:
    """An untouched config keeps AIStore's shape; once set, the section is on the wire and round-trips."""
    assert "compression" not in wire(default_cluster_config())
    cfg = update_cluster_config(
        default_cluster_config(), {"compression.enabled": "true", "compression.frame_size": "64KiB"}
    )
    assert wire(cfg)["compression"] == {
        "enabled": True, "codec": "auto", "level": 3, "frame_size": "64KiB", "min_size": "4KiB",
    }  # fmt: skip
    assert cluster_config_from_json(cluster_config_to_json(cfg, mask_secrets=False)) == cfg
    bounds = update_cluster_config(
        cfg, {"compression": {"frame_size": 64 << 20, "level": 19, "min_size": "1GiB"}}
    )
    assert bounds.compression is not None and bounds.compression.frame_size == 64 << 20
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"compression": {"level": 11}}))
    loaded = load_cluster_config(str(path)).compression
    assert loaded is not None and (loaded.level, loaded.enabled, loaded.frame_size) == (11, False, 0)


# --- GET /v1/daemon?what=config --------------------------------------------------------------------


def test_local_config_adds_node_keys_after_the_cluster_keys() -> None:
    data = local_config_json(
        default_cluster_config(), confdir="/etc/strata", mountpaths=["/mp1", "/mp2"], host="node1", port=8080
    )
    document = json.loads(data)
    assert list(document)[: len(SECTIONS)] == SECTIONS
    assert list(document)[len(SECTIONS) :] == ["confdir", "log_dir", "host_net", "fspaths", "test_fspaths"]
    assert document["confdir"] == "/etc/strata"
    assert document["host_net"]["hostname"] == "node1"
    assert document["host_net"]["port"] == "8080"
    assert document["host_net"]["port_intra_data"] == "8080"
    assert document["fspaths"] == {"paths": {"/mp1": "", "/mp2": ""}}
    assert document["test_fspaths"] == {"root": "", "count": 0, "instance": 0}


def test_free_form_backend_section_keeps_dotted_keys() -> None:
    backend = {"ais": {"remote.cluster": ["http://10.0.0.1:51080"]}, "aws": {}}
    cfg = update_cluster_config(default_cluster_config(), {"backend": backend})
    assert wire(cfg)["backend"] == backend
