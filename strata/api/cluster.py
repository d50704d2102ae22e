"""Cluster and node requests: health, Smap, node and cluster config, and what jobs exist.

In embedded mode the node is the whole cluster: the Smap has one proxy and one target, both this
process, with a ``direct_url`` the client can reach (the address it used to reach us).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable

from strata.cluster.smap import FLAG_DECOMMISSION, FLAG_MAINTENANCE, NodeInfo
from strata.config.cluster import (
    ClusterConfig,
    cluster_config_to_json,
    local_config_json,
    update_cluster_config,
)
from strata.core.errors import InvalidRequest, NotFound, NotImplementedYet
from strata.core.query import Query
from strata.core.wire import ActionMsg, NetInfo, Smap, Snode, decode_action
from strata.objects.remote import CLOUD_PROVIDERS
from strata.roles import jobs, proxy, remote_clusters, savings
from strata.roles.node import Node
from strata.server.http import Request, Response
from strata.server.responses import empty_response, json_response

VERSION = "strata-0.1.0"


def _public_host(node: Node, request: Request) -> tuple[str, int]:
    """The host clients reach us at: the Host header, else the listening address."""
    host_header = request.headers.get("host", "")
    if host_header:
        host, _, port = host_header.rpartition(":") if ":" in host_header else (host_header, "", "")
        if port.isdigit():
            return host, int(port)
        return host_header, node.port
    host = node.host if node.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return host, node.port


def snode(node: Node, request: Request, daemon_type: str) -> Snode:
    host, port = _public_host(node, request)
    net = NetInfo(node_hostname=host, daemon_port=str(port), direct_url=f"{node.scheme}://{host}:{port}")
    return Snode(
        daemon_id=node.node_id,
        daemon_type=daemon_type,
        public_net=net,
        intra_control_net=net,
        intra_data_net=net,
        flags=0,
        id_digest=node.id_digest,
    )


def smap(node: Node, request: Request) -> Smap:
    if node.role.in_cluster:
        return node.cluster_map().to_smap(_started(node))
    target = snode(node, request, "target")
    proxy = snode(node, request, "proxy")
    return Smap(
        tmap={node.node_id: target},
        pmap={node.node_id: proxy},
        proxy_si=proxy,
        version=1,
        uuid=node.meta.bmd().uuid,
        creation_time=_started(node),
    )


def _started(node: Node) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(node.started_ns / 1e9))


def health(node: Node, request: Request, query: Query) -> Response:
    return empty_response()


def own_snode(node: Node, request: Request) -> Snode:
    """This node as the cluster map shows it (its role, flags and registered address); embedded, the
    one target reached at the address the client used."""
    if node.role.in_cluster:
        cluster_map = node.cluster_map()
        info = cluster_map.node(node.node_id)
        if info is not None and info.role == node.role.name:
            return info.snode(cluster_map.flags.get(node.node_id, 0))
    return snode(node, request, "target" if node.role.stores_objects else "proxy")


def _capacity(node: Node) -> dict[str, object]:
    """AIStore's ``TargetCDF``: per mountpath ``used``/``avail``/``total`` (numbers as strings) and the
    node's totals; a proxy stores nothing, so its capacity is empty."""
    mountpaths: dict[str, object] = {}
    percents: list[float] = []
    total_used = total_avail = 0
    for mp in node.mountpaths.all if node.role.stores_objects else []:
        st = os.statvfs(mp.root)
        total, avail = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        used = total - st.f_bfree * st.f_frsize
        percent = round(100 * used / total, 2) if total else 0
        usage = {"used": str(used), "avail": str(avail), "total": str(total), "pct_used": percent}
        mountpaths[mp.root] = usage
        percents.append(percent)
        total_used += used
        total_avail += avail
    return {
        "mountpaths": mountpaths,
        "pct_max": max(percents, default=0),
        "pct_avg": round(sum(percents) / len(percents), 2) if percents else 0,
        "pct_min": min(percents, default=0),
        "cs_err": "",
        "total_used": str(total_used),
        "total_avail": str(total_avail),
    }


def _tracker(node: Node) -> dict[str, dict[str, str]]:
    """The node's counters in AIStore's stats tracker shape: ``{"get.n": {"v": "12"}, ...}``
    (``_count`` -> ``.n``, ``_bytes`` -> ``.size``, ``_ns`` -> ``.ns``, the way AIStore names them)."""
    tracker = {}
    for name, value in node.metrics.totals().items():
        stem, _, unit = name.rpartition("_")
        key = f"{stem.replace('_', '.')}.{_TRACKER_UNITS.get(unit, unit)}"
        tracker[key] = {"v": str(value)}
    tracker["up.ns.time"] = {"v": str(time.time_ns() - node.started_ns)}
    return tracker


_TRACKER_UNITS = {"count": "n", "bytes": "size", "ns": "ns"}


def node_status(node: Node, request: Request) -> dict[str, object]:
    """``GET /v1/daemon?what=node_status`` (the SDK's ``get_performance`` reads it per target through
    ``/v1/reverse/daemon``): AIStore's ``stats.NodeStatus`` keys, plus Strata's uptime and load."""
    load = node.load.vector()
    return {
        "snode": own_snode(node, request),
        "tracker": _tracker(node),
        "capacity": _capacity(node),
        "status": "online",
        "deployment": "dev" if node.role.in_cluster else "embedded",
        "ais_version": VERSION,
        "build_time": "",
        "k8s_pod_name": "",
        "smap_version": str(node.cluster_map().version),
        "sys_info": {
            "mem_used": load.mem_total - load.mem_avail,
            "mem_avail": load.mem_avail,
            "pct_mem_used": round(100 * (1 - load.mem_avail / load.mem_total), 2) if load.mem_total else 0,
            "pct_cpu_used": round(min(load.cpu_load, 1.0) * 100, 2),
            "load_avg": dict(zip(("one", "five", "fifteen"), os.getloadavg(), strict=True)),
        },
        "up_time_ns": time.time_ns() - node.started_ns,
        "load": load,
        "pid": os.getpid(),
    }


def get_daemon(node: Node, request: Request, query: Query) -> Response | Awaitable[Response]:
    what = query.get("what")
    if what == "smap":
        return json_response(smap(node, request))
    if what == "snode":
        return json_response(own_snode(node, request))
    if what == "config":
        host, port = _public_host(node, request)
        return json_response(
            local_config_json(
                node.meta.config(),
                confdir=node.data_dir,
                mountpaths=[m.root for m in node.mountpaths.all],
                host=host,
                port=port,
            )
        )
    if what in ("node_status", "status"):
        return json_response(node_status(node, request))
    if what == "bmd":
        return json_response(node.meta.bmd().to_json())
    if what == "savings":
        return savings.local(node, query)
    if what == "auth":  # Strata's own: how this node authenticates, and any front left open (no keys)
        return json_response(node.gate.describe())
    if what == "remote":  # the remote AIS clusters as this node sees them
        return remote_clusters.remote_info(node)
    if what == "log":
        raise NotImplementedYet("logs are written to the server's stderr; /daemon?what=log is not served")
    if what in ("stats", "metrics", "mountpaths", "disk"):
        if what == "mountpaths":
            return json_response({"available": [m.root for m in node.mountpaths.all], "disabled": []})
        raise NotImplementedYet(f'daemon "what={what}" is not implemented yet')
    raise InvalidRequest(f'invalid "what={what}" for GET /v1/daemon')


def get_cluster(node: Node, request: Request, query: Query) -> Response | Awaitable[Response]:
    what = query.get("what")
    if what == "cluster_config":
        return json_response(cluster_config_to_json(node.meta.config()))
    if what == "smap":
        return json_response(smap(node, request))
    if what == "bmd":
        return json_response(node.meta.bmd().to_json())
    if what == "target_ips":
        return Response(200, [], _public_host(node, request)[0].encode())
    if what == "remote":  # attached remote AIS clusters, each asked for its map now
        return remote_clusters.remote_info(node)
    if what == "backends":  # every cloud backend is built in (strata.backends); ais remotes are "remote"
        return json_response(sorted(CLOUD_PROVIDERS))
    if what in jobs.JOB_QUERIES:
        return node.role.job_query(node, request, what)
    if what == "savings":
        return node.role.savings(node, request, query)
    if what in ("stats", "sysinfo"):
        raise NotImplementedYet(f'cluster "what={what}" is not implemented yet')
    raise InvalidRequest(f'invalid "what={what}" for GET /v1/cluster')


def put_cluster(node: Node, request: Request, query: Query) -> Response | Awaitable[Response]:
    msg = decode_action(request.body)
    if msg.action == "set-config":
        if not isinstance(msg.value, dict):
            raise InvalidRequest("set-config value must be a JSON object")
        value = msg.value
        node.meta.update_config(lambda cfg: _vetted(node, request, cfg, update_cluster_config(cfg, value)))
        return empty_response()
    if msg.action == "start":
        return node.role.start_job(node, request, query, msg)
    if msg.action in ("stop", "stop-xaction", "abort"):
        return node.role.stop_jobs(node, request, msg)
    if msg.action in ("start-maintenance", "stop-maintenance", "decommission-node", "decommission"):
        return _maintenance(node, msg)
    if msg.action in _CLUSTER_ACTIONS_NOT_YET:
        raise NotImplementedYet(f'cluster action "{msg.action}" is not implemented yet')
    raise InvalidRequest(f'invalid cluster action "{msg.action}"')


# AIStore cluster actions (api/apc/actmsg.go) Strata does not serve yet; any other action is a 400
_CLUSTER_ACTIONS_NOT_YET = frozenset(
    {
        "shutdown",
        "shutdown-node",
        "rm-unsafe",
        "reset-config",
        "reset-stats",
        "rotate-logs",
        "clear-lcache",
        "reload-creds",
    }
)
# Names the ``setconfig`` query carries besides config values
_SETCONFIG_OPTIONS = frozenset({"transient"})


def set_config_from_query(node: Node, request: Request, query: Query) -> Response:
    """``PUT /v1/cluster/setconfig?name=value[&...]``: what ``ais config cluster k=v`` sends.

    Names are dotted config keys (``periodic.stats_time=10s``, ``features=16``), values strings; they
    go through the same merge and validation as the ``set-config`` action, so a bad value is a 400
    naming the key. ``transient=true`` asks AIStore not to persist the change; Strata keeps every
    change, and checks only that the option is a boolean.
    """
    transient = query.get("transient", "false").lower()
    if transient not in ("true", "false", "1", "0", ""):
        raise InvalidRequest(f'setconfig: invalid transient="{query.get("transient")}" (true or false)')
    values = {name: value for name, value in query.items() if name not in _SETCONFIG_OPTIONS}
    if not values:
        raise InvalidRequest("setconfig needs a name=value in the query (?periodic.stats_time=10s)")
    node.meta.update_config(lambda cfg: _vetted(node, request, cfg, update_cluster_config(cfg, values)))
    return empty_response()


def _vetted(node: Node, request: Request, old: ClusterConfig, new: ClusterConfig) -> ClusterConfig:
    """A config change the auth settings allow: keys that parse, and turning auth on only with a valid
    admin token (under the new settings) in this same request (``strata.auth.Gate.vet_config``)."""
    node.gate.vet_config(request.headers, old, new)
    return new


async def reverse_to_node(node: Node, request: Request, target: NodeInfo, rest: str) -> Response:
    """``/v1/reverse/<rest>`` with ``Ais-Node-Id`` naming another node: the same request to that
    node's ``/v1/<rest>``, and its answer passed back as it came (status, type and body)."""
    answers = await proxy.fan_out(
        node,
        request.method,
        f"/v1/{rest}",
        body=request.body,
        query=request.query,
        headers={"Content-Type": request.headers.get("content-type", "application/json")},
        only=target,
    )
    answer = answers[target.id]
    content_type = answer.headers.get("Content-Type", "application/json")
    return Response(answer.status, [("Content-Type", content_type)], answer.content)


def _maintenance(node: Node, msg: ActionMsg) -> Response:
    """Put a node in (or out of) maintenance, or decommission it: it leaves HRW placement, and the
    rebalance that follows moves its objects to the remaining targets while it keeps serving."""
    if node.cluster is None:
        raise InvalidRequest("maintenance applies to cluster nodes; this is an embedded node")
    value = msg.value if isinstance(msg.value, dict) else {}
    node_id = str(value.get("sid") or value.get("daemon_id") or "")
    if not node_id:
        raise InvalidRequest('maintenance needs the node id: {"sid": "<node id>"}')
    if node.cluster_map().node(node_id) is None:
        raise NotFound(f'node "{node_id}" is not in the cluster map')
    flags = 0
    if msg.action == "start-maintenance":
        flags = FLAG_MAINTENANCE
    elif msg.action.startswith("decommission"):
        flags = FLAG_DECOMMISSION
    node.cluster.set_flags(node_id, flags)
    return empty_response()
