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
    from strata.daemons.cluster_node import serve_cluster_node

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


def add_cluster_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """``strata cluster up|down``; the verbs are returned so that client verbs can join them."""
    cluster = sub.add_parser("cluster", help="a local development cluster: etcd, targets and proxies")
    verbs = cluster.add_subparsers(dest="cluster_verb", required=True)
    up = verbs.add_parser("up", help="start etcd (unless --etcd), N targets and M proxies on 127.0.0.1")
    up.add_argument("--targets", type=int, default=3)
    up.add_argument("--proxies", type=int, default=1)
    up.add_argument("--workers", type=int, default=1, help="worker processes per node (default: 1)")
    up.add_argument("--etcd", default=None, help="use this etcd instead of starting one")
    down = verbs.add_parser("down", help="stop what 'cluster up' started")
    for p in (up, down):
        p.add_argument(
            "--dir", default=None, help="where nodes keep data and logs (default: ~/.strata/cluster)"
        )
    return verbs


def run_cluster_command(args: argparse.Namespace) -> int:
    import os
    import sys

    from strata.cluster.devcluster import DevCluster, etcd_binary

    root = args.dir or os.path.join(os.path.expanduser("~"), ".strata", "cluster")
    if args.cluster_verb == "up":
        if os.path.exists(os.path.join(root, "cluster.json")):
            old = DevCluster.load(root)
            if any(p.alive() for p in old.procs.values()):
                sys.stderr.write(
                    f"Error: a cluster from {root} is still running; 'strata cluster down' first\n"
                )
                return 1
        if args.etcd is None:
            try:  # before anything starts: without etcd the answer is one line, not a failed start-up
                etcd_binary()
            except RuntimeError as exc:
                sys.stderr.write(f"Error: {exc}\n")
                return 1
        cluster = DevCluster(root, workers=args.workers, etcd_url=args.etcd)
        sys.stderr.write(f"starting {args.targets} target(s) and {args.proxies} prox(ies) in {root}...\n")
        try:
            cluster.up(args.targets, args.proxies)
        except (RuntimeError, TimeoutError) as exc:
            sys.stderr.write(f"Error: {exc}\n")
            cluster.down()
            return 1
        for proc in cluster.procs.values():
            sys.stdout.write(f"{proc.role:7} {proc.name:4} {proc.url}  (pid {proc.pid}, log {proc.log})\n")
        sys.stdout.write(f"\nendpoint: {cluster.endpoint}   (export AIS_ENDPOINT={cluster.endpoint})\n")
        return 0
    try:
        cluster = DevCluster.load(root)
    except FileNotFoundError:
        sys.stderr.write(f"Error: no cluster state in {root}\n")
        return 1
    cluster.down()
    sys.stdout.write(f"stopped {len(cluster.procs)} process(es)\n")
    return 0
