"""Bucket props: AIStore's ``cmn.Bprops``, inherited from the cluster config, validated on every change.

The JSON of ``BucketProps`` is the ``Ais-Bucket-Props`` header of ``HEAD /v1/buckets/B`` and what we
persist in the bucket metadata, so it is byte-for-byte AIStore's shape: keys in AIStore's encoding order,
the literal key ``Renamed`` (a Go field with no json tag), ``access``/``features``/``bid``/``created``
as quoted integers, every section present -- plus Strata's ``compression`` section, last.

Lifecycle, as in AIStore:
1. create-bck: ``new_bucket_props`` copies the inheritable sections of the cluster config (once -- a
   later cluster change does not reach existing buckets), then applies the create request's partial props.
2. set-bprops: ``update_bucket_props`` merges a partial and checks the rules, including the ones that
   depend on the previous value (EC slices are fixed while EC is on).
3. reset-bprops: ``reset_bucket_props`` inherits afresh, keeping identity and the backend bucket.
"""

from __future__ import annotations

from typing import Any

import msgspec

from strata.core.errors import InvalidRequest
from strata.core.names import PROVIDERS

from . import _codec, _rules
from . import _sections as shared
from ._codec import QuotedInt
from ._sections import CHECKSUM_TYPES, OmitEmptyStr, OmitZeroInt, OmitZeroSize
from .access import (
    ACCESS_ADMIN,
    ACCESS_ALL,
    ACCESS_APPEND,
    ACCESS_BUCKET_ADMIN,
    ACCESS_CLUSTER_RO,
    ACCESS_CLUSTER_RW,
    ACCESS_CREATE_BUCKET,
    ACCESS_DELETE_OBJECT,
    ACCESS_DESTROY_BUCKET,
    ACCESS_GET,
    ACCESS_HEAD_BUCKET,
    ACCESS_HEAD_OBJECT,
    ACCESS_LIST_BUCKETS,
    ACCESS_LIST_OBJECTS,
    ACCESS_MOVE_BUCKET,
    ACCESS_MOVE_OBJECT,
    ACCESS_NONE,
    ACCESS_PATCH,
    ACCESS_PROMOTE,
    ACCESS_PUT,
    ACCESS_RO,
    ACCESS_RW,
    ACCESS_SET_BUCKET_ACL,
    ACCESS_SHOW_CLUSTER,
    ACCESS_UPDATE_OBJECT,
    MAX_UINT64,
    parse_access,
)
from .cluster import ClusterConfig
from .features import BUCKET_FEATURES, check_features
from .units import GiB, MiB

__all__ = [
    "ACCESS_ADMIN",
    "ACCESS_ALL",
    "ACCESS_APPEND",
    "ACCESS_BUCKET_ADMIN",
    "ACCESS_CLUSTER_RO",
    "ACCESS_CLUSTER_RW",
    "ACCESS_CREATE_BUCKET",
    "ACCESS_DELETE_OBJECT",
    "ACCESS_DESTROY_BUCKET",
    "ACCESS_GET",
    "ACCESS_HEAD_BUCKET",
    "ACCESS_HEAD_OBJECT",
    "ACCESS_LIST_BUCKETS",
    "ACCESS_LIST_OBJECTS",
    "ACCESS_MOVE_BUCKET",
    "ACCESS_MOVE_OBJECT",
    "ACCESS_NONE",
    "ACCESS_PATCH",
    "ACCESS_PROMOTE",
    "ACCESS_PUT",
    "ACCESS_RO",
    "ACCESS_RW",
    "ACCESS_SET_BUCKET_ACL",
    "ACCESS_SHOW_CLUSTER",
    "ACCESS_UPDATE_OBJECT",
    "AIS_BUCKET_ID_BIT",
    "CHECKSUM_TYPES",
    "BackendBucket",
    "BucketProps",
    "BucketPropsError",
    "ExtraProps",
    "Namespace",
    "bucket_id",
    "bucket_props_from_json",
    "bucket_props_to_json",
    "new_bucket_props",
    "normalize_provider",
    "reset_bucket_props",
    "update_bucket_props",
]

# Provider spellings clients use -> the stored/wire form (api/apc/provider.go): one table, in names.
_PROVIDERS = PROVIDERS
_CLOUD_PROVIDERS = ("aws", "gcp", "azure", "oci")
AIS_BUCKET_ID_BIT = 1 << 63
# Set by the system, never by create-bck or set-bprops (absent from AIStore's BpropsToSet).
_READONLY = frozenset({"provider", "Renamed", "bid", "created"})


class BucketPropsError(InvalidRequest):
    """Bucket props that do not decode or break a rule; the message starts with ``bucket props:``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"bucket props: {reason}")


class Namespace(msgspec.Struct, frozen=True, kw_only=True):
    uuid: str = ""
    name: str = ""


class BackendBucket(msgspec.Struct, frozen=True, kw_only=True):
    """``backend_bck``: the cloud bucket an ais bucket fronts; all empty when there is none."""

    name: str = ""
    provider: str = ""
    namespace: Namespace = msgspec.field(default_factory=Namespace)


class ExtraAWS(msgspec.Struct, frozen=True, kw_only=True):
    cloud_region: OmitEmptyStr = ""
    endpoint: OmitEmptyStr = ""
    profile: OmitEmptyStr = ""
    max_pagesize: OmitZeroInt = 0
    multipart_size: OmitZeroSize = 0  # -1 = never multipart, 0 = default


class ExtraGCP(msgspec.Struct, frozen=True, kw_only=True):
    application_creds: OmitEmptyStr = ""


class ExtraOCI(msgspec.Struct, frozen=True, kw_only=True):
    region: OmitEmptyStr = ""


class ExtraProps(msgspec.Struct, frozen=True, kw_only=True):
    """Provider-specific knobs. Leaves are omitempty, so a plain ais bucket shows
    ``{"aws":{},"gcp":{},"oci":{}}``."""

    aws: ExtraAWS = msgspec.field(default_factory=ExtraAWS)
    gcp: ExtraGCP = msgspec.field(default_factory=ExtraGCP)
    oci: ExtraOCI = msgspec.field(default_factory=ExtraOCI)
    custom: OmitEmptyStr = ""


class BucketProps(msgspec.Struct, frozen=True, kw_only=True):
    """``cmn.Bprops`` in AIStore's key order. Build with ``new_bucket_props``, not the constructor."""

    backend_bck: BackendBucket = msgspec.field(default_factory=BackendBucket)
    write_policy: shared.WritePolicyConf = msgspec.field(default_factory=shared.WritePolicyConf)
    provider: str = "ais"
    renamed: str = msgspec.field(default="", name="Renamed")
    checksum: shared.ChecksumConf = msgspec.field(default_factory=shared.ChecksumConf)
    extra: ExtraProps = msgspec.field(default_factory=ExtraProps)
    rate_limit: shared.RateLimitConf = msgspec.field(default_factory=shared.RateLimitConf)
    ec: shared.ErasureCodingConf = msgspec.field(default_factory=shared.ErasureCodingConf)
    chunks: shared.ChunksConf = msgspec.field(default_factory=shared.ChunksConf)
    mirror: shared.MirrorConf = msgspec.field(default_factory=shared.MirrorConf)
    lru: shared.LRUConf = msgspec.field(default_factory=shared.LRUConf)
    access: QuotedInt = ACCESS_ALL
    features: QuotedInt = 0
    bid: QuotedInt = 0
    created: QuotedInt = 0  # Unix nanoseconds
    versioning: shared.VersioningConf = msgspec.field(default_factory=shared.VersioningConf)
    # Strata's own, last so AIStore's keys keep their order; clients that parse the header as JSON (the
    # SDK, ``ais``) pass unknown keys through.
    compression: shared.CompressionConf = msgspec.field(default_factory=shared.CompressionConf)


def normalize_provider(provider: str) -> str:
    """``"s3"`` -> ``"aws"``, ``"gs"`` -> ``"gcp"``, ``""`` -> ``"ais"``; ``BucketPropsError`` if unknown."""
    try:
        return _PROVIDERS[provider.lower()]
    except KeyError:
        known = ", ".join(sorted(set(_PROVIDERS.values())))
        raise BucketPropsError(f'unknown provider "{provider}" (expected one of: {known})') from None


def bucket_id(bmd_version: int, provider: str) -> int:
    """AIStore's bucket id: the BMD version at creation, with bit 63 set for ais buckets."""
    return bmd_version | (AIS_BUCKET_ID_BIT if normalize_provider(provider) == "ais" else 0)


def new_bucket_props(
    cfg: ClusterConfig,
    *,
    provider: str,
    created_ns: int,
    bid: int,
    overrides: dict[str, Any] | None = None,
) -> BucketProps:
    """Props of a new bucket: a one-time copy of the cluster config, then the create request's props.

    For cloud buckets the caller passes what the remote HEAD said (``versioning.enabled``,
    ``extra.aws.cloud_region``...) in ``overrides``.
    """
    provider = normalize_provider(provider)
    props = _inherit(cfg, provider=provider, created_ns=created_ns, bid=bid)
    if overrides:
        props = _apply(props, overrides, previous=None, force=False)
    else:
        _validate(props, previous=None, force=False)
    return props


def update_bucket_props(props: BucketProps, partial: dict[str, Any], *, force: bool = False) -> BucketProps:
    """set-bprops: ``props`` with ``partial`` merged in and validated; ``props`` itself is not touched.

    Keys match case-insensitively, may be nested or dotted (``{"mirror.copies": "3"}``); ``access``
    takes ``"ro"``/``"rw"``/``"su"`` or a number; ``backend_bck`` takes ``"gcp://name"`` or ``"none"``.
    ``force`` allows changing ``ec.objsize_limit`` while EC is on (AIStore's ``?force=true``).
    """
    return _apply(props, partial, previous=props, force=force)


def reset_bucket_props(props: BucketProps, cfg: ClusterConfig) -> BucketProps:
    """reset-bprops: inherit afresh from ``cfg``, keeping provider, created, bid and backend_bck."""
    fresh = _inherit(cfg, provider=props.provider, created_ns=props.created, bid=props.bid)
    return msgspec.structs.replace(fresh, backend_bck=props.backend_bck)


def bucket_props_to_json(props: BucketProps) -> bytes:
    """The exact AIStore JSON, i.e. the ``Ais-Bucket-Props`` header value."""
    return msgspec.json.encode(_codec.to_wire(props))


def bucket_props_from_json(data: bytes) -> BucketProps:
    """Read back what ``bucket_props_to_json`` wrote (the persisted bucket metadata).

    Decoded strictly but not re-validated: stored props must always load, even if a later Strata
    tightens a rule.
    """
    try:
        document = _codec.decode_json_object(data, "bucket props")
        return _codec.merge(BucketProps(), document)
    except _codec.FieldError as err:
        raise BucketPropsError(str(err)) from None


# --- steps -----------------------------------------------------------------------------------------


def _inherit(cfg: ClusterConfig, *, provider: str, created_ns: int, bid: int) -> BucketProps:
    lru = cfg.lru
    if provider == "ais":
        lru = msgspec.structs.replace(lru, enabled=False)  # ais buckets are never evicted by default
    return BucketProps(
        provider=provider,
        checksum=cfg.checksum,
        lru=lru,
        mirror=cfg.mirror,
        versioning=cfg.versioning,
        ec=cfg.ec,
        chunks=shared.normalize_chunks(cfg.chunks),
        write_policy=shared.normalize_write_policy(cfg.write_policy),
        rate_limit=cfg.rate_limit,
        compression=cfg.compression or shared.CompressionConf(),
        features=cfg.features & BUCKET_FEATURES,
        access=ACCESS_ALL,
        bid=bid,
        created=created_ns,
    )


def _apply(props: BucketProps, partial: Any, *, previous: BucketProps | None, force: bool) -> BucketProps:
    # 1. decode: dotted keys, the CLI's spellings of access and backend_bck, then merge
    if not isinstance(partial, dict):
        raise BucketPropsError(f"props must be a JSON object, got {type(partial).__name__}")
    try:
        document = _preprocess(_codec.expand_dotted(partial))
        merged = _codec.merge(props, document, readonly=_READONLY)
    except _codec.FieldError as err:
        raise BucketPropsError(str(err)) from None
    # 2. canonical forms, 3. the rules
    merged = msgspec.structs.replace(
        merged,
        chunks=shared.normalize_chunks(merged.chunks),
        write_policy=shared.normalize_write_policy(merged.write_policy),
        backend_bck=_normalize_backend(merged.backend_bck),
    )
    _validate(merged, previous=previous, force=force)
    return merged


def _preprocess(document: dict[str, Any]) -> dict[str, Any]:
    out = dict(document)
    for key, value in document.items():
        lower = str(key).lower()
        if lower == "access" and isinstance(value, str):
            try:
                out[key] = parse_access(value)
            except ValueError as err:
                raise _codec.FieldError(str(err)) from None
        elif lower == "backend_bck" and isinstance(value, str) and not value.lstrip().startswith("{"):
            out[key] = _parse_backend_uri(value)
    return out


def _parse_backend_uri(text: str) -> dict[str, Any]:
    """``"gcp://name"`` (as the CLI writes it) or ``"none"``/``""`` (detach) -> a backend_bck object."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return {"name": "", "provider": "", "namespace": {"uuid": "", "name": ""}}
    provider, sep, name = text.partition("://")
    cluster = ""
    if name.startswith("@"):  # ais://@alias[#ns]/bucket: a remote AIS cluster's bucket
        cluster, _, name = name[1:].partition("/")
    if not sep or not name or "/" in name.strip("/"):
        raise _codec.FieldError(f'backend_bck must look like "gcp://bucket" or "none", got "{text}"')
    uuid, _, namespace = cluster.partition("#")
    return {"name": name.strip("/"), "provider": provider, "namespace": {"uuid": uuid, "name": namespace}}


def _normalize_backend(backend: BackendBucket) -> BackendBucket:
    if not backend.provider:
        return backend
    provider = _PROVIDERS.get(backend.provider.lower(), backend.provider)
    return msgspec.structs.replace(backend, provider=provider) if provider != backend.provider else backend


def _validate(props: BucketProps, *, previous: BucketProps | None, force: bool) -> None:
    try:
        _check_rules(props, previous=previous, force=force)
    except _rules.Violation as err:
        raise BucketPropsError(str(err)) from None


def _check_rules(props: BucketProps, *, previous: BucketProps | None, force: bool) -> None:
    if props.provider not in _PROVIDERS.values():
        raise _rules.Violation(f'provider "{props.provider}" is not a known provider')
    _check_backend(props)
    shared.validate_checksum(props.checksum)
    shared.validate_versioning(props.versioning)
    shared.validate_mirror(props.mirror)
    shared.validate_erasure_coding(props.ec)
    shared.validate_chunks(props.chunks)
    shared.validate_lru(props.lru)
    shared.validate_write_policy(props.write_policy)
    shared.validate_rate_limit(props.rate_limit)
    shared.validate_compression(props.compression)
    if props.mirror.enabled and props.chunks.objsize_limit > 0:
        raise _rules.Violation(
            "mirror cannot be combined with chunking: disable mirror or set chunks.objsize_limit to 0 "
            f"(now {_rules.show_size(props.chunks.objsize_limit)})"
        )
    _rules.int_range("access", props.access, 0, MAX_UINT64)
    reason = check_features(props.features, "features", bucket_scope=True)
    if reason:
        raise _rules.Violation(reason)
    _check_extra(props.extra)
    if previous is not None:
        _check_ec_transition(previous.ec, props.ec, force=force)


def _check_backend(props: BucketProps) -> None:
    backend = props.backend_bck
    if not backend.name and not backend.provider:
        return
    remote_ais = backend.provider == "ais" and bool(backend.namespace.uuid)
    at = f"@{backend.namespace.uuid}/" if remote_ais else ""
    uri = f"{backend.provider}://{at}{backend.name}"
    if props.provider != "ais":
        raise _rules.Violation(f"backend_bck ({uri}) can only be set on an ais bucket, not {props.provider}")
    if backend.provider not in _CLOUD_PROVIDERS and not remote_ais:
        clouds = ", ".join(_CLOUD_PROVIDERS)
        raise _rules.Violation(
            f"backend_bck ({uri}) must be a cloud bucket ({clouds}) or a remote AIS cluster's (ais://@alias/b)"
        )
    if not backend.name:
        raise _rules.Violation(f"backend_bck ({uri}) needs a bucket name")


def _check_extra(extra: ExtraProps) -> None:
    aws = extra.aws
    if aws.multipart_size not in (-1, 0):
        _rules.size_range("extra.aws.multipart_size", aws.multipart_size, 5 * MiB, 5 * GiB)
    _rules.int_range("extra.aws.max_pagesize", aws.max_pagesize, 0, 10000)
    if aws.endpoint and not aws.endpoint.startswith(("http://", "https://")):
        raise _rules.Violation(f'extra.aws.endpoint ("{aws.endpoint}") must be an http:// or https:// URL')
    _check_text("extra.aws.profile", aws.profile, 256)
    _check_text("extra.aws.cloud_region", aws.cloud_region, 64)
    _check_text("extra.oci.region", extra.oci.region, 64)
    _check_text("extra.custom", extra.custom, 128)


def _check_text(key: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise _rules.Violation(f"{key} is {len(value)} characters long; the limit is {limit}")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise _rules.Violation(f"{key} must not contain control characters")


def _check_ec_transition(
    before: shared.ErasureCodingConf, after: shared.ErasureCodingConf, *, force: bool
) -> None:
    """While EC is on, its slice counts are fixed and the size threshold moves only with ``force``."""
    if not before.enabled:
        return
    if (after.data_slices, after.parity_slices) != (before.data_slices, before.parity_slices):
        raise _rules.Violation(
            "ec.data_slices and ec.parity_slices cannot change once EC is enabled "
            f"(now {before.data_slices} and {before.parity_slices})"
        )
    if after.objsize_limit != before.objsize_limit and not force:
        raise _rules.Violation(
            f"changing ec.objsize_limit ({before.objsize_limit} -> {after.objsize_limit}) while EC is "
            "enabled requires force"
        )
