"""The ``strata`` command: ``serve`` starts a node; the other verbs talk to one like ``ais`` does."""

from __future__ import annotations

import argparse
import sys


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run an embedded Strata node (proxy and target in one server)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    p.add_argument("--data", default=None, help="data directory (default: ~/.strata)")
    p.add_argument("--mountpath", action="append", default=[], help="a mountpath; repeat for several")
    p.add_argument("--config", default=None, help="cluster config JSON file (AIStore shape)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="strata", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        from strata.server.run import serve

        return serve(
            host=args.host,
            port=args.port,
            data_dir=args.data,
            mountpaths=args.mountpath,
            config_path=args.config,
            workers=args.workers,
        )
    parser.print_help(sys.stderr)
    return 2
