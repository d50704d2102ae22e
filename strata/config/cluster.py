"""AIStore's cluster config: the model, its defaults, loading, validation, set-config and the wire JSON.

What clients see is AIStore's shape exactly (``GET /v1/cluster?what=cluster_config`` and, with the
node-local keys added, ``GET /v1/daemon?what=config``): every section present, durations and sizes
as strings, ``,string`` integers quoted. Inside Strata the same data is a frozen, typed Struct --
durations in seconds, sizes in bytes -- so the server reads ``cfg.space.highwm`` or
``cfg.lru.dont_evict_time`` without parsing anything.

Every way in goes through the same steps: decode (case-insensitive keys, unknown keys rejected),
merge over the current value, fill AIStore's "0 means default" fields, validate. A failure is a
``ConfigError`` (HTTP 400) whose message names the key and the rule.
"""

from __future__ import annotations

from typing import Any

import msgspec

from strata.core.errors import InvalidRequest

from . import _cluster_rules, _codec, _rules
from . import _cluster_sections as cs
from . import _sections as shared
from ._codec import QuotedInt

__all__ = [
    "ClusterConfig",
    "ConfigError",
    "cluster_config_to_json",
    "default_cluster_config",
    "load_cluster_config",
    "local_config_json",
    "update_cluster_config",
    "validate_cluster_config",
]

# Keys set by the system, never by set-config (AIStore's ConfigToSet has no such fields).
_READONLY = frozenset({"uuid", "lastupdate_time", "config_version"})
_MASK = "**********"


class ConfigError(InvalidRequest):
    """A cluster config that does not decode or breaks a rule; the message starts with ``config:``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"config: {reason}")


def _field(factory: Any) -> Any:
    """A fresh default section per config (``msgspec.field`` with a factory)."""
    return msgspec.field(default_factory=factory)


class ClusterConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The cluster-wide part of AIStore's config (``cmn.ClusterConfig``), in wire order."""

    backend: dict[str, Any] = msgspec.field(default_factory=dict)  # provider -> its config
    mirror: shared.MirrorConf = _field(shared.MirrorConf)
    ec: shared.ErasureCodingConf = _field(shared.ErasureCodingConf)
    chunks: shared.ChunksConf = _field(shared.ChunksConf)
    log: cs.LogConf = _field(cs.LogConf)
    periodic: cs.PeriodicConf = _field(cs.PeriodicConf)
    timeout: cs.TimeoutConf = _field(cs.TimeoutConf)
    client: cs.ClientConf = _field(cs.ClientConf)
    proxy: cs.ProxyConf = _field(cs.ProxyConf)
    space: cs.SpaceConf = _field(cs.SpaceConf)
    lru: shared.LRUConf = _field(shared.LRUConf)
    disk: cs.DiskConf = _field(cs.DiskConf)
    rebalance: cs.RebalanceConf = _field(cs.RebalanceConf)
    resilver: cs.ResilverConf = _field(cs.ResilverConf)
    checksum: shared.ChecksumConf = _field(shared.ChecksumConf)
    versioning: shared.VersioningConf = _field(shared.VersioningConf)
    net: cs.NetConf = _field(cs.NetConf)
    fshc: cs.FSHCConf = _field(cs.FSHCConf)
    auth: cs.AuthConf = _field(cs.AuthConf)
    keepalivetracker: cs.KeepaliveConf = _field(cs.KeepaliveConf)
    downloader: cs.DownloaderConf = _field(cs.DownloaderConf)
    distributed_sort: cs.DsortConf | None = None
    transport: cs.TransportConf = _field(cs.TransportConf)
    memsys: cs.MemsysConf = _field(cs.MemsysConf)
    tcb: cs.XactConf = _field(cs.XactConf)
    tco: cs.XactConf = _field(cs.XactConf)
    arch: cs.XactConf = _field(cs.XactConf)
    lso: cs.ListObjectsConf = _field(cs.ListObjectsConf)
    rate_limit: shared.RateLimitConf = _field(shared.RateLimitConf)
    get_batch: cs.GetBatchConf = _field(cs.GetBatchConf)
    write_policy: shared.WritePolicyConf = _field(shared.WritePolicyConf)
    tracing: dict[str, Any] | None = None
    s3: cs.S3Conf | None = None  # Strata's own: the S3 front's users and addressing
    # Strata's own: what new buckets inherit as their ``compression`` prop; left out of the wire until
    # set, so an untouched config stays AIStore's shape. None reads as ``CompressionConf()``.
    compression: shared.CompressionConf | None = None
    features: QuotedInt = 0
    lastupdate_time: str = ""
    uuid: str = ""
    config_version: QuotedInt = 1


def default_cluster_config() -> ClusterConfig:
    """AIStore's code defaults (dev-template values where the code has none); already valid."""
    return ClusterConfig()


def validate_cluster_config(cfg: ClusterConfig) -> None:
    """Raise ``ConfigError`` naming the first broken rule; "0 = default" fields count as their default."""
    try:
        _cluster_rules.validate(_cluster_rules.normalize(cfg))
    except _rules.Violation as err:
        raise ConfigError(str(err)) from None


def load_cluster_config(path: str | None) -> ClusterConfig:
    """Defaults when ``path`` is None; else the JSON file (partial or full) merged over the defaults."""
    if path is None:
        return default_cluster_config()
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        document = _codec.decode_json_object(data, path)
    except _codec.FieldError as err:
        raise ConfigError(str(err)) from None
    return _apply(default_cluster_config(), document, readonly=frozenset())


def update_cluster_config(cfg: ClusterConfig, partial: dict[str, Any]) -> ClusterConfig:
    """set-config: a new config with ``partial`` merged in; ``cfg`` is not touched.

    ``partial`` may be nested (``{"space": {"highwm": 91}}``), flat with dotted keys and string values
    as the ``ais`` CLI sends (``{"space.highwm": "91"}``), or a mix. ``uuid``, ``lastupdate_time`` and
    ``config_version`` are read-only here; bumping the version is the metadata store's job.
    """
    try:
        document = _codec.expand_dotted(partial)
    except _codec.FieldError as err:
        raise ConfigError(str(err)) from None
    return _apply(cfg, document, readonly=_READONLY)


def _apply(cfg: ClusterConfig, document: dict[str, Any], *, readonly: frozenset[str]) -> ClusterConfig:
    # 1. decode and merge (auth may come in the v4.x spelling)
    try:
        merged = _codec.merge(cfg, _migrate_auth(document), readonly=readonly)
    except _codec.FieldError as err:
        raise ConfigError(str(err)) from None
    # 2. fill in "0 = default", 3. check every rule
    normalized = _cluster_rules.normalize(merged)
    try:
        _cluster_rules.validate(normalized)
    except _rules.Violation as err:
        raise ConfigError(str(err)) from None
    return normalized


def _migrate_auth(document: dict[str, Any]) -> dict[str, Any]:
    """Translate the v4.0/v4.1 auth spellings to 5.0, which AIStore 5.0 also accepts on input.

    v4.1 ``enabled`` -> ``client_auth_required``; ``cluster_key{enabled,...}`` -> ``intra_cluster``
    with ``request_auth``; v4.0 ``secret`` -> ``signature{key, method: HS256}``.
    """
    auth_key = next((key for key in document if str(key).lower() == "auth"), None)
    if auth_key is None or not isinstance(document[auth_key], dict):
        return document
    auth: dict[str, Any] = {}
    for key, value in document[auth_key].items():
        lower = str(key).lower()
        if lower == "enabled":
            auth.setdefault("client_auth_required", value)
        elif lower == "client_auth_required":
            auth["client_auth_required"] = value
        elif lower == "secret":
            auth.setdefault("signature", {"key": value, "method": "HS256"})
        elif lower == "cluster_key" and isinstance(value, dict):
            intra = {("request_auth" if str(k).lower() == "enabled" else k): v for k, v in value.items()}
            auth.setdefault("intra_cluster", intra)
        else:
            auth[key] = value
    return {**document, auth_key: auth}


def _wire(cfg: ClusterConfig, *, mask_secrets: bool) -> dict[str, Any]:
    wire = _codec.to_wire(cfg)
    signature = wire["auth"].get("signature")
    is_public_key = str((signature or {}).get("method", "")).startswith("RS")
    if mask_secrets and signature and signature.get("key") and not is_public_key:
        signature["key"] = _MASK  # AIStore shows a public RSA key, never an HMAC secret
    for user in (wire.get("s3") or {}).get("users", {}).values():
        if mask_secrets and isinstance(user, dict) and user.get("secret_key"):
            user["secret_key"] = _MASK
    return wire


def cluster_config_to_json(cfg: ClusterConfig, *, mask_secrets: bool = True) -> bytes:
    """Fully populated AIStore JSON. Pass ``mask_secrets=False`` only to persist the config."""
    return msgspec.json.encode(_wire(cfg, mask_secrets=mask_secrets))


def cluster_config_from_json(data: bytes) -> ClusterConfig:
    """Read back what ``cluster_config_to_json(..., mask_secrets=False)`` wrote (or any partial)."""
    try:
        document = _codec.decode_json_object(data, "cluster config")
    except _codec.FieldError as err:
        raise ConfigError(str(err)) from None
    return _apply(default_cluster_config(), document, readonly=frozenset())


def local_config_json(
    cfg: ClusterConfig,
    *,
    confdir: str,
    mountpaths: list[str],
    host: str,
    port: int,
    log_dir: str = "",
    port_intra_control: int | None = None,
    port_intra_data: int | None = None,
) -> bytes:
    """``GET /v1/daemon?what=config``: the cluster config followed by AIStore's node-local keys.

    Go embeds ``ClusterConfig`` then ``LocalConfig`` inline, so the local keys come last:
    ``confdir, log_dir, host_net, fspaths, test_fspaths``. Ports are ``,string`` ints; mountpaths
    map to their (empty) labels. Strata serves intra-cluster traffic on the public port by default.
    """
    wire = _wire(cfg, mask_secrets=True)
    wire["confdir"] = confdir
    wire["log_dir"] = log_dir
    wire["host_net"] = {
        "hostname": host,
        "hostname_intra_control": "",
        "hostname_intra_data": "",
        "port": str(port),
        "port_intra_control": str(port if port_intra_control is None else port_intra_control),
        "port_intra_data": str(port if port_intra_data is None else port_intra_data),
    }
    wire["fspaths"] = {"paths": {path: "" for path in mountpaths}}
    wire["test_fspaths"] = {"root": "", "count": 0, "instance": 0}
    return msgspec.json.encode(wire)
