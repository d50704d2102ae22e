"""Wire shapes of the AIStore REST API, in one place (msgspec: decode and validate in one step)."""

from __future__ import annotations

from typing import Any

import msgspec

from strata.core.errors import InvalidRequest


class ActionMsg(msgspec.Struct):
    """AIStore's ActMsg: every control request body (``{"action", "name", "value"}``)."""

    action: str = ""
    name: str = ""
    value: Any = None


class ListObjectsMsg(msgspec.Struct, omit_defaults=True):
    """The ``value`` of a list-objects ActMsg (api/apc/lsmsg.go). ``flags`` is a decimal string."""

    uuid: str = ""
    props: str = ""
    prefix: str = ""
    start_after: str = ""
    continuation_token: str = ""
    target: str = ""
    flags: str = "0"
    pagesize: int = 0
    time_format: str = ""
    hdr: bool = False
    # Strata between its own nodes: a remote page's names, for the local status of another target
    names: list[str] | None = None


class ListEntry(msgspec.Struct, omit_defaults=True):
    """One list-objects entry (cmn/objlist.go LsoEntry); the SDK reads it as ``BucketEntry``."""

    n: str
    cs: str = ""
    a: str = ""
    v: str = ""
    t: str = ""
    s: int = 0
    c: int = 0
    f: int = 0
    # custom metadata, when asked for (AIStore: "m")
    m: str = ""


class ListObjectsPage(msgspec.Struct):
    """A page of list-objects; ``UUID`` is never empty, ``ContinuationToken`` is "" on the last page."""

    UUID: str
    ContinuationToken: str
    Flags: int
    Entries: list[ListEntry] | None


class BucketName(msgspec.Struct):
    """One entry of list-buckets: ``{name, provider, namespace:{uuid,name}}``."""

    name: str
    provider: str
    namespace: Namespace


class Namespace(msgspec.Struct):
    uuid: str = ""
    name: str = ""


class NetInfo(msgspec.Struct):
    node_hostname: str
    daemon_port: str
    direct_url: str


class Snode(msgspec.Struct):
    daemon_id: str
    daemon_type: str
    public_net: NetInfo
    intra_control_net: NetInfo
    intra_data_net: NetInfo
    flags: int
    id_digest: int


class Smap(msgspec.Struct):
    tmap: dict[str, Snode]
    pmap: dict[str, Snode]
    proxy_si: Snode
    version: int
    uuid: str
    creation_time: str


class ErrorBody(msgspec.Struct):
    """AIStore's error body; the SDK classifies errors by the ``ais://bucket[/obj]`` in ``message``."""

    message: str
    method: str
    url_path: str
    remote_addr: str
    caller: str
    node: str
    status: int


json_encode = msgspec.json.Encoder().encode
msgpack_encode = msgspec.msgpack.Encoder().encode
_action_decoder = msgspec.json.Decoder(ActionMsg)


def decode_action(body: bytes, *, required: bool = True) -> ActionMsg:
    """Parse an ActMsg body; a malformed one is the client's mistake (400), never a 500."""
    if not body.strip():
        if required:
            raise InvalidRequest("missing request body: expected an action message")
        return ActionMsg()
    try:
        return _action_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"invalid action message: {exc}") from None


def convert_value(value: Any, type_: type[msgspec.Struct], what: str) -> Any:
    """Turn an ActMsg ``value`` into a typed struct, or a 400 naming what was wrong."""
    try:
        return msgspec.convert(value if value is not None else {}, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid {what}: {exc}") from None
