"""The AIStore REST front: maps ``/v1/<resource>/...`` to handlers, and errors to AIS-shaped replies.

Routing is a split on ``/`` and a dictionary lookup: no per-request framework stack. PUT object
bodies are streamed to disk (``objects.begin_put``); everything else gets a bounded buffered body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from strata.api import access, buckets, cluster, objects, tokens
from strata.api.responses import error_response
from strata.auth import Principal, require
from strata.config.access import ACCESS_ADMIN
from strata.core.errors import InvalidRequest, MethodNotAllowed, NotFound, NotImplementedYet
from strata.core.names import BucketRef, validate_object_name
from strata.core.query import Query
from strata.roles import remote_clusters
from strata.roles.access import acting
from strata.roles.batch import get_batch
from strata.roles.downloads import post_to_bucket_path, route_download
from strata.roles.node import Node
from strata.server.http import BufferedExchange, Exchange, FixedExchange, Request, Response

Handler = Callable[[Request], Response]


def _decode_segment(raw: str, what: str) -> str:
    if "%" not in raw:
        return raw
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{what} is not valid UTF-8") from None


class AisApp:
    """The ``/v1`` front of one worker process (``strata.daemons.app.NodeApp`` hands it ``/v1/`` paths)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def error_response(self, request: Request, exc: BaseException) -> Response:
        if request.path.startswith("/v1/objects/"):
            self.node.objects.failed(request.method)
        return error_response(request, exc, self.node.node_id)

    def begin(self, request: Request) -> Exchange:
        path = request.path
        resource, _, rest = path[4:].partition("/")
        if resource == "health":  # readable without credentials, as /metrics is
            return BufferedExchange(request, lambda req: _route_health(self.node, req, rest))
        # who the request acts for (401 for missing or bad credentials), then the work as that principal
        principal = self.node.gate.authenticate_ais(request.method, path, request.query, request.headers)
        if principal is None:  # auth off, or the cluster's own call: nothing to act as
            return self._begin(request, resource, rest, None)
        if resource == "objects" and request.method in ("GET", "HEAD"):
            # an object read: its bucket is checked in _begin_object and nothing it does reaches another
            # bucket (``one_bucket``), so it needs no principal in scope (the hot path stays lean)
            return self._begin_object(request, rest, principal)
        return acting(principal, lambda: self._begin(request, resource, rest, principal))

    def _begin(self, request: Request, resource: str, rest: str, principal: Principal | None) -> Exchange:
        if resource == "objects":
            return self._begin_object(request, rest, principal)
        route = _ROUTES.get(resource)
        if route is None:
            if principal is not None:
                require(principal, ACCESS_ADMIN)  # a route with no bits of its own is an admin's
            if resource in _NOT_YET:
                raise NotImplementedYet(f"/v1/{resource} is not implemented yet")
            raise NotFound(f'invalid path "{request.path}": unknown resource "{resource}"')
        if principal is None:
            return BufferedExchange(request, lambda req: route(self.node, req, rest))

        def checked(req: Request) -> Response | Awaitable[Response]:
            access.check_resource(principal, req, resource, rest, _path_bucket(req, resource, rest))
            return route(self.node, req, rest)

        return BufferedExchange(request, checked)

    # -- objects ---------------------------------------------------------------------------------

    def _begin_object(self, request: Request, rest: str, principal: Principal | None) -> Exchange:
        bucket_raw, _, name_raw = rest.partition("/")
        query = Query(request.query)
        bck = BucketRef.parse(
            _decode_segment(bucket_raw, "bucket name"), query.get("provider"), query.get("namespace")
        )
        if not name_raw and request.method == "POST":  # the SDK's blob_download names the object in the body
            node = self.node
            return BufferedExchange(request, lambda req: _post_bucket_path(node, principal, req, bck, query))
        object_name = validate_object_name(_decode_segment(name_raw, "object name"))
        node = self.node
        method = request.method
        if principal is not None:
            bits = access.object_bits(request, query)
            if bits is not None:
                require(principal, bits, bck)
            elif method == "POST":  # the action message decides: checked once the body is in
                return BufferedExchange(request, lambda req: _post_object_checked(node, principal, req, bck,
                                        object_name, query))  # fmt: skip
        elsewhere = node.role.route_object(node, request, bck, object_name)  # a proxy: to the owner
        if elsewhere is not None:
            return FixedExchange(elsewhere)
        if method == "GET":
            return _ObjectRead(node, request, bck, object_name, query)
        if method == "HEAD":
            return _ObjectRead(node, request, bck, object_name, query)
        if method == "PUT":
            if "append_type" in query or "object_to" in query:
                return BufferedExchange(
                    request, lambda req: objects.put_buffered(node, req, bck, object_name, query)
                )
            exchange: Exchange = objects.begin_put(node, request, bck, object_name, query)
            return exchange
        handler = _OBJECT_METHODS.get(method)
        if handler is None:
            raise MethodNotAllowed(f"{method} is not allowed on objects")
        return BufferedExchange(request, lambda req: handler(node, req, bck, object_name, query))


class _ObjectRead:
    """GET/HEAD of an object: the hot path, so a slotted exchange rather than a closure."""

    __slots__ = ("bck", "node", "object_name", "query", "request")
    one_bucket = True  # reaches no bucket but its own, checked by the front (``roles.access.acting``)

    def __init__(self, node: Node, request: Request, bck: BucketRef, object_name: str, query: Query) -> None:
        self.node = node
        self.request = request
        self.bck = bck
        self.object_name = object_name
        self.query = query

    def feed(self, data: bytes) -> None:
        pass  # a GET body on an object request carries nothing we use

    def finish(self) -> Response | Awaitable[Response]:
        if self.request.method == "GET":
            return objects.get_object(self.node, self.request, self.bck, self.object_name, self.query)
        return objects.head_object(self.node, self.bck, self.object_name, self.query)

    def abort(self) -> None:
        pass


def _post_object_checked(
    node: Node, principal: Principal, request: Request, bck: BucketRef, object_name: str, query: Query
) -> Response | Awaitable[Response]:
    access.check_object_action(principal, request, bck)
    elsewhere = node.role.route_object(node, request, bck, object_name)  # a proxy: to the owner
    if elsewhere is not None:
        return elsewhere
    return objects.post_object(node, request, bck, object_name, query)


def _post_bucket_path(
    node: Node, principal: Principal | None, request: Request, bck: BucketRef, query: Query
) -> Response | Awaitable[Response]:
    if principal is not None:
        access.check_object_action(principal, request, bck)  # blob-download: rw on the bucket
    return post_to_bucket_path(node, request, bck, query)


def _path_bucket(request: Request, resource: str, rest: str) -> BucketRef | None:
    """The bucket a ``/v1/buckets/B`` or ``/v1/ml/moss/B`` path names, parsed as its handler does."""
    if resource == "buckets":
        name_raw = rest.partition("/")[0]
    elif resource == "ml":
        name_raw = rest.partition("/")[2]
    else:
        return None
    name = _decode_segment(name_raw, "bucket name")
    if not name:
        return None
    query = Query(request.query)
    return BucketRef.parse(name, query.get("provider"), query.get("namespace"))


def _route_buckets(node: Node, request: Request, rest: str) -> Response | Awaitable[Response]:
    query = Query(request.query)
    name_raw, _, prefix_raw = rest.partition("/")
    name = _decode_segment(name_raw, "bucket name")
    if not name:
        if request.method == "GET":
            node.sync_metadata()
            return buckets.list_buckets(node, request, query)
        raise MethodNotAllowed(f"{request.method} /v1/buckets requires a bucket name")
    bck = BucketRef.parse(name, query.get("provider"), query.get("namespace"))
    method = request.method
    if method == "GET":
        return buckets.get_bucket(node, request, bck, query)
    if method == "HEAD":  # bucket info may name a prefix after the bucket
        node.sync_metadata()
        return buckets.head_bucket(node, request, bck, query, _decode_segment(prefix_raw, "prefix"))
    if method == "PATCH":
        return buckets.patch_bucket(node, request, bck)
    if method in ("POST", "PUT", "DELETE"):
        return buckets.bucket_action(node, request, bck, query)
    raise MethodNotAllowed(f"{method} is not allowed on buckets")


def _route_daemon(node: Node, request: Request, rest: str) -> Response | Awaitable[Response]:
    if request.method == "GET":
        return cluster.get_daemon(node, request, Query(request.query))
    if request.method == "PUT":  # node config and node actions: an AIStore feature not built yet
        raise NotImplementedYet("PUT /v1/daemon (node config and actions) is not implemented yet")
    raise MethodNotAllowed(f"{request.method} is not allowed on /v1/daemon")


def _route_cluster(node: Node, request: Request, rest: str) -> Response | Awaitable[Response]:
    query = Query(request.query)
    method = request.method
    if not rest:
        if method == "GET":
            return cluster.get_cluster(node, request, query)
        if method == "PUT":
            return cluster.put_cluster(node, request, query)
        raise MethodNotAllowed(f"{method} is not allowed on /v1/cluster")
    if rest == "setconfig":
        if method != "PUT":
            raise MethodNotAllowed(f"{method} is not allowed on /v1/cluster/setconfig")
        return cluster.set_config_from_query(node, request, query)
    if rest in ("attach", "detach"):  # a remote AIS cluster (``?what=remote``)
        if method != "PUT":
            raise MethodNotAllowed(f"{method} is not allowed on /v1/cluster/{rest}")
        if rest == "attach":
            return remote_clusters.attach(node, request, query)
        return remote_clusters.detach(node, request, query)
    if rest.partition("/")[0] in _CLUSTER_PATHS_NOT_YET:
        raise NotImplementedYet(f"/v1/cluster/{rest} is not implemented yet")
    raise NotFound(f'invalid path "/v1/cluster/{rest}"')


def _route_health(node: Node, request: Request, rest: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(f"{request.method} is not allowed on /v1/health")
    return cluster.health(node, request, Query(request.query))


def _route_ml(node: Node, request: Request, rest: str) -> Response | Awaitable[Response]:
    """``/v1/ml/moss[/BUCKET]``: GetBatch (the request is the JSON body of a GET)."""
    what, _, bucket_raw = rest.partition("/")
    if what != "moss":
        raise NotFound(f'invalid path "/v1/ml/{rest}"')
    if request.method not in ("GET", "POST"):
        raise MethodNotAllowed(f"{request.method} is not allowed on /v1/ml/moss")
    return get_batch(node, request, _decode_segment(bucket_raw, "bucket name"), Query(request.query))


def _route_reverse(node: Node, request: Request, rest: str) -> Response | Awaitable[Response]:
    """``/v1/reverse/daemon``: served by the node named by ``Ais-Node-Id`` (a proxy forwards it there:
    that is how the SDK's ``get_performance`` and node logs reach every target through one endpoint)."""
    node_id = request.headers.get("ais-node-id", "")
    if not node_id:
        raise InvalidRequest("reverse requests need the Ais-Node-Id header")
    if rest != "daemon" and not rest.startswith("daemon/"):
        raise NotFound(f'invalid path "/v1/reverse/{rest}"')
    if node_id == node.node_id:
        return _route_daemon(node, request, rest)
    other = node.cluster_map().node(node_id) if not node.role.stores_objects else None
    if other is None:
        raise NotFound(f'node "{node_id}" does not exist')
    return cluster.reverse_to_node(node, request, other, rest)


_ROUTES: dict[str, Callable[[Node, Request, str], Response | Awaitable[Response]]] = {
    "buckets": _route_buckets,
    "daemon": _route_daemon,
    "cluster": _route_cluster,
    "health": _route_health,
    "reverse": _route_reverse,
    "ml": _route_ml,
    "tokens": tokens.route_tokens,
    "download": route_download,
}
_NOT_YET = {
    "etl",
    "sort",
    "users",
    "dsort",
    "metasync",
    "vote",
    "xactions",
    "txn",
    "s3",
    "ec",
    "notifs",
}
# PUT /v1/cluster/<path> for AIStore features not built yet (set primary); any other sub-path is a 404
_CLUSTER_PATHS_NOT_YET = frozenset({"proxy"})
_OBJECT_METHODS: dict[str, Callable[..., Any]] = {
    "DELETE": objects.delete_object,
    "PATCH": objects.patch_object,
    "POST": objects.post_object,
}
