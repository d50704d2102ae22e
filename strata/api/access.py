"""The access bits each ``/v1`` request needs (wave-2 contract 1.4), checked for its principal.

The router asks here once per request, when a principal is in scope (auth on): objects as soon as the
headers are in (the bits follow from the method and query), everything with an action message once
the body is in. What a request reaches only through its body -- a copy's destination, GetBatch's
other buckets, a moved bucket's new name -- is checked where the handler resolves it (the object
service's bucket check, ``Node.authorize``), for the same principal.

A resource not listed here needs ADMIN: a route added later is closed until it is given its bits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strata.auth import Principal, require
from strata.cluster.transfer import STORED_MD_HEADER
from strata.config.access import (
    ACCESS_ADMIN,
    ACCESS_APPEND,
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
    ACCESS_PATCH,
    ACCESS_PROMOTE,
    ACCESS_PUT,
    ACCESS_RW,
    ACCESS_SET_BUCKET_ACL,
    ACCESS_SHOW_CLUSTER,
    ACCESS_UPDATE_OBJECT,
)
from strata.core.names import BucketRef
from strata.core.query import Query
from strata.core.wire import decode_action
from strata.roles import actions
from strata.server.http import Request

_OBJECT_READS = {"GET": ACCESS_GET, "HEAD": ACCESS_HEAD_OBJECT}
_OBJECT_ACTIONS = {
    "mpt-upload": ACCESS_PUT,
    "mpt-complete": ACCESS_PUT,
    "mpt-abort": ACCESS_PUT,
    "rename-obj": ACCESS_MOVE_OBJECT,
    "promote": ACCESS_PROMOTE,
    "blob-download": ACCESS_RW,
}
# bucket actions by their canonical name (strata.roles.actions); any other needs HEAD-BUCKET
_BUCKET_ACTIONS = {
    "create-bck": ACCESS_CREATE_BUCKET,
    "destroy-bck": ACCESS_DESTROY_BUCKET,
    "evict-remote-bck": ACCESS_DESTROY_BUCKET,
    "move-bck": ACCESS_MOVE_BUCKET,
    "getbatch": ACCESS_GET,
    "copy-bck": ACCESS_RW,  # rw on the source; PUT on the destination where the handler resolves it
    "copy-listrange": ACCESS_RW,
    "archive": ACCESS_RW,
    "prefetch-listrange": ACCESS_RW,
    "delete-listrange": ACCESS_DELETE_OBJECT,
    "evict-listrange": ACCESS_DELETE_OBJECT,
}
_PEER_ONLY_QUERY = ("rebalance",)  # node-to-node object transfers: never a client's to send
_PEER_ONLY_HEADER = STORED_MD_HEADER.lower()  # a copy as stored on another target


def object_bits(request: Request, query: Query) -> int | None:
    """Bits an object request needs, or None when its action message decides (POST)."""
    method = request.method
    read = _OBJECT_READS.get(method)
    if read is not None:
        return read
    if method == "PUT":
        if any(name in query for name in _PEER_ONLY_QUERY) or _PEER_ONLY_HEADER in request.headers:
            return ACCESS_ADMIN
        if "append_type" in query:
            return ACCESS_APPEND
        if "object_to" in query:
            return ACCESS_GET  # a copy: PUT on the destination is checked by the object service
        return ACCESS_PUT
    if method == "DELETE":
        return ACCESS_DELETE_OBJECT
    if method == "PATCH":
        return ACCESS_UPDATE_OBJECT
    return None


def check_object_action(principal: Principal, request: Request, bck: BucketRef) -> None:
    """POST on an object, once its body is in."""
    msg = decode_action(request.body)
    require(principal, _OBJECT_ACTIONS.get(msg.action, ACCESS_PUT), bck)


def check_resource(
    principal: Principal, request: Request, resource: str, rest: str, bck: BucketRef | None
) -> None:
    """Any ``/v1/<resource>`` but objects (and health), once the body is in. ``bck``: the bucket named
    in the path (``buckets``, ``ml``), parsed as the handler parses it."""
    method = request.method
    if resource == "buckets":
        if bck is None:
            require(principal, ACCESS_LIST_BUCKETS)
        else:
            require(principal, _bucket_bits(request, bck), bck)
    elif resource == "ml":
        require(principal, ACCESS_GET, bck)  # with no bucket in the path: each entry's, by the handler
    elif resource in ("daemon", "cluster", "reverse"):
        require(principal, ACCESS_SHOW_CLUSTER if method in ("GET", "HEAD") else ACCESS_ADMIN)
    elif resource == "tokens":
        if method != "POST":  # POST asks whether the caller's own token is valid: any valid token
            require(principal, ACCESS_ADMIN)
    elif resource == "download":
        pass  # PUT on the job's bucket: named in the body or the job, so checked by the handler
    else:
        require(principal, ACCESS_ADMIN)


def _bucket_bits(request: Request, bck: BucketRef) -> int:
    method = request.method
    if method == "HEAD":
        return ACCESS_HEAD_BUCKET
    if method == "PATCH":
        msg = decode_action(request.body)
        return ACCESS_PATCH | (ACCESS_SET_BUCKET_ACL if _names_access(msg.value) else 0)
    msg = decode_action(request.body, required=False)
    if method == "GET":
        if msg.action == "list":
            return ACCESS_LIST_OBJECTS
        if msg.action in ("summary-bck", "summary"):
            return ACCESS_LIST_OBJECTS | ACCESS_HEAD_BUCKET
        return ACCESS_HEAD_BUCKET
    name = msg.action or ("destroy-bck" if method == "DELETE" else "")
    action = actions.find(method, name)
    return _BUCKET_ACTIONS.get(action.name if action is not None else name, ACCESS_HEAD_BUCKET)


def _names_access(value: Any) -> bool:
    """Does a set-bprops value change the ``access`` prop (nested or dotted, any case)?"""
    keys: Iterable[Any] = value.keys() if isinstance(value, dict) else ()
    return any(str(key).lower().split(".")[0] == "access" for key in keys)
