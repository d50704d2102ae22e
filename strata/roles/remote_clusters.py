"""Remote AIS clusters at the API: attach, detach, ``what=remote``, and the bucket actions passed on.

Another AIS cluster (a Strata or an AIStore) is attached under an alias (wave-2 contract §3)::

    PUT /v1/cluster/attach?what=remote   Ais-Remote-Ais-Alias: lab   Ais-Remote-Ais-Url: http://h:8080
    PUT /v1/cluster/detach?what=remote   Ais-Remote-Ais-Alias: lab          (404 when not attached)
    GET /v1/cluster?what=remote    ->    {"a": [{"smap": {...} | null, "url", "alias", "uuid"}], "ver": n}

Both actions change ``backend.ais`` in the cluster config through the metadata store, like any
set-config: persisted, and in a cluster written to etcd, which every node watches. A cluster that
cannot be reached may still be attached; it shows ``"smap": null`` until it answers. Its buckets are
then ``ais://@lab/b`` (``strata.objects.remote``: remote buckets with the ``ais`` backend), except for
``create-bck`` and ``destroy-bck``, which are passed on to the remote as they came (a destroy also
drops the local entry and what was cached).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import msgspec

from strata.backends.ais_clusters import AisClusters
from strata.config.backend import alias_problem, remote_ais_clusters, url_problem
from strata.config.cluster import ClusterConfig, update_cluster_config
from strata.core.errors import InvalidRequest, NotFound
from strata.core.names import BucketRef
from strata.core.query import Query
from strata.core.wire import ActionMsg
from strata.objects.compression import off_loop
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import empty_response, json_response

ALIAS_HEADER = "ais-remote-ais-alias"
URL_HEADER = "ais-remote-ais-url"


def _what_remote(query: Query, verb: str) -> None:
    if query.get("what") != "remote":
        raise InvalidRequest(f'{verb} needs "what=remote" (got "what={query.get("what")}")')


def _alias(request: Request) -> str:
    alias = request.headers.get(ALIAS_HEADER, "").strip()
    problem = alias_problem(alias, "Ais-Remote-Ais-Alias")
    if problem:
        raise InvalidRequest(problem)
    return alias


def _with_clusters(cfg: ClusterConfig, clusters: dict[str, Any]) -> ClusterConfig:
    """``cfg`` with ``backend.ais`` replaced (dropped when empty), validated; a new config version."""
    backend = dict(cfg.backend)
    if clusters:
        backend["ais"] = clusters
    else:
        backend.pop("ais", None)
    updated = update_cluster_config(cfg, {"backend": backend})
    return msgspec.structs.replace(updated, config_version=cfg.config_version + 1)


async def attach(node: Node, request: Request, query: Query) -> Response:
    """Attach (or re-attach at the same URL) a remote cluster; asked for its map first, so its UUID is
    known at once when it answers, but attached even when it does not."""
    _what_remote(query, "attach")
    alias = _alias(request)
    url = request.headers.get(URL_HEADER, "").strip().rstrip("/")
    problem = url_problem(url, "Ais-Remote-Ais-Url")
    if problem:
        raise InvalidRequest(problem)
    clusters = node.remote_clusters
    attached = clusters.attached()
    if alias in attached and url not in attached[alias]:
        raise InvalidRequest(
            f'remote cluster "{alias}" is already attached at {", ".join(attached[alias])}; detach it first'
        )
    found = await off_loop(lambda: clusters.probe(alias, (url,)))
    _check_distinct(clusters, alias, found.uuid)

    def change(cfg: ClusterConfig) -> ClusterConfig:
        return _with_clusters(cfg, {**_listed(cfg), alias: [url]})

    node.meta.update_config(change)
    return empty_response()


def _check_distinct(clusters: AisClusters, alias: str, uuid: str) -> None:
    """Aliases and UUIDs are one set of names (``ais://@x/b`` may be either): none may name two clusters."""
    for other, urls in clusters.attached().items():
        if other == alias:
            continue
        if clusters.known_uuid(other, urls) == alias:
            raise InvalidRequest(f'alias "{alias}" is the UUID of the attached cluster "{other}"')
        if uuid and uuid == other:
            raise InvalidRequest(f'the cluster at this URL has UUID "{uuid}", the alias of another cluster')


def detach(node: Node, request: Request, query: Query) -> Response:
    _what_remote(query, "detach")
    alias = request.headers.get(ALIAS_HEADER, "").strip()
    if not alias:
        raise InvalidRequest("detach needs the Ais-Remote-Ais-Alias header")

    def change(cfg: ClusterConfig) -> ClusterConfig:
        clusters = _listed(cfg)
        if alias not in clusters:
            raise NotFound(f'remote cluster "{alias}" is not attached')
        del clusters[alias]
        return _with_clusters(cfg, clusters)

    node.meta.update_config(change)
    node.remote_clusters.forget(alias)
    return empty_response()


def _listed(cfg: ClusterConfig) -> dict[str, Any]:
    return {alias: list(urls) for alias, urls in remote_ais_clusters(cfg).items()}


async def remote_info(node: Node) -> Response:
    """``what=remote``: every attached cluster as it answers now (each asked for its map; the node
    answering asks them itself, which in a cluster is what a target asked by the proxy would do)."""
    rows = await off_loop(node.remote_clusters.describe)
    version = node.meta.config().config_version
    return json_response({"a": [row.to_wire() for row in rows], "ver": version})


async def forward_bucket_action(node: Node, request: Request, bck: BucketRef, msg: ActionMsg) -> Response:
    """``create-bck`` / ``destroy-bck`` on ``ais://@x/b``: the remote creates or destroys its bucket;
    after a destroy it answered with success, the local entry and cached objects go too."""
    clusters = node.remote_clusters
    settings = await off_loop(lambda: clusters.settings(bck.ns_uuid, bck.ns_name))
    path = f"/v1/buckets/{urllib.parse.quote(bck.name)}"
    query = Query(request.query).items()
    answer = await off_loop(lambda: clusters.forward(settings, request.method, path, query, request.body))
    if msg.action == "destroy-bck" and answer.status < 300 and node.meta.bmd().get(bck) is not None:

        def drop(bmd: Any) -> Any:
            return bmd.without_bucket(bck) if bmd.get(bck) is not None else bmd

        node.meta.update_bmd(drop)
        node.role.bucket_destroyed(node, bck)
    headers = [("Content-Type", answer.content_type)] if answer.body else []
    return Response(answer.status, headers, answer.body)
