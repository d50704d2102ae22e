"""The S3 front: addressing (path-style under ``/s3`` or ``/``, virtual-host style), auth, dispatch.

``AisApp`` hands every request it recognises as S3 to ``S3Application.begin`` and asks it for the
error reply when that request fails (``error_response``), so S3 clients only ever see S3's XML.

A request goes through four steps in ``begin``:
1. locate: bucket and key from the Host header and the path;
2. authenticate: SigV4 header or presigned query (before the body: a bad signature is refused
   before ``100 Continue``);
3. dispatch on method + sub-resource (``?uploads``, ``?versioning``...) to a handler module;
4. the handler's exchange streams or buffers the body and produces the reply.

On a cluster proxy (no storage) step 3 differs: object requests are forwarded as they are to the key's
owner target, listings and DeleteBucket/DeleteObjects ask every target (``strata.s3.cluster``).
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Awaitable, Callable

from strata.config import S3Conf
from strata.config.access import (
    ACCESS_CREATE_BUCKET,
    ACCESS_DELETE_OBJECT,
    ACCESS_DESTROY_BUCKET,
    ACCESS_GET,
    ACCESS_HEAD_BUCKET,
    ACCESS_HEAD_OBJECT,
    ACCESS_LIST_BUCKETS,
    ACCESS_LIST_OBJECTS,
    ACCESS_PATCH,
    ACCESS_PUT,
    ACCESS_SET_BUCKET_ACL,
)
from strata.core.names import validate_object_name
from strata.objects.remote import off_loop_backend
from strata.roles.access import acting
from strata.roles.node import Node
from strata.s3 import buckets, cluster, listing, multipart, objects
from strata.s3.auth import Signature, authenticate
from strata.s3.auth_v2 import authenticate_v2
from strata.s3.body import SmallBodyExchange
from strata.s3.context import S3Context, decode_component, parse_query
from strata.s3.errors import S3Error, not_implemented, to_s3_error
from strata.s3.users import Owners, Users
from strata.s3.xml import error_response
from strata.server.http import Exchange, Request, Response

log = logging.getLogger("strata.s3")
PREFIX = "/s3"

# sub-resources S3 has and Strata does not: answered 501 NotImplemented rather than misread as a listing
_UNSUPPORTED = frozenset(
    {
        "accelerate", "analytics", "attributes", "cors", "encryption", "intelligent-tiering", "inventory",
        "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls",
        "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
        "retention", "select", "tagging", "torrent", "website",
    }
)  # fmt: skip
SmallHandler = Callable[[S3Context, bytes], Response | Awaitable[Response]]


class S3Application:
    """One per worker process, beside the ``/v1`` front; shares its ``Node`` (one store, two fronts)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.users = Users()
        # in a cluster the records are shared through etcd: every node decides access the same way
        self.owners: Owners = (
            cluster.EtcdOwners(node.cluster)
            if node.cluster is not None
            else Owners(os.path.join(node.data_dir, "meta"))
        )
        node.gate.owners = self.owners.get  # S3 users and anonymous callers: owners and canned ACLs

    def conf(self) -> S3Conf:
        return self.node.meta.config().s3 or _DEFAULT_CONF

    # -- addressing ----------------------------------------------------------------------------------

    def virtual_host_bucket(self, request: Request, conf: S3Conf) -> str:
        """The bucket named by ``Host: <bucket>.<domain>``, or "" for path-style requests."""
        domain = conf.virtual_host_domain
        if not domain:
            return ""
        host = request.headers.get("host", "").rpartition(":")[0] or request.headers.get("host", "")
        host = host.lower()
        if host.endswith("." + domain.lower()):
            return host[: -len(domain) - 1]
        return ""

    def handles(self, request: Request) -> bool:
        """Does this non-``/v1`` request belong to the S3 front?"""
        path = request.path
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return True
        conf = self.node.meta.config().s3
        return conf is not None and (conf.root_access or bool(self.virtual_host_bucket(request, conf)))

    def locate(self, request: Request, conf: S3Conf) -> tuple[str, str]:
        """Raw (still percent-encoded) bucket and key of the request."""
        path = request.path
        under_prefix = path == PREFIX or path.startswith(PREFIX + "/")
        bucket = self.virtual_host_bucket(request, conf)
        if bucket:
            if under_prefix and not conf.root_access:
                path = path[len(PREFIX) :]
            return bucket, path[1:]
        if under_prefix:
            path = path[len(PREFIX) :]
        bucket, _, key = path[1:].partition("/")
        return bucket, key

    # -- the Application protocol ----------------------------------------------------------------

    def begin(self, request: Request) -> Exchange:
        conf = self.conf()
        # 1. locate
        raw_bucket, raw_key = self.locate(request, conf)
        bucket = decode_component(raw_bucket, "bucket name")
        key = decode_component(raw_key, "key") if raw_key else ""
        if key:
            validate_object_name(key)
        pairs, query = parse_query(request.query)
        # 2. authenticate: a JWT (Bearer, or X-Amz-Security-Token beside any SigV4 signature) when token
        #    auth is on -- the token grants access, not the signature --, else the S3 user's signature
        gate = self.node.gate
        users = self.users.load(conf)
        presigned_token = query.get("X-Amz-Security-Token") or query.get("x-amz-security-token", "")  # v4, v2
        token = gate.s3_token(request.headers, presigned_token)
        signature: Signature | None
        if token is not None:
            signature = authenticate(request, pairs, {}, now=self.node.clock.now())  # the body's mode only
        elif users and (request.headers.get("authorization", "").startswith("AWS ") or _v2_query(pairs)):
            signed_paths = [request.path, f"/{raw_bucket}/{raw_key}" if raw_key else f"/{raw_bucket}"]
            signature = authenticate_v2(request, pairs, users, signed_paths, now=self.node.clock.now())
        else:
            signature = authenticate(request, pairs, users, now=self.node.clock.now())
        user = signature.user if signature is not None else None
        principal = gate.authenticate_s3(
            request.method, request.path, request.query, request.headers,
            token=token, user=(user.name, user.admin) if user is not None else None,
        )  # fmt: skip
        ctx = S3Context(
            self.node,
            request,
            bucket,
            key,
            query,
            signature,
            auth_enabled=bool(users) or token is not None,
            owners=self.owners,
            region=conf.region,
            principal=principal,
        )
        return acting(principal, lambda: self._dispatch(ctx, query))

    def _dispatch(self, ctx: S3Context, query: dict[str, str]) -> Exchange:
        bucket, key = ctx.bucket, ctx.key
        # 3. dispatch
        unsupported = _UNSUPPORTED.intersection(query)
        if unsupported:
            raise not_implemented(f"The ?{sorted(unsupported)[0]} sub-resource")
        if not bucket:
            return self._service(ctx)
        if not key:
            return self._bucket(ctx)
        return self._object(ctx)

    def error_response(self, request: Request, exc: BaseException) -> Response:
        try:
            raw_bucket, raw_key = self.locate(request, self.conf())
        except Exception:
            raw_bucket, raw_key = "", ""
        bucket, key = _best_effort_decode(raw_bucket), _best_effort_decode(raw_key)
        if key:
            self.node.objects.failed(request.method)
        error = to_s3_error(exc, bucket, key)
        if error.status >= 500 and not isinstance(exc, S3Error):
            log.error("S3 %s %s failed\n%s", request.method, request.path, traceback.format_exc())
        resource = "/" + bucket + ("/" + key if key else "")
        return error_response(request, error, resource)

    # -- dispatch ------------------------------------------------------------------------------

    def _small(self, ctx: S3Context, handler: SmallHandler) -> Exchange:
        return SmallBodyExchange(ctx.request, ctx.signature, lambda body: handler(ctx, body))

    def _service(self, ctx: S3Context) -> Exchange:
        if ctx.request.method in ("GET", "HEAD"):
            self.node.authorize(ACCESS_LIST_BUCKETS)
            return self._small(ctx, buckets.list_buckets)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)

    def _bucket(self, ctx: S3Context) -> Exchange:
        method, query = ctx.request.method, ctx.query
        handler: SmallHandler | None = None
        if method == "GET":
            if "location" in query:
                handler = buckets.get_location
            elif "versioning" in query:
                handler = buckets.get_versioning
            elif "acl" in query:
                handler = buckets.get_acl
            elif "uploads" in query:
                handler = multipart.list_uploads
            elif "versions" in query:
                handler = listing.list_versions
            elif query.get("list-type") == "2":
                handler = listing.list_v2
            else:
                handler = listing.list_v1
        elif method == "PUT":
            if "versioning" in query:
                handler = buckets.put_versioning
            elif "acl" in query:
                handler = buckets.put_acl
            else:
                handler = buckets.create_bucket
        elif method == "HEAD":
            handler = buckets.head_bucket
        elif method == "DELETE":
            handler = buckets.delete_bucket
        elif method == "POST" and "delete" in query:
            handler = objects.delete_objects
        if handler is None:
            raise S3Error(
                "MethodNotAllowed", "The specified method is not allowed against this resource.", 405
            )
        self.node.authorize(_BUCKET_BITS.get(handler, ACCESS_HEAD_BUCKET), ctx.bck)
        if handler in _LISTINGS and ctx.remote:  # the backend's listing, by any node: off the loop
            return self._small(ctx, _off_loop(handler))
        if handler is objects.delete_objects and self.node.role.stores_objects and ctx.remote:
            return self._small(ctx, _off_loop(handler))  # each key is deleted in the backend first
        if not self.node.role.stores_objects and handler in _DATA_HANDLERS:
            # a cluster proxy holds no objects: what needs them asks every target
            return cluster.AsyncSmallBodyExchange(ctx, _DATA_HANDLERS[handler])
        return self._small(ctx, handler)

    def _object(self, ctx: S3Context) -> Exchange:
        method, query, headers = ctx.request.method, ctx.query, ctx.request.headers
        # what the request needs on its bucket (a copy's source: GET, checked where it is read)
        self.node.authorize(_OBJECT_BITS.get(method, ACCESS_PUT), ctx.bck)
        if not self.node.role.stores_objects:
            # a cluster proxy: the key's owner answers (boto3 does not follow redirects)
            return cluster.ForwardExchange(
                self.node, ctx.request, cluster.owner_of(self.node, ctx), bck=ctx.bck, key=ctx.key
            )
        if method == "PUT":
            if "acl" in query:
                raise not_implemented("Object ACLs")
            if "uploadId" in query or "partNumber" in query:
                if "x-amz-copy-source" in headers:
                    return self._small(ctx, multipart.upload_part_copy)
                return multipart.begin_upload_part(ctx)
            if "x-amz-copy-source" in headers:
                return self._small(ctx, objects.copy_object)
            return objects.begin_put(ctx)
        if method in ("GET", "HEAD"):
            if "acl" in query:
                raise not_implemented("Object ACLs")
            if method == "GET" and "uploadId" in query:
                return self._small(ctx, multipart.list_parts)
            return objects.ObjectRead(ctx)
        if method == "DELETE":
            if "uploadId" in query:
                return self._small(ctx, multipart.abort)
            if ctx.remote:  # the backend's copy goes first: off the event loop
                return self._small(ctx, _off_loop(objects.delete_object))
            return self._small(ctx, objects.delete_object)
        if method == "POST":
            if "uploads" in query:
                return self._small(ctx, multipart.create)
            if "uploadId" in query:
                return self._small(ctx, multipart.complete)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)


_DEFAULT_CONF = S3Conf()
# the access bits each request needs on its bucket (wave-2 contract 1.4, in S3's terms)
_BUCKET_BITS: dict[SmallHandler, int] = {
    buckets.get_location: ACCESS_HEAD_BUCKET,
    buckets.get_versioning: ACCESS_HEAD_BUCKET,
    buckets.get_acl: ACCESS_HEAD_BUCKET,
    buckets.head_bucket: ACCESS_HEAD_BUCKET,
    multipart.list_uploads: ACCESS_LIST_OBJECTS,
    listing.list_versions: ACCESS_LIST_OBJECTS,
    listing.list_v1: ACCESS_LIST_OBJECTS,
    listing.list_v2: ACCESS_LIST_OBJECTS,
    buckets.put_versioning: ACCESS_PATCH,
    buckets.put_acl: ACCESS_PATCH | ACCESS_SET_BUCKET_ACL,
    buckets.create_bucket: ACCESS_CREATE_BUCKET,
    buckets.delete_bucket: ACCESS_DESTROY_BUCKET,
    objects.delete_objects: ACCESS_DELETE_OBJECT,
}
_OBJECT_BITS = {"GET": ACCESS_GET, "HEAD": ACCESS_HEAD_OBJECT, "DELETE": ACCESS_DELETE_OBJECT}  # else PUT
# what a single node does over its own disks -> what a cluster proxy does over every target
_DATA_HANDLERS: dict[SmallHandler, Callable[[S3Context, bytes], Awaitable[Response]]] = {
    multipart.list_uploads: cluster.list_merged,
    listing.list_versions: cluster.list_merged,
    listing.list_v1: cluster.list_merged,
    listing.list_v2: cluster.list_merged,
    buckets.delete_bucket: cluster.delete_bucket,
    objects.delete_objects: cluster.delete_objects,
}


_LISTINGS = (listing.list_v1, listing.list_v2, listing.list_versions)


def _off_loop(handler: SmallHandler) -> SmallHandler:
    """The handler run in a thread (it waits on the network)."""

    async def run(ctx: S3Context, body: bytes) -> Response:
        answer = await off_loop_backend(lambda: handler(ctx, body))
        return await answer if isinstance(answer, Awaitable) else answer

    return run


def _v2_query(pairs: list[tuple[str, str]]) -> bool:
    return any(key == "AWSAccessKeyId" for key, _ in pairs)


def _best_effort_decode(raw: str) -> str:
    try:
        return decode_component(raw, "path")
    except S3Error:
        return raw
