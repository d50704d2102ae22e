"""The cluster-only sections of AIStore's cluster config (cmn/config.go), with their defaults.

Field order is the wire order. Defaults are AIStore's code defaults; where AIStore has none (timeouts,
memsys, net) they come from its dev deployment template, which is what ``ais config cluster`` shows on
a fresh dev cluster. Durations are float seconds, sizes are int bytes (see ``_codec``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._codec import Duration, SizeIEC
from ._sections import OmitEmptyStr
from .units import GiB, KiB, MiB


class LogConf(msgspec.Struct, frozen=True, kw_only=True):
    level: str = "3"
    max_size: SizeIEC = 64 * MiB
    max_total: SizeIEC = 512 * MiB
    flush_time: Duration = 60.0
    stats_time: Duration = 180.0
    to_stderr: bool = False


class PeriodicConf(msgspec.Struct, frozen=True, kw_only=True):
    stats_time: Duration = 10.0
    retry_sync_time: Duration = 2.0
    notif_time: Duration = 30.0


class TimeoutConf(msgspec.Struct, frozen=True, kw_only=True):
    cplane_operation: Duration = 2.0
    max_keepalive: Duration = 5.0
    max_host_busy: Duration = 20.0
    startup_time: Duration = 60.0
    join_startup_time: Duration = 180.0
    send_file_time: Duration = 300.0
    ec_streams_time: Duration = 600.0  # negative = never tear EC streams down
    object_md: Duration = 7200.0
    cold_get_conflict: Duration = 5.0


class ClientConf(msgspec.Struct, frozen=True, kw_only=True):
    client_timeout: Duration = 10.0
    client_long_timeout: Duration = 300.0
    list_timeout: Duration = 300.0


class ProxyConf(msgspec.Struct, frozen=True, kw_only=True):
    primary_url: str = ""
    original_url: str = ""
    discovery_url: str = ""
    non_electable: bool = False  # deprecated in AIStore, still on the wire


class SpaceConf(msgspec.Struct, frozen=True, kw_only=True):
    cleanupwm: int = 65
    lowwm: int = 75
    highwm: int = 90
    out_of_space: int = 95
    batch_size: int = 32768
    dont_cleanup_time: Duration = 1800.0


class DiskConf(msgspec.Struct, frozen=True, kw_only=True):
    disk_util_low_wm: int = 20
    disk_util_high_wm: int = 80
    disk_util_max_wm: int = 95
    iostat_time_long: Duration = 2.0
    iostat_time_short: Duration = 0.1
    iostat_time_smooth: Duration = 8.0  # 0 -> 4 x iostat_time_long


class RebalanceConf(msgspec.Struct, frozen=True, kw_only=True):
    compression: str = "never"
    bundle_multiplier: int = 2
    burst_buffer: int = 1024
    dest_retry_time: Duration = 120.0
    enabled: bool = True


class ResilverConf(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True


class TransportConf(msgspec.Struct, frozen=True, kw_only=True):
    max_header: int = 4096
    burst_buffer: int = 1024
    idle_teardown: Duration = 4.0
    quiescent: Duration = 10.0  # 0 -> max(10s, 2 x idle_teardown)
    lz4_block: SizeIEC = 256 * KiB
    lz4_frame_checksum: bool = False


class MemsysConf(msgspec.Struct, frozen=True, kw_only=True):
    min_free: SizeIEC = 2 * GiB
    default_buf: SizeIEC = 32 * KiB
    to_gc: SizeIEC = 4 * GiB
    hk_time: Duration = 180.0
    min_pct_total: int = 0
    min_pct_free: int = 0


class XactConf(msgspec.Struct, frozen=True, kw_only=True):
    """Stream knobs of a data-moving job: tcb (copy bucket), tco (copy objects), arch (archive)."""

    compression: str = "never"
    bundle_multiplier: int = 2
    burst_buffer: int = 512


class ListObjectsConf(msgspec.Struct, frozen=True, kw_only=True):
    compression: str = "never"
    bundle_multiplier: int = 1
    burst_buffer: int = 32
    walk_buffer: int = 128
    idle_time: Duration = 20.0
    quiescent: Duration = 5.0


class SignatureConf(msgspec.Struct, frozen=True, kw_only=True):
    """How tokens are verified with a static key: ``method`` (HS256/HMAC or RS256/RSA...) says how to
    parse ``key`` (a shared secret, or an RSA public key as PEM or base64 DER); a key needs a method."""

    key: str = ""
    method: str = ""


class RequiredClaimsConf(msgspec.Struct, frozen=True, kw_only=True):
    aud: list[str] = msgspec.field(default_factory=list)


class JwksCacheConf(msgspec.Struct, frozen=True, kw_only=True):
    """How often an issuer's key set may be fetched again: on a token with an unknown ``kid`` at most
    once per ``min_rotation_refresh``, in the background at most once per ``min_background_refresh``."""

    min_rotation_refresh: Duration = 30.0
    min_background_refresh: Duration = 900.0


class OidcConf(msgspec.Struct, frozen=True, kw_only=True):
    allowed_iss: list[str] = msgspec.field(default_factory=list)
    issuer_ca_bundle: OmitEmptyStr = ""
    jwks_cache: JwksCacheConf | None = None


class IntraClusterAuthConf(msgspec.Struct, frozen=True, kw_only=True):
    node_join_secret_path: str = ""
    ttl: Duration = 0.0  # 0 = keys never expire
    nonce_window: Duration = 60.0
    rotation_grace: Duration = 60.0
    request_auth: bool = False


class AuthConf(msgspec.Struct, frozen=True, kw_only=True):
    """AIStore 5.0 shape. The v4.1 (``enabled``, ``cluster_key``) and v4.0 (``secret``) spellings are
    translated on input by ``cluster._migrate_auth``; output is always this shape."""

    client_auth_required: bool = False
    signature: SignatureConf | None = None
    required_claims: RequiredClaimsConf | None = None
    oidc: OidcConf | None = None
    intra_cluster: IntraClusterAuthConf | None = None


class KeepaliveTrackerConf(msgspec.Struct, frozen=True, kw_only=True):
    name: str = "heartbeat"
    interval: Duration = 10.0
    factor: int = 3


class KeepaliveConf(msgspec.Struct, frozen=True, kw_only=True):
    proxy: KeepaliveTrackerConf = msgspec.field(default_factory=KeepaliveTrackerConf)
    target: KeepaliveTrackerConf = msgspec.field(default_factory=KeepaliveTrackerConf)
    num_retries: int = 3
    retry_factor: int = 4


class DownloaderConf(msgspec.Struct, frozen=True, kw_only=True):
    timeout: Duration = 3600.0


class DsortConf(msgspec.Struct, frozen=True, kw_only=True):
    """Present only in AIStore builds with dsort; accepted on input, omitted on output when unset."""

    duplicated_records: str = "ignore"
    missing_shards: str = "ignore"
    ekm_malformed_line: str = "abort"
    ekm_missing_key: str = "abort"
    default_max_mem_usage: str = "80%"
    dsorter_mem_threshold: str = "100GB"
    call_timeout: Duration = 600.0
    compression: str = "never"
    bundle_multiplier: int = 4
    burst_buffer: int = 1024


class GetBatchConf(msgspec.Struct, frozen=True, kw_only=True):
    compression: str = "never"
    bundle_multiplier: int = 2
    burst_buffer: int = 512
    max_wait: Duration = 20.0
    warmup_workers: int = -1  # 0 -> -1 (off); else [1, 10]
    max_soft_errs: int = 6  # 6 per the v4.1 GetBatch docs (AIStore 5.0 code says 8)
    max_gfn: int = 5  # 0 -> min(5, max_soft_errs); -1 = get-from-neighbour off


class L4Conf(msgspec.Struct, frozen=True, kw_only=True):
    proto: str = "tcp"
    sndrcv_buf_size: int = 131072


# Strata's HTTP server limits against clients that hold a connection without using it (slowloris).
# AIStore's Go server fixes its header deadline in code (http.Server.ReadHeaderTimeout, 16 s) and sets
# no idle limit; here both are settable under net.http (see ``HTTPConf``) and default to:
SERVER_READ_HEADER_TIME = 16.0  # AIStore's ReadHeaderTimeout: request line + headers must be in by then
SERVER_IDLE_CONN_TIME = 60.0  # above any AIStore client's idle_conn_time (<= 30 s): clients hang up first


class HTTPConf(msgspec.Struct, frozen=True, kw_only=True):
    """AIStore's net.http, plus two keys of Strata's own at the end (left out of the wire until set).

    ``server_read_header_time``: a request's line and headers must all arrive within this, counted from
    the connection's accept (a fresh connection) or from the request's first byte (a kept-alive one);
    trickling bytes does not extend it. ``server_idle_conn_time``: a kept-alive connection with no
    request started for this long is closed. Neither cuts a body upload or a response in progress.
    ``None`` means the defaults above.
    """

    server_crt: str = ""
    server_key: str = ""
    client_ca_tls: str = ""
    client_auth_tls: int = 0
    domain_tls: str = ""
    idle_conn_time: Duration = 6.0
    backend_idle_conn_time: Duration = 0.0
    idle_conns_per_host: int = 32
    idle_conns: int = 256
    write_buffer_size: int = 65536
    read_buffer_size: int = 65536
    use_https: bool = False
    skip_verify: bool = False
    chunked_transfer: bool = True
    pub: dict[str, Any] | None = None
    server_read_header_time: Duration | None = None  # None = SERVER_READ_HEADER_TIME
    server_idle_conn_time: Duration | None = None  # None = SERVER_IDLE_CONN_TIME

    def server_timeouts(self) -> tuple[float, float]:
        """(``server_read_header_time``, ``server_idle_conn_time``), each its default when unset."""
        header, idle = self.server_read_header_time, self.server_idle_conn_time
        return (
            SERVER_READ_HEADER_TIME if header is None else header,
            SERVER_IDLE_CONN_TIME if idle is None else idle,
        )


class NetConf(msgspec.Struct, frozen=True, kw_only=True):
    l4: L4Conf = msgspec.field(default_factory=L4Conf)
    http: HTTPConf = msgspec.field(default_factory=HTTPConf)
    use_ipv6: bool = False


class FSHCConf(msgspec.Struct, frozen=True, kw_only=True):
    test_files: int = 4
    error_limit: int = 2
    io_err_limit: int = 10
    io_err_time: Duration = 10.0
    enabled: bool = True


class S3Conf(msgspec.Struct, frozen=True, kw_only=True):
    """Strata's S3 front (not an AIStore section: left out of the wire until set).

    ``users`` maps a user name to ``{"access_key": ..., "secret_key": ..., "admin": false}``; with no
    users, S3 requests are not authenticated (AIStore's behaviour). ``root_access`` also serves S3 at
    ``/`` (every path outside ``/v1``); ``virtual_host_domain`` enables ``<bucket>.<domain>`` requests.
    """

    root_access: bool = False
    virtual_host_domain: str = ""
    region: str = "us-east-1"
    users: dict[str, Any] = msgspec.field(default_factory=dict)
