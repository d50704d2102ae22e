"""Normalization and range rules of the cluster config (AIStore's ``*Conf.Validate`` in cmn/config.go).

AIStore's validators both check and fill in: a zero ``chunks.chunk_size`` becomes 1GiB, a zero
``get_batch.warmup_workers`` becomes -1, and so on. We keep the two apart -- ``normalize`` returns a
filled-in copy, ``validate`` only checks -- so validation never changes what a caller holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from . import _rules as rules
from . import _sections as sections
from .backend import normalize_backend, validate_backend
from .features import check_features
from .units import GiB, KiB, MiB

if TYPE_CHECKING:
    from .cluster import ClusterConfig

SIGNATURE_METHODS = ("HMAC", "HS256", "HS384", "HS512", "RSA", "RS256", "RS384", "RS512")
LZ4_BLOCK_SIZES = (64 * KiB, 256 * KiB, MiB, 4 * MiB)
MINUTE = 60.0
HOUR = 3600.0


def normalize(cfg: ClusterConfig) -> ClusterConfig:
    """A copy of ``cfg`` with AIStore's "0 means default" fields filled in."""
    replace = msgspec.structs.replace
    changes: dict[str, Any] = {
        "chunks": sections.normalize_chunks(cfg.chunks),
        "write_policy": sections.normalize_write_policy(cfg.write_policy),
        "backend": normalize_backend(cfg.backend),
    }
    if cfg.disk.iostat_time_smooth == 0:
        changes["disk"] = replace(cfg.disk, iostat_time_smooth=4 * cfg.disk.iostat_time_long)
    if cfg.transport.quiescent == 0:
        changes["transport"] = replace(cfg.transport, quiescent=max(10.0, 2 * cfg.transport.idle_teardown))
    get_batch = cfg.get_batch
    if get_batch.warmup_workers == 0:
        get_batch = replace(get_batch, warmup_workers=-1)
    if get_batch.max_gfn == 0:
        get_batch = replace(get_batch, max_gfn=min(5, get_batch.max_soft_errs))
    changes["get_batch"] = get_batch
    if cfg.net.http.idle_conn_time == 0:
        changes["net"] = replace(cfg.net, http=replace(cfg.net.http, idle_conn_time=6.0))
    intra = cfg.auth.intra_cluster
    if intra is not None and (intra.nonce_window == 0 or intra.rotation_grace == 0):
        intra = replace(
            intra,
            nonce_window=intra.nonce_window or MINUTE,
            rotation_grace=intra.rotation_grace or MINUTE,
        )
        changes["auth"] = replace(cfg.auth, intra_cluster=intra)
    oidc = cfg.auth.oidc
    if oidc is not None and oidc.jwks_cache is not None:
        cache = oidc.jwks_cache
        if cache.min_rotation_refresh == 0 or cache.min_background_refresh == 0:
            cache = replace(
                cache,
                min_rotation_refresh=cache.min_rotation_refresh or 30.0,
                min_background_refresh=cache.min_background_refresh or 15 * MINUTE,
            )
            oidc = replace(oidc, jwks_cache=cache)
            changes["auth"] = replace(changes.get("auth", cfg.auth), oidc=oidc)
    if cfg.auth.signature is not None and cfg.auth.signature.method != cfg.auth.signature.method.upper():
        signature = replace(cfg.auth.signature, method=cfg.auth.signature.method.upper())
        changes["auth"] = replace(changes.get("auth", cfg.auth), signature=signature)
    return replace(cfg, **changes)


def validate(cfg: ClusterConfig) -> None:
    """Raise ``rules.Violation`` for the first rule ``cfg`` (already normalized) breaks."""
    validate_backend(cfg.backend)
    sections.validate_mirror(cfg.mirror)
    sections.validate_erasure_coding(cfg.ec)
    sections.validate_chunks(cfg.chunks)
    _validate_log(cfg)
    _validate_periodic_and_timeouts(cfg)
    _validate_space_and_disk(cfg)
    sections.validate_lru(cfg.lru)
    sections.validate_versioning(cfg.versioning)
    sections.validate_checksum(cfg.checksum)
    _validate_streams(cfg)
    _validate_memsys(cfg)
    sections.validate_write_policy(cfg.write_policy)
    sections.validate_rate_limit(cfg.rate_limit)
    if cfg.compression is not None:
        sections.validate_compression(cfg.compression)
    _validate_auth(cfg)
    _validate_keepalive(cfg)
    rules.duration_range("downloader.timeout", cfg.downloader.timeout, 1.0, HOUR)
    _validate_get_batch(cfg)
    _validate_net(cfg)
    rules.duration_range("fshc.io_err_time", cfg.fshc.io_err_time, 10.0, MINUTE)
    for key in ("test_files", "error_limit", "io_err_limit"):
        rules.int_range(f"fshc.{key}", getattr(cfg.fshc, key), 0)
    reason = check_features(cfg.features, "features", bucket_scope=False)
    if reason:
        raise rules.Violation(reason)
    if cfg.distributed_sort is not None:
        dsort = cfg.distributed_sort
        for key in ("duplicated_records", "missing_shards", "ekm_malformed_line", "ekm_missing_key"):
            rules.one_of(f"distributed_sort.{key}", getattr(dsort, key), ("ignore", "warn", "abort"))


def _validate_log(cfg: ClusterConfig) -> None:
    log = cfg.log
    rules.size_range("log.max_size", log.max_size, KiB, GiB)
    rules.size_range("log.max_total", log.max_total, MiB, 10 * GiB)
    if log.max_total < 2 * log.max_size:
        raise rules.Violation(
            f"log.max_total ({rules.show_size(log.max_total)}) must be at least twice "
            f"log.max_size ({rules.show_size(log.max_size)})"
        )
    rules.duration_range("log.flush_time", log.flush_time, 0.0, HOUR)
    rules.duration_range("log.stats_time", log.stats_time, 0.0, 10 * MINUTE)


def _validate_periodic_and_timeouts(cfg: ClusterConfig) -> None:
    periodic, timeout, client = cfg.periodic, cfg.timeout, cfg.client
    rules.duration_range("periodic.stats_time", periodic.stats_time, 1.0, MINUTE)
    rules.duration_range("periodic.retry_sync_time", periodic.retry_sync_time, 0.01, 10.0)
    rules.duration_range("periodic.notif_time", periodic.notif_time, 1.0, MINUTE)

    rules.duration_range("timeout.cplane_operation", timeout.cplane_operation, 0.01)
    if timeout.max_keepalive < 2 * timeout.cplane_operation:
        raise rules.Violation(
            f"timeout.max_keepalive ({rules.show_duration(timeout.max_keepalive)}) must be at least twice "
            f"timeout.cplane_operation ({rules.show_duration(timeout.cplane_operation)})"
        )
    rules.duration_range("timeout.max_host_busy", timeout.max_host_busy, 10.0)
    rules.duration_range("timeout.startup_time", timeout.startup_time, 30.0)
    if timeout.join_startup_time != 0 and timeout.join_startup_time < 2 * timeout.startup_time:
        raise rules.Violation(
            f"timeout.join_startup_time ({rules.show_duration(timeout.join_startup_time)}) must be 0 or at "
            f"least twice timeout.startup_time ({rules.show_duration(timeout.startup_time)})"
        )
    rules.duration_range("timeout.send_file_time", timeout.send_file_time, MINUTE)
    if 0 <= timeout.ec_streams_time < 5 * MINUTE:
        raise rules.Violation(
            f"timeout.ec_streams_time ({rules.show_duration(timeout.ec_streams_time)}) must be at least 5m "
            "(or negative: never tear down)"
        )
    rules.duration_zero_or_range("timeout.object_md", timeout.object_md, 20 * MINUTE, 16 * HOUR)
    rules.duration_zero_or_range(
        "timeout.cold_get_conflict", timeout.cold_get_conflict, 1.0, timeout.max_host_busy
    )

    for key in ("client_timeout", "client_long_timeout", "list_timeout"):
        rules.duration_range(f"client.{key}", getattr(client, key), 1.0, 30 * MINUTE)
    rules.not_greater(
        "client.client_timeout",
        client.client_timeout,
        "client.client_long_timeout",
        client.client_long_timeout,
        rules.show_duration,
    )


def _validate_space_and_disk(cfg: ClusterConfig) -> None:
    space, disk = cfg.space, cfg.disk
    rules.int_range("space.cleanupwm", space.cleanupwm, 0)
    rules.not_greater("space.cleanupwm", space.cleanupwm, "space.lowwm", space.lowwm)
    rules.not_greater("space.lowwm", space.lowwm, "space.highwm", space.highwm)
    rules.not_greater("space.highwm", space.highwm, "space.out_of_space", space.out_of_space)
    rules.int_range("space.out_of_space", space.out_of_space, 0, 100)
    rules.int_range("space.batch_size", space.batch_size, 1024, 524288)
    rules.duration_range("space.dont_cleanup_time", space.dont_cleanup_time, 15 * MINUTE)

    rules.int_range("disk.disk_util_low_wm", disk.disk_util_low_wm, 0)
    low, high, top = disk.disk_util_low_wm, disk.disk_util_high_wm, disk.disk_util_max_wm
    rules.not_greater("disk.disk_util_low_wm", low, "disk.disk_util_high_wm", high)
    rules.not_greater("disk.disk_util_high_wm", high, "disk.disk_util_max_wm", top)
    rules.int_range("disk.disk_util_max_wm", disk.disk_util_max_wm, 0, 100)
    rules.duration_range("disk.iostat_time_long", disk.iostat_time_long, 2.0, MINUTE)
    rules.duration_range("disk.iostat_time_short", disk.iostat_time_short, 0.001, MINUTE)
    rules.not_greater(
        "disk.iostat_time_short",
        disk.iostat_time_short,
        "disk.iostat_time_long",
        disk.iostat_time_long,
        rules.show_duration,
    )
    rules.duration_range("disk.iostat_time_smooth", disk.iostat_time_smooth, 0.0)


def _validate_streams(cfg: ClusterConfig) -> None:
    """Rebalance, the job stream knobs (tcb/tco/arch/lso/get_batch) and the transport under them."""
    rebalance = cfg.rebalance
    sections.validate_xact_knobs(rebalance.compression, rebalance.bundle_multiplier, "rebalance")
    rules.int_range("rebalance.burst_buffer", rebalance.burst_buffer, 0)
    rules.duration_range("rebalance.dest_retry_time", rebalance.dest_retry_time, 1.0, 10 * MINUTE)
    for key in ("tcb", "tco", "arch", "lso", "get_batch"):
        section = getattr(cfg, key)
        sections.validate_xact_knobs(section.compression, section.bundle_multiplier, key)
        rules.int_range(f"{key}.burst_buffer", section.burst_buffer, 0)
    lso = cfg.lso
    rules.int_range("lso.walk_buffer", lso.walk_buffer, 16, 4096)
    rules.duration_range("lso.idle_time", lso.idle_time, 5.0, 10 * MINUTE)
    rules.duration_range("lso.quiescent", lso.quiescent, 2.0, MINUTE)
    if lso.quiescent >= lso.idle_time:
        raise rules.Violation(
            f"lso.quiescent ({rules.show_duration(lso.quiescent)}) must be less than "
            f"lso.idle_time ({rules.show_duration(lso.idle_time)})"
        )

    transport = cfg.transport
    rules.int_range("transport.max_header", transport.max_header, 512, 128 * KiB)
    rules.int_range("transport.burst_buffer", transport.burst_buffer, 256, 4096)
    rules.duration_range("transport.idle_teardown", transport.idle_teardown, 1.0)
    if transport.lz4_block not in LZ4_BLOCK_SIZES:
        allowed = ", ".join(rules.show_size(size) for size in LZ4_BLOCK_SIZES)
        raise rules.Violation(
            f"transport.lz4_block ({rules.show_size(transport.lz4_block)}) must be one of {allowed}"
        )


def _validate_memsys(cfg: ClusterConfig) -> None:
    memsys = cfg.memsys
    if memsys.min_free != 0 and memsys.min_free < 100 * MiB:
        shown = rules.show_size(memsys.min_free)
        raise rules.Violation(f"memsys.min_free ({shown}) must be 0 or at least 100MiB")
    rules.size_range("memsys.default_buf", memsys.default_buf, 0, 128 * KiB)
    if memsys.default_buf % (4 * KiB):
        raise rules.Violation(f"memsys.default_buf ({memsys.default_buf} bytes) must be a multiple of 4KiB")
    rules.size_range("memsys.to_gc", memsys.to_gc, 0)
    rules.duration_range("memsys.hk_time", memsys.hk_time, 0.0, HOUR)
    rules.int_range("memsys.min_pct_total", memsys.min_pct_total, 0, 95)
    rules.int_range("memsys.min_pct_free", memsys.min_pct_free, 0, 95)


def _validate_auth(cfg: ClusterConfig) -> None:
    """AIStore's AuthConf rules. Whether turning auth on has a key to verify tokens with is decided
    where the environment is known too (``strata.auth.settings``: ``AIS_AUTHN_*_KEY`` may supply it)."""
    auth = cfg.auth
    signature = auth.signature
    if signature is not None and signature.method:
        rules.one_of("auth.signature.method", signature.method, SIGNATURE_METHODS)
    if signature is not None and signature.key and not signature.method:
        raise rules.Violation(
            "auth.signature.key needs auth.signature.method (HS256 for a shared secret, RS256 for an RSA "
            "public key)"
        )
    oidc = auth.oidc
    if signature is not None and signature.method and oidc is not None and oidc.allowed_iss:
        raise rules.Violation("auth.signature and auth.oidc are mutually exclusive: configure one of them")
    if oidc is not None:
        for issuer in oidc.allowed_iss:
            parsed = urlsplit(issuer)
            if parsed.scheme != "https" or not parsed.hostname:
                raise rules.Violation(
                    f'auth.oidc.allowed_iss: issuer "{issuer}" must be an https:// URL with a host'
                )
        cache = oidc.jwks_cache
        if cache is not None:
            rules.duration_range("auth.oidc.jwks_cache.min_rotation_refresh", cache.min_rotation_refresh, 1.0)
            rules.duration_range(
                "auth.oidc.jwks_cache.min_background_refresh", cache.min_background_refresh, 5 * MINUTE
            )
    if auth.required_claims is not None and any(not aud for aud in auth.required_claims.aud):
        raise rules.Violation("auth.required_claims.aud: an audience must not be empty")
    intra = auth.intra_cluster
    if intra is not None:
        rules.duration_zero_or_range("auth.intra_cluster.ttl", intra.ttl, HOUR)
        rules.duration_range("auth.intra_cluster.nonce_window", intra.nonce_window, 0.0, 10 * MINUTE)
        rules.duration_range("auth.intra_cluster.rotation_grace", intra.rotation_grace, 0.0, HOUR)


def _validate_keepalive(cfg: ClusterConfig) -> None:
    keepalive = cfg.keepalivetracker
    for role in ("proxy", "target"):
        tracker = getattr(keepalive, role)
        key = f"keepalivetracker.{role}"
        rules.one_of(f"{key}.name", tracker.name, ("heartbeat",))
        rules.duration_range(f"{key}.interval", tracker.interval, 1.0, MINUTE)
        rules.int_range(f"{key}.factor", tracker.factor, 1, 10)
        if tracker.interval * tracker.factor > 2 * MINUTE:
            raise rules.Violation(
                f"{key}.interval ({rules.show_duration(tracker.interval)}) times {key}.factor "
                f"({tracker.factor}) must not exceed 2m"
            )
    rules.int_range("keepalivetracker.num_retries", keepalive.num_retries, 1, 10)
    rules.int_range("keepalivetracker.retry_factor", keepalive.retry_factor, 1)


def _validate_get_batch(cfg: ClusterConfig) -> None:
    get_batch = cfg.get_batch
    rules.duration_range("get_batch.max_wait", get_batch.max_wait, 1.0, MINUTE)
    if get_batch.warmup_workers != -1:
        rules.int_range("get_batch.warmup_workers", get_batch.warmup_workers, 1, 10)
    rules.int_range("get_batch.max_soft_errs", get_batch.max_soft_errs, 0)
    rules.int_range("get_batch.max_gfn", get_batch.max_gfn, -1)


def _validate_net(cfg: ClusterConfig) -> None:
    net = cfg.net
    rules.one_of("net.l4.proto", net.l4.proto, ("tcp",))
    rules.int_range("net.l4.sndrcv_buf_size", net.l4.sndrcv_buf_size, 0)
    http = net.http
    rules.int_range("net.http.client_auth_tls", http.client_auth_tls, 0, 4)
    rules.duration_range("net.http.idle_conn_time", http.idle_conn_time, 0.0, 30.0)
    rules.duration_range("net.http.backend_idle_conn_time", http.backend_idle_conn_time, 0.0)
    rules.int_range("net.http.idle_conns", http.idle_conns, 0, 4096)
    rules.int_range("net.http.idle_conns_per_host", http.idle_conns_per_host, 0)
    rules.int_range("net.http.write_buffer_size", http.write_buffer_size, 0)
    rules.int_range("net.http.read_buffer_size", http.read_buffer_size, 0)
    if http.server_read_header_time is not None:
        rules.duration_range("net.http.server_read_header_time", http.server_read_header_time, 0.1, HOUR)
    if http.server_idle_conn_time is not None:
        rules.duration_range("net.http.server_idle_conn_time", http.server_idle_conn_time, 0.1, HOUR)
