"""Bucket props: AIStore's exact JSON, inheritance from the cluster config, set/reset and their rules."""

# ruff: noqa: E501

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from strata.config import (
    ACCESS_ALL,
    ACCESS_RO,
    ACCESS_RW,
    CHECKSUM_TYPES,
    BucketProps,
    BucketPropsError,
    bucket_id,
    bucket_props_from_json,
    bucket_props_to_json,
    default_cluster_config,
    new_bucket_props,
    reset_bucket_props,
    update_bucket_props,
    update_cluster_config,
)
from strata.config import bucket_props as bp
from strata.core.errors import InvalidRequest

CREATED = 1_700_000_000_123_456_789
KEY_ORDER = [
    "backend_bck", "write_policy", "provider", "Renamed", "checksum", "extra", "rate_limit", "ec", "chunks",
    "mirror", "lru", "access", "features", "bid", "created", "versioning", "compression",
]  # fmt: skip

# A new ais:// bucket under the code-default cluster config, as the spec's table lists it.
EXPECTED_NEW_AIS_BUCKET: dict[str, Any] = {
    "backend_bck": {"name": "", "provider": "", "namespace": {"uuid": "", "name": ""}},
    "write_policy": {"data": "immediate", "md": "immediate"},
    "provider": "ais",
    "Renamed": "",
    "checksum": {"type": "xxhash2", "validate_cold_get": False, "validate_warm_get": False,
                 "validate_obj_move": False, "enable_read_range": False},
    "extra": {"aws": {}, "gcp": {}, "oci": {}},
    "rate_limit": {
        "backend": {"interval": "1m", "max_tokens": 1000, "enabled": False, "num_retries": 3},
        "frontend": {"interval": "1m", "max_tokens": 1000, "enabled": False, "burst_size": 375},
    },
    "ec": {"compression": "never", "bundle_multiplier": 2, "burst_buffer": 512, "objsize_limit": 262144,
           "data_slices": 2, "parity_slices": 2, "enabled": False, "disk_only": False},
    "chunks": {"objsize_limit": "0B", "max_monolithic_size": "1TiB", "chunk_size": "1GiB"},
    "mirror": {"copies": 2, "burst_buffer": 512, "enabled": False},
    "lru": {"dont_evict_time": "2h0m", "capacity_upd_time": "10m", "batch_size": 32768, "enabled": False},
    "access": "18446744073709551615",
    "features": "0",
    "bid": str((1 << 63) | 7),
    "created": str(CREATED),
    "versioning": {"enabled": True, "validate_warm_get": False, "synchronize": False},
    # Strata's own section, last (not in AIStore's Bprops)
    "compression": {"enabled": False, "codec": "auto", "level": 3, "frame_size": "auto", "min_size": "4KiB"},
}  # fmt: skip


def new_ais(overrides: dict[str, Any] | None = None) -> BucketProps:
    return new_bucket_props(
        default_cluster_config(),
        provider="ais",
        created_ns=CREATED,
        bid=bucket_id(7, "ais"),
        overrides=overrides,
    )


def wire(props: BucketProps) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(bucket_props_to_json(props))
    return result


def test_new_ais_bucket_is_exactly_aistores_json() -> None:
    document = wire(new_ais())
    assert document == EXPECTED_NEW_AIS_BUCKET
    assert list(document) == KEY_ORDER


def test_header_value_is_compact_single_line_ascii() -> None:
    data = bucket_props_to_json(new_ais())
    assert b"\n" not in data and b": " not in data
    data.decode("ascii")


def test_bucket_id_sets_bit_63_for_ais_only() -> None:
    assert bucket_id(7, "ais") == (1 << 63) | 7
    assert bucket_id(7, "") == (1 << 63) | 7
    assert bucket_id(7, "s3") == 7


def test_round_trip_through_json() -> None:
    props = update_bucket_props(
        new_ais(),
        {
            "extra": {
                "aws": {"cloud_region": "us-east-2", "multipart_size": "-1", "max_pagesize": 500},
                "custom": "x",
            },
            "backend_bck": {"name": "remote", "provider": "s3"},
            "access": "rw",
            "features": str(1 << 4),
            "chunks": {"checkpoint_every": 8},
            "rate_limit.backend.per_op_max_tokens": "GET:100",
        },
    )
    data = bucket_props_to_json(props)
    again = bucket_props_from_json(data)
    assert again == props
    assert bucket_props_to_json(again) == data
    document = json.loads(data)
    assert document["extra"]["aws"] == {
        "cloud_region": "us-east-2",
        "max_pagesize": 500,
        "multipart_size": "-1B",
    }
    assert document["backend_bck"]["provider"] == "aws"


def test_from_json_rejects_garbage() -> None:
    with pytest.raises(BucketPropsError, match="not valid JSON"):
        bucket_props_from_json(b"{")
    with pytest.raises(BucketPropsError, match='unknown key "nope"'):
        bucket_props_from_json(b'{"nope": 1}')


# --- the SDK is the judge of wire shapes ------------------------------------------------------------


def test_sdk_models_parse_our_props() -> None:
    """SDK 2.0.0 hands ``Ais-Bucket-Props`` back as the raw string (``Bucket.info``) or in the headers
    (``Bucket.head``); the one typed piece it has is the bucket model, which ``backend_bck`` must fit."""
    from aistore.sdk.namespace import Namespace
    from aistore.sdk.types import BucketModel

    props = update_bucket_props(new_ais(), {"backend_bck": "gs://upstream"})
    header = bucket_props_to_json(props).decode()
    parsed = json.loads(header)
    model = BucketModel.model_validate(parsed["backend_bck"])
    assert (model.name, model.provider) == ("upstream", "gcp")
    assert model.namespace == Namespace(uuid="", name="")
    assert model.get_path() == "gcp/@#/upstream/"


# --- inheritance -----------------------------------------------------------------------------------


def test_inherits_the_cluster_config_once() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {
            "checksum.type": "md5",
            "lru.enabled": True,
            "mirror": {"enabled": True, "copies": 3},
            "versioning.enabled": False,
            "features": str((1 << 0) | (1 << 4) | (1 << 27)),
            "write_policy.md": "delayed",
            "ec.objsize_limit": 1024,
        },
    )
    ais = new_bucket_props(cfg, provider="ais", created_ns=1, bid=2)
    assert ais.checksum.type == "md5"
    assert ais.lru.enabled is False  # ais buckets are not evictable by default
    assert (ais.mirror.enabled, ais.mirror.copies) == (True, 3)
    assert ais.versioning.enabled is False
    assert ais.features == 1 << 4  # only bucket-scope bits survive
    assert ais.write_policy.md == "delayed"
    assert ais.ec.objsize_limit == 1024
    assert ais.access == ACCESS_ALL
    cloud = new_bucket_props(cfg, provider="s3", created_ns=1, bid=2)
    assert cloud.provider == "aws"
    assert cloud.lru.enabled is True


def test_create_applies_partial_props_and_validates_them() -> None:
    props = new_ais({"mirror": {"enabled": True, "copies": 3}, "access": "ro"})
    assert (props.mirror.enabled, props.mirror.copies, props.access) == (True, 3, ACCESS_RO)
    with pytest.raises(BucketPropsError, match=r"mirror.copies \(1\)"):
        new_ais({"mirror": {"copies": 1}})
    with pytest.raises(BucketPropsError, match='"bid" is read-only'):
        new_ais({"bid": "5"})


def test_cloud_bucket_takes_remote_facts_through_overrides() -> None:
    props = new_bucket_props(
        default_cluster_config(),
        provider="aws",
        created_ns=1,
        bid=3,
        overrides={"versioning": {"enabled": False}, "extra": {"aws": {"cloud_region": "eu-west-1"}}},
    )
    assert props.versioning.enabled is False
    assert props.extra.aws.cloud_region == "eu-west-1"


def test_unknown_provider() -> None:
    with pytest.raises(BucketPropsError, match='unknown provider "ftp"'):
        new_bucket_props(default_cluster_config(), provider="ftp", created_ns=1, bid=1)


# --- set-bprops ------------------------------------------------------------------------------------


def test_update_is_case_insensitive_nested_and_dotted() -> None:
    props = update_bucket_props(
        new_ais(),
        {
            "Mirror": {"Copies": 4},
            "mirror.enabled": "true",
            "CHECKSUM.Type": "sha256",
            "lru": {"dont_evict_time": "3h"},
        },
    )
    assert (props.mirror.copies, props.mirror.enabled) == (4, True)
    assert props.checksum.type == "sha256"
    assert props.lru.dont_evict_time == 3 * 3600


def test_update_never_mutates_its_inputs() -> None:
    props = new_ais()
    before = bucket_props_to_json(props)
    partial: dict[str, Any] = {"mirror": {"enabled": True}, "access": "ro"}
    snapshot = copy.deepcopy(partial)
    updated = update_bucket_props(props, partial)
    assert bucket_props_to_json(props) == before
    assert partial == snapshot
    assert updated.access == ACCESS_RO and props.access == ACCESS_ALL


@pytest.mark.parametrize(
    ("value", "bits"),
    [("ro", 771), ("rw", 831), ("RW", 831), ("su", ACCESS_ALL), ("", 0), ("771", 771), (831, ACCESS_RW),
     (18446744073709551587, 18446744073709551587), ("18446744073709551615", ACCESS_ALL)],
)  # fmt: skip
def test_access_spellings(value: Any, bits: int) -> None:
    assert update_bucket_props(new_ais(), {"access": value}).access == bits


@pytest.mark.parametrize(
    ("value", "message"),
    [("admin", 'access must be "ro", "rw", "su" or a number'), (-1, r"access \(-1\) must be"),
     (str(1 << 64), "must be a uint64"), (True, "access must be an integer")],
)  # fmt: skip
def test_bad_access(value: Any, message: str) -> None:
    with pytest.raises(BucketPropsError, match=message):
        update_bucket_props(new_ais(), {"access": value})


def test_backend_bck_spellings() -> None:
    props = update_bucket_props(new_ais(), {"backend_bck": "gs://upstream"})
    assert (props.backend_bck.provider, props.backend_bck.name) == ("gcp", "upstream")
    props = update_bucket_props(props, {"backend_bck": {"name": "b2", "provider": "s3"}})
    assert (props.backend_bck.provider, props.backend_bck.name) == ("aws", "b2")
    detached = update_bucket_props(props, {"backend_bck": "none"})
    assert wire(detached)["backend_bck"] == {
        "name": "",
        "provider": "",
        "namespace": {"uuid": "", "name": ""},
    }


@pytest.mark.parametrize("key", ["provider", "bid", "created", "Renamed", "renamed"])
def test_system_keys_are_read_only(key: str) -> None:
    with pytest.raises(BucketPropsError, match="read-only"):
        update_bucket_props(new_ais(), {key: "1"})


def test_checksum_types_all_accepted() -> None:
    assert CHECKSUM_TYPES == ("none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512")
    for kind in CHECKSUM_TYPES:
        assert update_bucket_props(new_ais(), {"checksum.type": kind}).checksum.type == kind


def test_ec_slices_are_fixed_once_enabled() -> None:
    props = update_bucket_props(new_ais(), {"ec": {"enabled": True, "data_slices": 4, "parity_slices": 2}})
    assert (props.ec.data_slices, props.ec.parity_slices) == (4, 2)  # set together with enabling: fine
    with pytest.raises(
        BucketPropsError, match=r"ec\.data_slices and ec\.parity_slices cannot change once EC is enabled"
    ):
        update_bucket_props(props, {"ec.parity_slices": 3})
    with pytest.raises(BucketPropsError, match="requires force"):
        update_bucket_props(props, {"ec.objsize_limit": 1024})
    assert update_bucket_props(props, {"ec.objsize_limit": 1024}, force=True).ec.objsize_limit == 1024
    off = update_bucket_props(props, {"ec.enabled": False})
    assert update_bucket_props(off, {"ec.parity_slices": 3}).ec.parity_slices == 3


def test_boundaries_are_accepted() -> None:
    props = update_bucket_props(
        new_ais(),
        {"mirror.copies": 32, "extra.aws.multipart_size": "5GiB", "extra.aws.max_pagesize": 10000,
         "extra.aws.profile": "p" * 256, "extra.aws.cloud_region": "r" * 64, "extra.custom": "c" * 128,
         "extra.aws.endpoint": "https://s3.example"},
    )  # fmt: skip
    assert props.mirror.copies == 32
    assert (
        update_bucket_props(new_ais(), {"extra.aws.multipart_size": "5MiB"}).extra.aws.multipart_size
        == 5 << 20
    )
    assert update_bucket_props(new_ais(), {"extra.aws.multipart_size": "0"}).extra.aws.multipart_size == 0


# Every bucket-props rule, one failing case each.
VIOLATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("ais", {"nonsense": 1}, 'unknown key "nonsense"'),
    ("ais", {"mirror": {"copiez": 3}}, 'unknown key "mirror.copiez"'),
    ("ais", {"mirror.copies": "three"}, "mirror.copies must be an integer"),
    ("ais", {"mirror": 3}, "mirror must be a JSON object"),
    ("ais", {"mirror.copies": 1}, "mirror.copies (1) must be in [2, 32]"),
    ("ais", {"mirror.copies": 33}, "mirror.copies (33) must be in [2, 32]"),
    ("ais", {"mirror.enabled": True, "chunks.objsize_limit": "1GiB"}, "mirror cannot be combined with chunking"),
    ("ais", {"checksum.type": "crc64"}, 'checksum.type ("crc64") must be one of'),
    ("ais", {"backend_bck": "ais://other"}, "backend_bck (ais://other) must be a cloud bucket"),
    ("ais", {"backend_bck": "ht://other"}, "backend_bck (ht://other) must be a cloud bucket"),
    ("ais", {"backend_bck": {"provider": "gcp"}}, "backend_bck (gcp://) needs a bucket name"),
    ("ais", {"backend_bck": "not-a-uri"}, 'backend_bck must look like "gcp://bucket"'),
    ("aws", {"backend_bck": "gs://x"}, "backend_bck (gcp://x) can only be set on an ais bucket"),
    ("ais", {"ec.data_slices": 33}, "ec.data_slices (33) must be in [1, 32]"),
    ("ais", {"ec.compression": "often"}, 'ec.compression ("often") must be one of'),
    ("ais", {"chunks.chunk_size": "100B"}, "chunks.chunk_size (100B) must be in [1KiB, 5GiB]"),
    ("ais", {"chunks.objsize_limit": "2TiB"}, "chunks.objsize_limit (2TiB) must not exceed chunks.max_monolithic_size (1TiB)"),
    ("ais", {"lru.dont_evict_time": "30m"}, "lru.dont_evict_time (30m) must be at least 1h0m"),
    ("ais", {"versioning": {"enabled": False, "validate_warm_get": True}}, "versioning.validate_warm_get requires versioning.enabled"),
    ("ais", {"write_policy.data": "never"}, 'write_policy.data ("never") must be one of "immediate"'),
    ("ais", {"write_policy.md": "sometimes"}, 'write_policy.md ("sometimes") must be one of'),
    ("ais", {"rate_limit.frontend.burst_size": 600}, "rate_limit.frontend.burst_size (600) must not exceed 50%"),
    ("ais", {"rate_limit.backend.num_retries": 0}, "rate_limit.backend.num_retries (0) must be in [1, 10]"),
    ("ais", {"features": "1"}, "Enforce-IntraCluster-Access cannot be set on a bucket"),
    ("ais", {"features": str((1 << 11) | (1 << 12))}, "Disable-Cold-GET and Streaming-Cold-GET are mutually exclusive"),
    ("ais", {"extra.aws.multipart_size": "1MiB"}, "extra.aws.multipart_size (1MiB) must be in [5MiB, 5GiB]"),
    ("ais", {"extra.aws.multipart_size": "6GiB"}, "extra.aws.multipart_size (6GiB) must be in [5MiB, 5GiB]"),
    ("ais", {"extra.aws.multipart_size": 5242880}, "extra.aws.multipart_size must be a size string"),
    ("ais", {"extra.aws.max_pagesize": 10001}, "extra.aws.max_pagesize (10001) must be in [0, 10000]"),
    ("ais", {"extra.aws.endpoint": "s3.example"}, 'extra.aws.endpoint ("s3.example") must be an http:// or https:// URL'),
    ("ais", {"extra.aws.profile": "p" * 257}, "extra.aws.profile is 257 characters long; the limit is 256"),
    ("ais", {"extra.aws.cloud_region": "r" * 65}, "extra.aws.cloud_region is 65 characters long; the limit is 64"),
    ("ais", {"extra.oci.region": "r" * 65}, "extra.oci.region is 65 characters long; the limit is 64"),
    ("ais", {"extra.custom": "c" * 129}, "extra.custom is 129 characters long; the limit is 128"),
    ("ais", {"extra.custom": "bad\nvalue"}, "extra.custom must not contain control characters"),
    ("ais", {"compression.codec": "gzip"}, 'compression.codec ("gzip") must be one of "auto", "zstd", "none"'),
    ("ais", {"compression.level": 0}, "compression.level (0) must be in [1, 19]"),
    ("ais", {"compression.level": "20"}, "compression.level (20) must be in [1, 19]"),
    ("ais", {"compression.level": "high"}, "compression.level must be an integer"),
    ("ais", {"compression.enabled": "yes"}, "compression.enabled must be a boolean"),
    ("ais", {"compression.frame_size": "32KiB"}, 'compression.frame_size (32KiB) must be "auto" or in [64KiB, 64MiB]'),
    ("ais", {"compression.frame_size": 65535}, 'compression.frame_size (65535B) must be "auto" or in [64KiB, 64MiB]'),
    ("ais", {"compression.frame_size": "128MiB"}, 'compression.frame_size (128MiB) must be "auto" or in [64KiB, 64MiB]'),
    ("ais", {"compression.frame_size": "big"}, 'compression.frame_size is not "auto" or a valid size: "big"'),
    ("ais", {"compression.frame_size": True}, 'compression.frame_size is not "auto" or a valid size: true'),
    ("ais", {"compression.min_size": "4 furlongs"}, 'compression.min_size is not a valid size: "4 furlongs"'),
    ("ais", {"compression.min_size": "auto"}, 'compression.min_size is not a valid size: "auto"'),
    ("ais", {"compression.min_size": -1}, "compression.min_size (-1B) must be in [0B, 1GiB]"),
    ("ais", {"compression.min_size": "2GiB"}, "compression.min_size (2GiB) must be in [0B, 1GiB]"),
    ("ais", {"compression.ratio": 2}, 'unknown key "compression.ratio"'),
]  # fmt: skip


@pytest.mark.parametrize(("provider", "partial", "message"), VIOLATIONS)
def test_every_rule_has_a_clear_message(provider: str, partial: dict[str, Any], message: str) -> None:
    props = new_bucket_props(default_cluster_config(), provider=provider, created_ns=1, bid=1)
    with pytest.raises(BucketPropsError) as info:
        update_bucket_props(props, partial)
    assert message in str(info.value), str(info.value)
    assert str(info.value).startswith("bucket props: ")
    assert isinstance(info.value, InvalidRequest) and info.value.status == 400


# --- compression (Strata's own prop) -----------------------------------------------------------------


def test_compression_sizes_are_exact_and_auto_both_ways() -> None:
    """Sizes take IEC text, plain digits or a JSON number, and read back exactly (no IEC rounding)."""
    props = update_bucket_props(
        new_ais(),
        {"compression.enabled": "true", "compression.codec": "zstd", "compression.level": "19",
         "compression.frame_size": "4MiB", "compression.min_size": 5000},
    )  # fmt: skip
    conf = props.compression
    assert (conf.enabled, conf.codec, conf.level, conf.frame_size, conf.min_size) == (
        True, "zstd", 19, 4 << 20, 5000,
    )  # fmt: skip
    assert wire(props)["compression"] == {
        "enabled": True, "codec": "zstd", "level": 19, "frame_size": "4MiB", "min_size": "5000B",
    }  # fmt: skip
    assert bucket_props_from_json(bucket_props_to_json(props)) == props
    for spelling, expected in (("auto", 0), ("AUTO", 0), (0, 0), ("65536", 64 << 10), (64 << 20, 64 << 20)):
        assert (
            update_bucket_props(props, {"compression.frame_size": spelling}).compression.frame_size
            == expected
        )
    assert (
        wire(update_bucket_props(props, {"compression.frame_size": "auto"}))["compression"]["frame_size"]
        == "auto"
    )
    assert update_bucket_props(props, {"compression": {"min_size": "0"}}).compression.min_size == 0
    assert update_bucket_props(props, {"compression.level": 1}).compression.level == 1


def test_props_stored_before_compression_existed_still_load() -> None:
    """Bucket metadata written by an older Strata has no ``compression`` key: it loads with the default."""
    document = wire(new_ais())
    del document["compression"]
    props = bucket_props_from_json(json.dumps(document).encode())
    assert props.compression == new_ais().compression


def test_compression_is_inherited_from_the_cluster_config_once() -> None:
    cfg = update_cluster_config(
        default_cluster_config(),
        {
            "compression": {
                "enabled": True,
                "codec": "zstd",
                "level": 7,
                "frame_size": "1MiB",
                "min_size": "0",
            }
        },
    )
    props = new_bucket_props(cfg, provider="ais", created_ns=1, bid=1)
    assert wire(props)["compression"] == {
        "enabled": True, "codec": "zstd", "level": 7, "frame_size": "1MiB", "min_size": "0B",
    }  # fmt: skip
    # a create request's props win over the inherited ones; a later cluster change reaches no bucket
    overridden = new_bucket_props(
        cfg, provider="ais", created_ns=1, bid=1, overrides={"compression.enabled": False}
    )
    assert not overridden.compression.enabled and overridden.compression.level == 7
    later = update_cluster_config(cfg, {"compression.level": 9})
    assert props.compression.level == 7 and later.compression is not None and later.compression.level == 9
    # reset-bprops inherits afresh
    changed = update_bucket_props(props, {"compression.enabled": False})
    assert reset_bucket_props(changed, later).compression.level == 9
    assert reset_bucket_props(changed, default_cluster_config()).compression == new_ais().compression


def test_partial_must_be_an_object() -> None:
    with pytest.raises(BucketPropsError, match="must be a JSON object"):
        update_bucket_props(new_ais(), [1, 2])  # type: ignore[arg-type]


# --- reset-bprops ----------------------------------------------------------------------------------


def test_reset_goes_back_to_inherited_keeping_identity_and_backend() -> None:
    cfg = default_cluster_config()
    changed = update_bucket_props(
        new_ais(),
        {"backend_bck": "s3://upstream", "mirror.enabled": True, "access": "ro", "checksum.type": "md5",
         "extra.custom": "note"},
    )  # fmt: skip
    reset = reset_bucket_props(changed, cfg)
    assert (reset.provider, reset.created, reset.bid) == ("ais", CREATED, bucket_id(7, "ais"))
    assert (reset.backend_bck.provider, reset.backend_bck.name) == ("aws", "upstream")
    expected = dict(EXPECTED_NEW_AIS_BUCKET, backend_bck=wire(changed)["backend_bck"])
    assert wire(reset) == expected


def test_access_constants() -> None:
    assert (bp.ACCESS_GET, bp.ACCESS_HEAD_OBJECT, bp.ACCESS_PUT, bp.ACCESS_APPEND) == (1, 2, 4, 8)
    assert (bp.ACCESS_DELETE_OBJECT, bp.ACCESS_MOVE_OBJECT, bp.ACCESS_PROMOTE, bp.ACCESS_UPDATE_OBJECT) == (
        16,
        32,
        64,
        128,
    )
    assert (bp.ACCESS_HEAD_BUCKET, bp.ACCESS_LIST_OBJECTS, bp.ACCESS_PATCH, bp.ACCESS_SET_BUCKET_ACL) == (
        256,
        512,
        1024,
        2048,
    )
    assert (bp.ACCESS_LIST_BUCKETS, bp.ACCESS_SHOW_CLUSTER, bp.ACCESS_CREATE_BUCKET) == (4096, 8192, 16384)
    assert (bp.ACCESS_DESTROY_BUCKET, bp.ACCESS_MOVE_BUCKET, bp.ACCESS_ADMIN) == (32768, 65536, 131072)
    assert (bp.ACCESS_RO, bp.ACCESS_RW, bp.ACCESS_ALL, bp.ACCESS_NONE) == (771, 831, 2**64 - 1, 0)
    assert (bp.ACCESS_BUCKET_ADMIN, bp.ACCESS_CLUSTER_RO, bp.ACCESS_CLUSTER_RW) == (3200, 12288, 126976)
