"""GetBatch wire shapes (AIStore's ``apc.MossReq`` / ``MossIn`` / ``MossOut`` / ``MossResp``) and the plan.

The request is validated completely before the first byte goes out, because after that an error can only
truncate the stream: every entry's object name, range and opaque value, the output format, and the
buckets the batch names (``BatchPlan.buckets``: each must exist, with or without ``coer``, since
``coer`` covers a missing object, not a wrong bucket). ``plan_request`` turns the wire request into a list of
``Entry`` -- one small immutable record per ``in`` entry, with its bucket resolved -- that the assembler
walks in order.

Shapes follow what the official SDK sends and reads (``aistore/sdk/batch/types.py``): empty optional
fields are omitted; ``opaque`` is base64 (the SDK encodes it with the standard alphabet and decodes the
echo with the URL-safe one, which accepts both), so we accept either alphabet and echo the standard one,
as Go's ``[]byte`` JSON encoding does.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import msgspec

from strata.archive import TAR, format_of
from strata.archive.model import served_name
from strata.core.errors import InvalidRequest
from strata.core.names import BucketRef, validate_object_name

MISSING_DIR = "__404__"  # where a missing entry lands with coer (the SDK's GB_MISSING_FILES_DIR)


class MossIn(msgspec.Struct, omit_defaults=True):
    """One requested entry: an object, or a file inside a shard (``archpath``), optionally a byte range."""

    objname: str = ""
    bucket: str = ""
    provider: str = ""
    uname: str = ""
    opaque: str = ""
    archpath: str = ""
    start: int = 0
    length: int = 0


class MossReq(msgspec.Struct, omit_defaults=True):
    """The request body of ``GET /v1/ml/moss[/bucket]`` (and the ``value`` of the ``getbatch`` action)."""

    entries: list[MossIn] = msgspec.field(name="in", default_factory=list)
    mime: str = ""
    coer: bool = False  # continue on error: missing objects become __404__/ members (not missing buckets)
    onob: bool = False  # only object name: members are named "obj", not "bucket/obj"
    strm: bool = False  # stream the archive; otherwise a multipart answer with metadata first
    coloc: int = 0  # a colocation hint; accepted and ignored (one node holds everything here)


class MossOut(msgspec.Struct, omit_defaults=True):
    """One entry of the multipart metadata; ``err_msg`` and ``opaque`` only when they say something."""

    objname: str
    bucket: str
    provider: str
    size: int
    archpath: str = ""
    err_msg: str = ""
    opaque: str = ""


class MossResp(msgspec.Struct):
    uuid: str
    out: list[MossOut]


_decode_request = msgspec.json.Decoder(MossReq).decode
encode_response = msgspec.json.Encoder().encode


class Entry(msgspec.Struct, frozen=True, gc=False):
    """One entry, resolved; ``start``/``length`` as sent: (0, 0) whole, (N, L) L bytes, (N, -1) to the end."""

    bck: BucketRef
    name: str
    archpath: str = ""
    start: int = 0
    length: int = 0
    opaque: str = ""  # canonical (standard alphabet) base64, echoed in the metadata

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.length == 0


@dataclass
class BatchPlan:
    """A validated request: what to send, in which format, how to name and what to do on errors."""

    entries: list[Entry]
    fmt: str = TAR
    coer: bool = False
    onob: bool = False
    strm: bool = False
    buckets: dict[str, BucketRef] = field(default_factory=dict)  # every bucket named, by key


def decode_request(body: bytes) -> MossReq:
    if not body.strip():
        raise InvalidRequest("get-batch: empty request body (expecting a JSON MossReq)")
    try:
        return _decode_request(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"get-batch: invalid request: {exc}") from None


def convert_request(value: Any) -> MossReq:
    """The ``value`` of a ``{"action": "getbatch"}`` message."""
    if not isinstance(value, dict):
        raise InvalidRequest("get-batch: the action value must be a MossReq JSON object")
    try:
        return msgspec.convert(value, MossReq, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"get-batch: invalid request: {exc}") from None


def plan_request(req: MossReq, default: BucketRef | None, default_provider: str = "") -> BatchPlan:
    """Validate every entry and resolve its bucket: a bad entry is a 400 naming its index."""
    if not req.entries:
        raise InvalidRequest("get-batch: empty request (no entries in 'in')")
    fmt = format_of("", req.mime) if req.mime else TAR
    buckets: dict[tuple[str, str, str], BucketRef] = {}
    if default is not None:
        buckets[(default.name, default.provider, default.namespace_uname)] = default
    entries: list[Entry] = []
    append = entries.append
    for index, item in enumerate(req.entries):
        try:
            append(_entry(item, default, default_provider, buckets))
        except InvalidRequest as exc:
            raise InvalidRequest(f"get-batch: entry #{index}: {exc.message}") from None
    return BatchPlan(
        entries,
        fmt,
        req.coer,
        req.onob,
        req.strm,
        {bck.key: bck for bck in buckets.values()},
    )


def _entry(
    item: MossIn,
    default: BucketRef | None,
    default_provider: str,
    buckets: dict[tuple[str, str, str], BucketRef],
) -> Entry:
    name, bucket, provider, namespace = item.objname, item.bucket, item.provider, ""
    if item.uname:
        provider, namespace, bucket, uname_object = _split_uname(item.uname)
        name = uname_object or name  # the uname names the whole triplet
    if not name:
        raise InvalidRequest("missing object name (objname)")
    validate_object_name(name)
    if bucket:
        if not provider:  # the request's provider (the URL's ?provider=), else the default (ais)
            provider = default.provider if default is not None else default_provider
        cache_key = (bucket, provider, namespace)
        bck = buckets.get(cache_key)
        if bck is None:
            bck = buckets[cache_key] = BucketRef.parse(bucket, provider, namespace)
    elif default is not None:
        bck = default
    else:
        raise InvalidRequest(f'no bucket for "{name}" (name one in the entry or in the URL)')
    _check_range(item.start, item.length)
    if item.archpath and served_name(item.archpath.lstrip("/")) is None:
        # its name would head the entry in the output (even as a missing one): never one that escapes
        raise InvalidRequest(
            f'invalid archpath "{item.archpath}": archived files are named by relative paths '
            "without '..', NUL, backslash or drive prefix"
        )
    opaque = _canonical_opaque(item.opaque) if item.opaque else ""
    if item.archpath or item.start or item.length or opaque:
        return Entry(bck, name, item.archpath, item.start, item.length, opaque)
    return Entry(bck, name)


def _split_uname(uname: str) -> tuple[str, str, str, str]:
    """``provider/@uuid#namespace/bucket/object`` (AIStore's uname, as ``direct=True`` reads use)."""
    parts = uname.split("/", 3)
    if len(parts) < 3 or not parts[1].startswith("@"):
        raise InvalidRequest(f'invalid uname "{uname}" (expecting provider/@uuid#namespace/bucket/object)')
    provider, namespace, bucket = parts[0], parts[1], parts[2]
    return provider, namespace if namespace != "@#" else "", bucket, parts[3] if len(parts) > 3 else ""


def _check_range(start: int, length: int) -> None:
    """AIStore's MossIn rules: start >= 0; length > 0, or -1 (to the end); a non-zero start needs a length."""
    if start < 0:
        raise InvalidRequest(f"invalid range: start {start} must be >= 0")
    if length < -1:
        raise InvalidRequest(f"invalid range: length {length} must be > 0, or -1 to read to the end")
    if start and not length:
        raise InvalidRequest(f"invalid range: start {start} requires a length (> 0, or -1 to the end)")


def _canonical_opaque(text: str) -> str:
    """Decode either base64 alphabet (padding optional) and re-encode in the standard one."""
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("opaque is not valid base64") from None
    return base64.b64encode(raw).decode()


def member_name(entry: Entry, onob: bool) -> str:
    """``bucket/object`` (or ``object`` with onob), plus ``/archpath`` for an archived file.

    An archpath that starts with ``/`` is appended as it is, as AIStore does (and the SDK expects).
    """
    name = entry.name if onob else f"{entry.bck.name}/{entry.name}"
    archpath = entry.archpath
    if archpath:
        return name + archpath if archpath.startswith("/") else f"{name}/{archpath}"
    return name
