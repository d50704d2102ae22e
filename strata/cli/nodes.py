"""``strata proxy`` and ``strata target``: run one node of a cluster (the control plane is etcd)."""

from __future__ import annotations

import argparse


def add_node_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for role, what in (
        ("proxy", "a gateway: metadata, redirects to targets, fan-out"),
        ("target", "a storage node: mountpaths, objects, jobs"),
    ):
        p = sub.add_parser(role, help=f"run a cluster {role} ({what})")
        p.add_argument(
            "--etcd", required=True, help="etcd endpoint(s), comma-separated (http://127.0.0.1:2379)"
        )
        p.add_argument(
            "--cluster", default="strata", help="cluster name: its key prefix in etcd (default: strata)"
        )
        p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
        p.add_argument(
            "--public-host",
            default=None,
            help="address other nodes and clients use (default: --host, "
            "or 127.0.0.1 when listening on all addresses)",
        )
        p.add_argument(
            "--port", type=int, default=8080 if role == "proxy" else 8081, help="port to listen on"
        )
        p.add_argument("--data", default=None, help="data directory (node id, jobs; default: ~/.strata)")
        p.add_argument("--config", default=None, help="cluster config JSON to install in etcd")
        p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
        if role == "target":
            p.add_argument("--mountpath", action="append", default=[], help="a mountpath; repeat for several")


def run_node_command(args: argparse.Namespace) -> int:
    from strata.server.cluster_node import serve_cluster_node

    return serve_cluster_node(
        role=args.command,
        host=args.host,
        port=args.port,
        public_host=args.public_host,
        data_dir=args.data,
        mountpaths=getattr(args, "mountpath", []),
        etcd_urls=[u.strip() for u in args.etcd.split(",") if u.strip()],
        cluster=args.cluster,
        config_path=args.config,
        workers=args.workers,
    )
