"""Listing a bucket on a node that stores objects: AIStore's msgpack pages, in name order.

Names come from the object service's walk (every mountpath merged in name order, bounded memory for
any bucket size); props are read only when asked for. A proxy merges the pages of every target
(``strata.roles.proxy``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable

from strata.archive import format_of
from strata.config.access import ACCESS_LIST_OBJECTS
from strata.config.bucket_props import BucketProps
from strata.core.errors import InvalidRequest, StrataError
from strata.core.names import BucketRef
from strata.core.wire import (
    ActionMsg,
    ListEntry,
    ListObjectsMsg,
    ListObjectsPage,
    convert_value,
    json_encode,
    msgpack_encode,
)
from strata.objects.compression import off_loop
from strata.objects.remote import Remote, off_loop_backend, remote_of
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import MSGPACK, json_response

MAX_PAGE_SIZE = 10000

# list-objects flags (api/apc/lsmsg.go)
FLAG_CACHED = 1
FLAG_MISSING = 2
FLAG_DELETED = 4
FLAG_ARCH_DIR = 8
FLAG_NAME_ONLY = 16
FLAG_NAME_SIZE = 32
FLAG_BCK_PRESENT = 64
FLAG_NOT_CACHED = 512
FLAG_NO_RECURSION = 2048
FLAG_NO_DIRS = 8192
# page flags: a rebalance is moving objects, so the listing may be unstable (AIStore warns likewise)
LIST_REBALANCING = 1
# entry flags (cmn/objlist.go)
ENTRY_IS_CACHED = 64
ENTRY_IN_ARCH = 128
ENTRY_IS_DIR = 256
ENTRY_IS_ARCHIVE = 512

# Actions on remote buckets only (a clear 400 for an ais bucket), by method


def _time_string(ns: int) -> str:
    """AIStore's default list time format (RFC822: ``02 Jan 06 15:04 UTC``)."""
    return time.strftime("%d %b %y %H:%M UTC", time.gmtime(ns / 1e9))


def list_flags(lsmsg: ListObjectsMsg) -> int:
    """The request's list-objects flags (a decimal string on the wire)."""
    try:
        return int(lsmsg.flags or "0")
    except ValueError:
        raise InvalidRequest(
            f'invalid list-objects flags "{lsmsg.flags}" (expected a decimal number)'
        ) from None


def wanted_props(lsmsg: ListObjectsMsg, flags: int) -> set[str]:
    """The entry props a listing asks for (names and sizes unless it says otherwise)."""
    if flags & FLAG_NAME_ONLY:
        return {"name"}
    if flags & FLAG_NAME_SIZE or not lsmsg.props:
        return {"name", "size"}
    return {p.strip() for p in lsmsg.props.split(",") if p.strip()}


def listed_props(node: Node, bck: BucketRef, flags: int) -> BucketProps:
    """The listed bucket's props (LIST access): with ``BckPresent`` only a bucket already in the BMD,
    a remote one is then neither HEADed nor added."""
    if flags & FLAG_BCK_PRESENT:
        node.present_bucket_props(bck)
    return node.bucket_props(bck, ACCESS_LIST_OBJECTS)


def list_objects(
    node: Node, request: Request, bck: BucketRef, msg: ActionMsg
) -> Response | Awaitable[Response]:
    # 1. parse and validate the request
    node.metrics.add("lst_count")
    lsmsg: ListObjectsMsg = convert_value(msg.value, ListObjectsMsg, "list-objects message")
    flags = list_flags(lsmsg)
    listed_props(node, bck, flags)
    if lsmsg.pagesize < 0:
        raise InvalidRequest(f"invalid page size {lsmsg.pagesize}")
    page_size = min(lsmsg.pagesize or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    props = wanted_props(lsmsg, flags)
    recursive = not flags & FLAG_NO_RECURSION
    after = max(lsmsg.continuation_token, lsmsg.start_after)
    remote = remote_of(bck, node.bucket_props(bck))
    if flags & FLAG_NOT_CACHED and remote is None:  # ais buckets hold only present objects
        return page_response(request, lsmsg.uuid or uuid.uuid4().hex, "", [])

    # 2. walk the bucket in name order, one page (plus one to know whether there is more)
    def page() -> Response:
        return _walk_page(node, request, bck, lsmsg, flags, props, page_size, recursive, after)

    if remote is not None and lsmsg.names is not None:  # a proxy asks what of its page is here
        names = lsmsg.names
        return off_loop(lambda: _local_status(node, request, bck, lsmsg, names, props))
    if remote is not None and not flags & FLAG_CACHED:  # the backend's page, merged with what is here
        return off_loop_backend(
            lambda: _remote_page(node, request, bck, remote, lsmsg, flags, props, page_size)
        )
    if flags & FLAG_ARCH_DIR:  # shards' members are read (compressed ones decoded): off the event loop
        return off_loop(page)
    return page()


def _remote_page(
    node: Node,
    request: Request,
    bck: BucketRef,
    remote: Remote,
    lsmsg: ListObjectsMsg,
    flags: int,
    props: set[str],
    page_size: int,
) -> Response:
    """One page of a remote bucket's listing from its backend (the continuation token is the backend's).

    With only names and sizes asked for (the default) the page passes through; asking for ``cached``
    (or any local prop) marks the objects cached here, as AIStore's merge does (wave-2 contract §2.5).
    """
    if lsmsg.start_after:
        raise InvalidRequest("start_after is not supported for remote buckets")
    listing = remote.backend.list_page(remote.name, lsmsg.prefix, lsmsg.continuation_token, page_size)
    not_cached = bool(flags & FLAG_NOT_CACHED)  # only what is not here yet
    merge = needs_local_status(flags, props)
    entries = []
    for found in listing.entries:
        entry = ListEntry(n=found.name, s=found.size, v=found.version)
        local = _entry(node, bck, found.name, props) if merge else None
        if local is not None:
            if not_cached:
                continue
            entry = merged_entry(entry, local)
        entries.append(entry)
    return page_response(request, lsmsg.uuid or uuid.uuid4().hex, listing.next_token, entries)


def needs_local_status(flags: int, props: set[str]) -> bool:
    """Whether a remote page is merged with what is cached: ``NotCached``, or local props asked for
    (names and sizes alone pass through, as in AIStore)."""
    return bool(flags & FLAG_NOT_CACHED) or bool(props - {"name", "size"})


def merged_entry(remote: ListEntry, local: ListEntry) -> ListEntry:
    """A remote page's entry for an object cached here: the local props, the backend's version."""
    local.v = remote.v or local.v
    local.f |= remote.f
    return local


def _local_status(
    node: Node, request: Request, bck: BucketRef, lsmsg: ListObjectsMsg, names: list[str], props: set[str]
) -> Response:
    """The entries of ``names`` (a remote page another target fetched) that are cached here."""
    entries = [entry for name in names if (entry := _entry(node, bck, name, props)) is not None]
    return page_response(request, lsmsg.uuid or uuid.uuid4().hex, "", entries)


def _walk_page(
    node: Node,
    request: Request,
    bck: BucketRef,
    lsmsg: ListObjectsMsg,
    flags: int,
    props: set[str],
    page_size: int,
    recursive: bool,
    after: str,
) -> Response:
    want_md = bool(props - {"name"})
    entries: list[ListEntry] = []
    token = ""
    names = node.objects.walk(bck, prefix=lsmsg.prefix, after=after, recursive=recursive)
    for name, is_dir in names:
        if len(entries) == page_size:
            token = entries[-1].n
            break
        if is_dir:
            if not flags & FLAG_NO_DIRS:
                entries.append(ListEntry(n=name, f=ENTRY_IS_DIR))
            continue
        entry = _entry(node, bck, name, props) if want_md else ListEntry(n=name, f=ENTRY_IS_CACHED)
        if entry is not None:
            entries.append(entry)
            if flags & FLAG_ARCH_DIR:  # a shard's members follow it (all in this page, see below)
                entries.extend(_archive_entries(node, bck, entry))
    rebalancing = node.role.in_cluster and node.jobs.find(kind="rebalance", running_only=True)
    page_flags = LIST_REBALANCING if rebalancing else 0
    return page_response(request, lsmsg.uuid or uuid.uuid4().hex, token, entries, page_flags)


def _archive_entries(node: Node, bck: BucketRef, shard: ListEntry) -> list[ListEntry]:
    """``shard.tar/member`` entries. A shard's members always go in the same page as the shard, so
    the continuation token (the last name) never splits one; a malformed shard lists no members."""
    try:
        fmt = format_of(shard.n)
    except InvalidRequest:
        return []
    try:
        obj, reader = node.objects.open_shard(bck, shard.n, fmt)
    except StrataError:
        return []
    try:
        members = [
            ListEntry(n=f"{shard.n}/{m.name}", s=m.size, f=ENTRY_IN_ARCH | ENTRY_IS_CACHED)
            for m in reader.members()
        ]
        node.objects.remember_shard(obj, reader)
    except StrataError:
        return []
    finally:
        reader.close()
        obj.close()
    shard.f |= ENTRY_IS_ARCHIVE
    return members


def _entry(node: Node, bck: BucketRef, name: str, props: set[str]) -> ListEntry | None:
    found = node.objects.listed(bck, name)
    if found is None:
        return None  # deleted while listing
    location, md = found
    entry = ListEntry(n=name, s=md.size, f=ENTRY_IS_CACHED)
    if "checksum" in props:
        entry.cs = md.checksum_value
    if "version" in props:
        entry.v = md.version
    if "atime" in props:
        entry.a = _time_string(md.atime_ns)
    if "location" in props:
        entry.t = f"t[{node.node_id}]:mp[{node.objects.mountpath_of(location)}]"
    if "copies" in props:
        entry.c = 1
    if "custom" in props and md.custom:
        entry.m = ",".join(f"{k}={v}" for k, v in md.custom.items())
    return entry


def page_response(
    request: Request, list_uuid: str, token: str, entries: list[ListEntry], flags: int = 0
) -> Response:
    """A list-objects page in the encoding the client accepts (msgpack for the SDK, else JSON)."""
    page = ListObjectsPage(UUID=list_uuid, ContinuationToken=token, Flags=flags, Entries=entries or None)
    if "msgpack" in request.headers.get("accept", ""):
        return Response(200, [MSGPACK], msgpack_encode(page))
    return json_response(json_encode(page))
