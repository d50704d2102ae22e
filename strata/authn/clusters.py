"""``/v1/clusters``: the AIS clusters this AuthN issues tokens for. Anyone may read; an admin changes.

Registering (``POST /clusters {"id", "alias", "urls"}``; without ``id`` AuthN asks the first URL for the
cluster map's UUID) also creates the roles ``ClusterOwner-<alias|id>`` (every permission),
``BucketOwner-<alias|id>`` (read-write) and ``Guest-<alias|id>`` (read-only), then shows the cluster a
token (``POST /v1/tokens``) and sends it the revoked tokens. Those two calls are best effort: the
cluster is registered either way, and what failed comes back in ``warnings`` (and in the log).
"""

from __future__ import annotations

from typing import Any

from strata.authn import errors
from strata.authn.context import Call, live_revoked
from strata.authn.model import (
    CLUSTER_ROLES,
    Cluster,
    ClusterACL,
    ClusterIn,
    Role,
    check_name,
    cluster_json,
    decode,
)
from strata.authn.remote import fetch_uuid
from strata.authn.store import Database
from strata.core.errors import InvalidRequest, MethodNotAllowed
from strata.server.http import Response
from strata.server.responses import empty_response, json_response


def handle(call: Call) -> Response:
    name = call.name("cluster")
    if call.method == "GET":
        data = call.service.store.data
        if name is None:
            return json_response(
                {"clusters": {cid: cluster_json(c) for cid, c in sorted(data.clusters.items())}}
            )
        found = data.cluster(name)
        if found is None:
            raise errors.cluster_not_found(name)
        return json_response({"clusters": {found.id: cluster_json(found)}})
    if call.method == "POST" and name is None:
        return _register(call)
    if call.method == "PUT" and name is not None:
        return _update(call, name)
    if call.method == "DELETE" and name is not None:
        return _delete(call, name)
    raise MethodNotAllowed(f"{call.method} is not supported on /v1/clusters{'/' + name if name else ''}")


def _urls(urls: list[str]) -> list[str]:
    if not urls:
        raise InvalidRequest("a cluster needs at least one URL")
    for url in urls:
        if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
            raise InvalidRequest(f'invalid cluster URL "{url}": expected http(s)://HOST:PORT')
    return [url.rstrip("/") for url in urls]


def _alias_taken(data: Database, alias: str, cluster_id: str) -> bool:
    return any(c.id != cluster_id and alias in (c.id, c.alias) for c in data.clusters.values())


def _role_names(cluster: Cluster) -> list[str]:
    return [f"{prefix}-{cluster.alias or cluster.id}" for prefix, _, _ in CLUSTER_ROLES]


def _rename_roles(data: Database, before: Cluster, after: Cluster) -> None:
    """A new alias renames the cluster's built-in roles (and the users holding them) along with it."""
    renames = dict(zip(_role_names(before), _role_names(after), strict=True))
    for old, new in renames.items():
        role = data.roles.get(old)
        if role is None or new in data.roles:
            continue
        del data.roles[old]
        role.name = new
        role.desc = role.desc.replace(before.alias or before.id, after.alias or after.id)
        data.roles[new] = role
    for user in data.users.values():
        user.roles = [
            renames.get(name, name) if renames.get(name) in data.roles else name for name in user.roles
        ]


def _register(call: Call) -> Response:
    call.require_admin()
    message: ClusterIn = decode(call.body, ClusterIn, "register cluster")
    urls = _urls(message.urls or [])
    service = call.service
    cluster_id = message.id or fetch_uuid(urls[0], service.signer.cluster_call_token(service.admin_name, ""))
    cluster = Cluster(id=check_name(cluster_id, "cluster ID"), alias=message.alias or "", urls=urls)
    if cluster.alias:
        check_name(cluster.alias, "cluster alias")
    with service.store.change() as data:
        if cluster.id in data.clusters:
            raise errors.cluster_exists(cluster.id)
        if _alias_taken(data, cluster.id, cluster.id) or (
            cluster.alias and _alias_taken(data, cluster.alias, cluster.id)
        ):
            raise errors.cluster_exists(cluster.alias or cluster.id)
        data.clusters[cluster.id] = cluster
        label = cluster.alias or cluster.id
        for (_, description, perm), role_name in zip(CLUSTER_ROLES, _role_names(cluster), strict=True):
            data.roles.setdefault(
                role_name,
                Role(name=role_name, desc=description.format(label), clusters=[ClusterACL(cluster.id, perm)]),
            )
        revoked, version = live_revoked(data.revoked), data.revocation_version
    warnings = [
        problem
        for problem in (
            service.caller.handshake(cluster),
            service.caller.push_revoked(cluster, revoked, version),
        )
        if problem
    ]
    answer: dict[str, Any] = {**cluster_json(cluster), "warnings": warnings}
    return json_response(answer)


def _update(call: Call, name: str) -> Response:
    call.require_admin()
    message: ClusterIn = decode(call.body, ClusterIn, "update cluster")
    urls = _urls(message.urls) if message.urls else None  # the SDK sends [] for "unchanged"
    if message.alias:
        check_name(message.alias, "cluster alias")
    with call.service.store.change() as data:
        found = data.cluster(name)
        if found is None:
            raise errors.cluster_not_found(name)
        cluster = data.clusters[found.id]
        if message.alias:
            if _alias_taken(data, message.alias, cluster.id):
                raise errors.cluster_exists(message.alias)
            before = Cluster(cluster.id, cluster.alias, cluster.urls)
            cluster.alias = message.alias
            _rename_roles(data, before, cluster)
        if urls is not None:
            cluster.urls = urls
    return empty_response(200)


def _delete(call: Call, name: str) -> Response:
    call.require_admin()
    with call.service.store.change() as data:
        found = data.cluster(name)
        if found is None:
            raise errors.cluster_not_found(name)
        del data.clusters[found.id]
        for role_name in _role_names(found):
            data.roles.pop(role_name, None)
            for user in data.users.values():
                if role_name in user.roles:
                    user.roles.remove(role_name)
    return empty_response(200)
