"""Cluster verbs: ``show cluster`` (the cluster map as a table) and ``config show``.

The node table comes from the Smap (``GET /v1/daemon?what=smap`` via ``Cluster.get_info``). Capacity
is best effort: AIStore answers ``node_status`` per node (``GET /v1/reverse/daemon?what=node_status``
with ``Ais-Node-Id``, or the node's own ``/v1/daemon?what=node_status``) with a ``capacity`` section;
a node that does not answer it shows ``-`` rather than failing the whole command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strata.cli.connection import Session
from strata.cli.errors import CommandError
from strata.cli.formatting import NO_VALUE, Table, human_size, select_section, write_json, write_properties

NODE_STATUS_QUERY = {"what": "node_status"}
NODE_ID_HEADER = "Ais-Node-Id"
STATUS_TIMEOUT_SECONDS = 2.0


@dataclass
class NodeRow:
    """One node of the map, with its roles merged (an embedded node is both proxy and target)."""

    node_id: str
    endpoint: str
    roles: list[str] = field(default_factory=list)
    primary: bool = False
    is_target: bool = False
    flags: int = 0


@dataclass(frozen=True)
class Capacity:
    """Summed over a target's mountpaths; ``total`` counts reserved blocks too, when the node says it."""

    used: int
    available: int
    total: int = 0

    @property
    def percent_used(self) -> int:
        total = self.total or self.used + self.available
        return round(100 * self.used / total) if total else 0


def _endpoint_of(node: Any) -> str:
    network = node.public_net
    if network is None:
        return NO_VALUE
    if network.direct_url:
        return str(network.direct_url)
    return f"{network.node_hostname}:{network.daemon_port}" if network.node_hostname else NO_VALUE


def _node_rows(smap: Any) -> list[NodeRow]:
    """Proxies first, then targets, each sorted by id; one row per node id."""
    rows: dict[str, NodeRow] = {}
    primary_id = smap.proxy_si.daemon_id if smap.proxy_si is not None else ""
    for role, members in (("proxy", smap.pmap), ("target", smap.tmap)):
        for node_id in sorted(members):
            node = members[node_id]
            row = rows.setdefault(node_id, NodeRow(node_id, _endpoint_of(node), flags=int(node.flags or 0)))
            row.roles.append(role)
            row.is_target = row.is_target or role == "target"
            row.primary = row.primary or (role == "proxy" and node_id == primary_id)
    return list(rows.values())


def _to_int(value: Any) -> int:
    """AIStore sends capacities as strings (``"used": "1234"``); accept either."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_capacity(status: Any) -> Capacity | None:
    """Sum ``used``/``avail``/``total`` over the mountpaths of a node_status answer (``None`` if absent).

    AIStore nests them as ``capacity.mountpaths.<path>``; Strata answers ``capacity.<path>`` directly.
    Both are read; AIStore sends the numbers as strings, so either type is accepted.
    """
    if not isinstance(status, Mapping):
        return None
    capacity = status.get("capacity")
    if not isinstance(capacity, Mapping):
        return None
    nested = capacity.get("mountpaths")
    mountpaths = nested if isinstance(nested, Mapping) else capacity
    usages = [usage for usage in mountpaths.values() if isinstance(usage, Mapping) and "used" in usage]
    if not usages:
        return None
    return Capacity(
        used=sum(_to_int(usage.get("used")) for usage in usages),
        available=sum(_to_int(usage.get("avail")) for usage in usages),
        total=sum(_to_int(usage.get("total")) for usage in usages),
    )


def human_uptime(nanoseconds: int) -> str:
    """``3d4h``, ``5h12m``, ``4m10s``: the two largest units, as ``ais show cluster`` prints uptime."""
    seconds = nanoseconds // 1_000_000_000
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _node_status(session: Session, row: NodeRow) -> Any:
    """The node's status JSON via the gateway, then directly from the node; ``None`` when neither answers."""
    attempts: list[dict[str, Any]] = [
        {"path": "reverse/daemon", "headers": {NODE_ID_HEADER: row.node_id}},
        {"path": "daemon", "endpoint": row.endpoint if row.endpoint.startswith("http") else None},
    ]
    for attempt in attempts:
        try:
            response = session.request(
                "GET", params=NODE_STATUS_QUERY, timeout=STATUS_TIMEOUT_SECONDS, **attempt
            )
            return response.json()
        except Exception:  # best effort by design: capacity is decoration, never a reason to fail
            continue
    return None


def show_cluster(session: Session, as_json: bool = False) -> int:
    """``strata show cluster``: the nodes, their roles and endpoints, capacity where known, a summary."""
    with session.failing_as():
        smap = session.client.cluster().get_info()
    if as_json:
        write_json(session.out, smap.model_dump())
        return 0
    rows = _node_rows(smap)
    table = Table(["node", "role", "endpoint", "cap used", "cap avail", "uptime", "status"])
    for row in rows:
        status = _node_status(session, row)
        capacity = parse_capacity(status) if row.is_target else None
        role = "+".join(row.roles) + (" [primary]" if row.primary else "")
        used = f"{human_size(capacity.used)} ({capacity.percent_used}%)" if capacity else NO_VALUE
        available = human_size(capacity.available) if capacity else NO_VALUE
        uptime = status.get("up_time_ns") if isinstance(status, Mapping) else None
        uptime_text = human_uptime(int(uptime)) if isinstance(uptime, int) else NO_VALUE
        table.add(row.node_id, role, row.endpoint, used, available, uptime_text, _status_text(row.flags))
    table.write(session.out)
    proxies = sum(1 for row in rows if "proxy" in row.roles)
    targets = sum(1 for row in rows if row.is_target)
    session.out.write("\nSummary:\n")
    session.out.write(f"  Proxies:      {proxies}\n")
    session.out.write(f"  Targets:      {targets}\n")
    session.out.write(f"  Cluster map:  version {smap.version}, UUID {smap.uuid or NO_VALUE}\n")
    if smap.creation_time:
        session.out.write(f"  Created:      {smap.creation_time}\n")
    _write_auth(session)
    return 0


def _write_auth(session: Session) -> None:
    """How the cluster authenticates, and -- loudly -- any front its config leaves open."""
    try:
        answer = session.request("GET", "daemon", params={"what": "auth"}, timeout=STATUS_TIMEOUT_SECONDS)
        auth = answer.json()
    except Exception:  # an older server, or no SHOW-CLUSTER permission: the rest of the report stands
        return
    if not isinstance(auth, Mapping):
        return
    if auth.get("enabled"):
        how = f"tokens required ({auth.get('method')}, key from {auth.get('key_source')})"
    elif auth.get("s3_users"):
        how = "S3 users only (no tokens): anonymous requests get what S3 ACLs grant"
    else:
        how = "off (anyone may do anything the buckets' access bits allow)"
    session.out.write(f"  Auth:         {how}\n")
    if auth.get("cluster_key"):
        session.out.write("  Cluster key:  redirects and node-to-node calls are signed\n")
    for warning in auth.get("open_fronts") or []:
        session.out.write(f"  OPEN FRONT:   {warning}\n")


def _status_text(flags: int) -> str:
    """AIStore node flags: bit 2 maintenance, bit 3 decommissioning."""
    if flags & (1 << 3):
        return "decommissioning"
    if flags & (1 << 2):
        return "maintenance"
    return "online"


def show_config(session: Session, section: str = "", as_json: bool = False) -> int:
    """``strata config show [SECTION] [--json]``: ``GET /v1/cluster?what=cluster_config``."""
    with session.failing_as():
        config = session.request("GET", "cluster", params={"what": "cluster_config"}).json()
    if not isinstance(config, Mapping):
        raise CommandError("server sent a cluster config that is not a JSON object")
    try:
        if as_json:
            write_json(session.out, select_section(config, section) if section else config)
        else:
            write_properties(session.out, config, section)
    except KeyError as error:
        raise CommandError(f"cluster config: {error.args[0]}") from None
    return 0
