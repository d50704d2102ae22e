"""Bucket lifecycle shared by every front: create and destroy, in the BMD and on the data path.

The AIS ``/v1`` front and the S3 front both create and destroy buckets through these, so the rules
(props inherited from the cluster config, the ``access`` bits a destroy needs, where the data goes)
live once.
"""

from __future__ import annotations

import time
from typing import Any

from strata.config.access import ACCESS_DESTROY_BUCKET
from strata.config.bucket_props import new_bucket_props
from strata.core.errors import InvalidRequest
from strata.core.names import BucketRef
from strata.core.wire import ActionMsg
from strata.objects.remote import is_remote
from strata.roles.node import Node
from strata.server.http import Response
from strata.server.responses import empty_response


def create_bucket(node: Node, bck: BucketRef, msg: ActionMsg) -> Response:
    overrides = msg.value if isinstance(msg.value, dict) else None
    if msg.value is not None and overrides is None:
        raise InvalidRequest("create-bck value must be a JSON object of bucket props")
    if bck.provider != "ais":  # a cloud bucket is not made here: it must exist in its backend
        if node.meta.bmd().get(bck) is None:
            node.add_remote_bucket(bck, overrides)
        return empty_response()
    config = node.meta.config()

    def change(bmd: Any) -> Any:
        if bmd.get(bck) is not None:
            return bmd.with_bucket(bck, bmd.get(bck))  # raises BucketAlreadyExists
        props = new_bucket_props(
            config,
            provider=bck.provider,
            created_ns=time.time_ns(),
            bid=(bmd.version + 1) | (1 << 63),
            overrides=overrides,
        )
        return bmd.with_bucket(bck, props)

    node.role.bucket_created(node, bck)
    node.meta.update_bmd(change)
    return empty_response()


def destroy_bucket(node: Node, bck: BucketRef) -> Response:
    """Out of the BMD first, then the data (the role decides when: embedded at once, targets when
    they see the new BMD, proxies hold none).

    The bucket's ``access`` must allow it (AIStore's ``ACCESS_DESTROY_BUCKET``; ``ro`` and ``rw`` do
    not): 403 otherwise, and nothing changes.
    """
    node.bucket_props(bck, ACCESS_DESTROY_BUCKET)
    if bck.provider != "ais":  # its objects live in the backend: only the cache goes, by evict
        raise InvalidRequest(f"{bck.uri} is a remote bucket: destroy-bck is refused (use evict-remote-bck)")
    node.meta.update_bmd(lambda bmd: bmd.without_bucket(bck))
    node.role.bucket_destroyed(node, bck)
    return empty_response()


def evict_remote_bucket(node: Node, bck: BucketRef, keep_md: bool) -> Response:
    """``evict-remote-bck``: drop everything cached of a remote bucket (the backend keeps its objects).

    Without ``keep_bck_md`` the bucket also leaves the BMD (a later reference adds it again with fresh
    props); with it, the entry and its props stay.
    """
    node.bucket_props(bck)
    if not is_remote(bck):
        raise InvalidRequest(f'"evict-remote-bck" applies to remote buckets; {bck.uri} is an ais bucket')
    if not keep_md:
        node.meta.update_bmd(lambda bmd: bmd.without_bucket(bck))
    node.role.bucket_destroyed(node, bck)  # the local copies (and their ledger row) go
    if keep_md:
        node.role.bucket_created(node, bck)  # room for what is cached next
    return empty_response()
