"""Cluster and node requests: health, Smap, node and cluster config, and what jobs exist.

In embedded mode the node is the whole cluster: the Smap has one proxy and one target, both this
process, with a ``direct_url`` the client can reach (the address it used to reach us).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable

from strata.api import jobs, proxy
from strata.api.node import Node
from strata.api.responses import empty_response, json_response
from strata.cluster.smap import FLAG_DECOMMISSION, FLAG_MAINTENANCE
from strata.config.cluster import cluster_config_to_json, local_config_json, update_cluster_config
from strata.core.errors import InvalidRequest, NotFound, NotImplementedYet
from strata.core.query import Query
from strata.core.wire import ActionMsg, NetInfo, Smap, Snode, decode_action
from strata.server.http import Request, Response


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
    if node.cluster is not None:
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


def _capacity(node: Node) -> dict[str, object]:
    mountpaths: dict[str, object] = {}
    for mp in node.mountpaths.all:
        st = os.statvfs(mp.root)
        total, avail = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        used = total - st.f_bfree * st.f_frsize
        mountpaths[mp.root] = {
            "used": str(used),
            "avail": str(avail),
            "total": str(total),
            "pct_used": round(100 * used / total, 2) if total else 0,
        }
    return mountpaths


def node_status(node: Node, request: Request) -> dict[str, object]:
    return {
        "snode": snode(node, request, "target"),
        "deployment": "embedded",
        "version": "strata-0.1.0",
        "build_time": "",
        "k8s_pod_name": "",
        "status": "online",
        "up_time_ns": time.time_ns() - node.started_ns,
        "capacity": _capacity(node),
        "load": node.load.vector(),
        "pid": os.getpid(),
    }


def get_daemon(node: Node, request: Request, query: Query) -> Response:
    what = query.get("what")
    if what == "smap":
        return json_response(smap(node, request))
    if what == "snode":
        return json_response(snode(node, request, "target"))
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
    if what == "log":
        raise NotImplementedYet("logs are written to the server's stderr; /daemon?what=log is not served")
    if what in ("stats", "metrics", "mountpaths", "disk", "remote"):
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
    if what == "remote":
        return json_response({"a": [], "ver": 0})
    if node.is_proxy and what in ("running_all", "status_all", "status", "qryxstats"):
        return proxy.job_query(node, request, what)  # jobs run on the targets: ask them all
    if what == "running_all":
        return jobs.running_all_response(node, request)
    if what == "status_all":
        return jobs.status_all_response(node, request)
    if what == "status":
        return jobs.job_status_response(node, request)
    if what == "qryxstats":
        return jobs.query_stats_response(node, request)
    if what in ("stats", "sysinfo"):
        raise NotImplementedYet(f'cluster "what={what}" is not implemented yet')
    raise InvalidRequest(f'invalid "what={what}" for GET /v1/cluster')


def put_cluster(node: Node, request: Request, query: Query) -> Response | Awaitable[Response]:
    msg = decode_action(request.body)
    if msg.action == "set-config":
        if not isinstance(msg.value, dict):
            raise InvalidRequest("set-config value must be a JSON object")
        value = msg.value
        node.meta.update_config(lambda cfg: update_cluster_config(cfg, value))
        return empty_response()
    if node.is_proxy and msg.action in ("start", "stop", "stop-xaction", "abort"):
        return proxy.forward_job(node, request)  # jobs run on the targets
    if msg.action == "start":
        return jobs.start_job(node, msg)
    if msg.action in ("stop", "stop-xaction", "abort"):
        return jobs.stop_jobs(node, msg)
    if msg.action in ("start-maintenance", "stop-maintenance", "decommission-node", "decommission"):
        return _maintenance(node, msg)
    raise NotImplementedYet(f'cluster action "{msg.action}" is not implemented yet')


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
