"""The ``strata`` command: ``serve`` starts a node; the other verbs talk to one like ``ais`` does."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from strata.cli.auth_commands import add_auth_commands, run_auth_command
from strata.cli.cache_jobs import add_cache_verbs
from strata.cli.defaults import ALL_LIST_PROPS, DEFAULT_LIST_PROPS, DEFAULT_UPLOAD_CONCURRENCY
from strata.cli.nodes import add_cluster_commands, add_node_commands, run_cluster_command, run_node_command
from strata.cli.remote import add_remote_cluster_verbs, add_show_remote_cluster
from strata.cli.uri import BucketURI, UsageError, parse_uri

if TYPE_CHECKING:
    from strata.cli.connection import Session

# The verb modules (and through them the aistore SDK) are imported inside the runners, so that
# ``strata serve`` and ``--help`` start without loading the client library.
Handler = Callable[["Session", argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DESCRIPTION = (
    "Strata, an AIStore-compatible object store. 'strata serve' runs a node;\n"
    "the other verbs talk to one the way AIStore's 'ais' CLI does."
)
EPILOG = (
    "Endpoint: --endpoint URL, else $AIS_ENDPOINT, else $STRATA_ENDPOINT, else http://localhost:8080.\n"
    "Addresses are written ais://BUCKET or ais://BUCKET/OBJECT, as with the ais CLI."
)


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run an embedded Strata node (proxy and target in one server)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    p.add_argument("--data", default=None, help="data directory (default: ~/.strata)")
    p.add_argument("--mountpath", action="append", default=[], help="a mountpath; repeat for several")
    p.add_argument("--config", default=None, help="cluster config JSON file (AIStore shape)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")


# ------------------------------------------------------------------------------------------ wiring


def _common() -> argparse.ArgumentParser:
    """Options every client verb accepts, also after the verb (``strata ls --endpoint ...``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        default=argparse.SUPPRESS,
        help="node to talk to (default: $AIS_ENDPOINT, else $STRATA_ENDPOINT, else http://localhost:8080)",
    )
    return common


def _count(text: str) -> int:
    """An argparse type for counts: a whole number, zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'"{text}" is not a whole number') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _verb(
    sub: SubParsers, name: str, handler: Handler, help_text: str, **kwargs: Any
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text, parents=[_common()], **kwargs)
    parser.set_defaults(handler=handler)
    return parser


def _progress_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress meter on stderr (default: on a terminal, for large or many-file transfers)",
    )


def _add_ls(sub: SubParsers, name: str = "ls") -> None:
    p = _verb(sub, name, _run_ls, "list buckets, or the objects of ais://BUCKET[/PREFIX]")
    p.add_argument("uri", nargs="?", default="", help="ais://BUCKET[/PREFIX]; omit to list buckets")
    p.add_argument("--prefix", default="", help="only objects whose names start with this")
    p.add_argument(
        "--props",
        default=DEFAULT_LIST_PROPS,
        help=f"comma-separated columns: {ALL_LIST_PROPS}, or all (default: name,size)",
    )
    p.add_argument("--limit", type=_count, default=0, help="stop after this many objects (default: all)")
    p.add_argument("--page-size", type=_count, default=0, help="objects per page request (default: server's)")
    p.add_argument(
        "--no-recursion", action="store_true", help="list one level: show subdirectories as NAME/ entries"
    )
    p.add_argument("--summary", action="store_true", help="with no bucket: also count objects and bytes")
    p.add_argument(
        "--all",
        action="store_true",
        dest="all_buckets",
        help="with a cloud provider (s3: gs: az:): every bucket its backend has, not only those present here",
    )


def _add_create(sub: SubParsers, name: str = "create") -> None:
    p = _verb(sub, name, _run_create, "create ais://BUCKET, optionally with properties")
    p.add_argument("uris", nargs="+", metavar="ais://BUCKET")
    p.add_argument(
        "--props",
        default="",
        help="""JSON ('{"versioning":{"enabled":false}}') or "mirror.enabled=true mirror.copies=3" """,
    )


def _add_put(sub: SubParsers, name: str = "put") -> None:
    p = _verb(sub, name, _run_put, "upload a file, stdin (-) or a directory")
    p.add_argument("source", metavar="FILE|DIR|-")
    p.add_argument("destination", metavar="ais://BUCKET[/NAME or /PREFIX]")
    p.add_argument("-r", "--recursive", action="store_true", help="with a directory: include subdirectories")
    p.add_argument(
        "--concurrency", type=_count, default=DEFAULT_UPLOAD_CONCURRENCY, help="parallel uploads (default: 4)"
    )
    _progress_options(p)


def _add_get(sub: SubParsers, name: str = "get") -> None:
    p = _verb(
        sub,
        name,
        _run_get,
        "download an object to a file, a directory, or stdout (-); "
        "or, with --batch, many objects and archived files as one archive (GetBatch)",
    )
    # Plain one-word metavars: to wrap a long usage line, argparse (before 3.13) cuts it into words and
    # asserts they join back into the same text, which a metavar holding "(...)" or a double space
    # breaks (``--help`` died with AssertionError). The --batch forms are told in the help instead.
    p.add_argument(
        "source",
        metavar="ais://BUCKET/OBJECT",
        help="the object to download; with --batch: ais://BUCKET (then OUT.tar), or OUT.tar alone",
    )
    p.add_argument(
        "destination",
        nargs="?",
        default=None,
        metavar="OUTFILE|DIR|-",
        help="a file, a directory, or - for stdout (default: the object's base name, in the current "
        "directory); with --batch: OUT.tar",
    )
    p.add_argument(
        "--batch",
        default=None,
        metavar="FILE.json|TEMPLATE|NAMES",
        help='GetBatch: a MossReq JSON file ({"in": [...]}) or a JSON list of names/entries, a brace '
        "template (shard-{0000..0099}.tar) or comma-separated names; writes one .tar/.tgz/.zip/.tar.lz4",
    )
    _progress_options(p)


def _add_object_rm(sub: SubParsers, name: str) -> None:
    p = _verb(sub, name, _run_object_rm, "delete objects")
    p.add_argument("uris", nargs="+", metavar="ais://BUCKET/OBJECT")


def _add_bucket(sub: SubParsers) -> None:
    bucket = sub.add_parser("bucket", help="bucket commands: ls, create, rm, props")
    verbs = bucket.add_subparsers(dest="bucket_command", required=True, metavar="{ls,create,rm,props}")
    _add_ls(verbs)
    _add_create(verbs)
    rm = _verb(verbs, "rm", _run_bucket_rm, "destroy buckets and all their objects")
    rm.add_argument("uris", nargs="+", metavar="ais://BUCKET")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    props = verbs.add_parser("props", help="show or set bucket properties")
    props_verbs = props.add_subparsers(dest="props_command", required=True, metavar="{show,set}")
    show = _verb(props_verbs, "show", _run_props_show, "show bucket properties")
    show.add_argument("uri", metavar="ais://BUCKET")
    show.add_argument(
        "section", nargs="?", default="", help="only this section, e.g. mirror or checksum.type"
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    set_ = _verb(props_verbs, "set", _run_props_set, "set bucket properties (partial update)")
    set_.add_argument("uri", metavar="ais://BUCKET")
    set_.add_argument(
        "assignments", nargs="+", metavar="KEY=VALUE", help="e.g. mirror.enabled=true, or one JSON object"
    )


def _add_object(sub: SubParsers) -> None:
    obj = sub.add_parser("object", help="object commands: put, get, rm")
    verbs = obj.add_subparsers(dest="object_command", required=True, metavar="{put,get,rm}")
    _add_put(verbs)
    _add_get(verbs)
    _add_object_rm(verbs, "rm")


def _add_show(sub: SubParsers) -> None:
    show = sub.add_parser("show", help="show cluster state")
    verbs = show.add_subparsers(dest="show_command", required=True, metavar="{cluster,remote-cluster}")
    p = _verb(verbs, "cluster", _run_show_cluster, "nodes, roles, endpoints and capacity")
    p.add_argument("--json", action="store_true", help="print the cluster map as JSON")
    add_show_remote_cluster(verbs, _verb)


def _add_config(sub: SubParsers) -> None:
    config = sub.add_parser("config", help="cluster configuration")
    verbs = config.add_subparsers(dest="config_command", required=True, metavar="{show}")
    for name in ("show", "cluster"):  # ``ais config cluster`` is the ais spelling
        p = _verb(verbs, name, _run_config_show, "show the cluster configuration")
        p.add_argument("section", nargs="?", default="", help="only this section, e.g. checksum or lru")
        p.add_argument("--json", action="store_true", help="print JSON")


def _price(text: str) -> float:
    """An argparse type for a price: a number, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'"{text}" is not a number') from None
    if not 0 <= value < float("inf"):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text} is not a price (zero or more)")
    return value


def _level(text: str) -> int:
    value = _count(text)
    if not 1 <= value <= 19:
        raise argparse.ArgumentTypeError(f"zstd level {value} is outside 1..19")
    return value


def _add_report_options(p: argparse.ArgumentParser) -> None:
    """The options both savings reports take: the storage price and the output format."""
    p.add_argument(
        "--price-per-gb-month",
        type=_price,
        metavar="USD",
        default=0.023,
        help="storage price in $ per GiB-month (default: 0.023)",
    )
    p.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        metavar="FORMAT",
        help="table or json (default: table)",
    )


def _add_savings(sub: SubParsers) -> None:
    p = _verb(
        sub, "savings", _run_savings, "what compression at rest saves: per bucket and total, from the ledger"
    )
    p.add_argument(
        "uri", nargs="?", default="", metavar="ais://BUCKET", help="only this bucket (default: all)"
    )
    _add_report_options(p)
    p.add_argument(
        "--verify",
        action="store_true",
        help="also recount every object on disk; exit 1 and name each bucket where the ledger differs",
    )


def _add_estimate(sub: SubParsers) -> None:
    p = _verb(
        sub,
        "estimate",
        _run_estimate,
        "project what turning compression on would save: run the real codec on a size-weighted sample",
    )
    p.add_argument(
        "target",
        metavar="ais://BUCKET[/PREFIX]|s3://BUCKET[/PREFIX]",
        help="the objects to estimate: a Strata (AIS) bucket or an S3 bucket (--endpoint-url), with a prefix",
    )
    p.add_argument(
        "--sample", type=_count, default=64, metavar="N", help="objects to read at most (default: 64)"
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the random draw (default: 42)")
    p.add_argument(
        "--endpoint-url", default=None, metavar="URL", help="S3 endpoint for s3:// (e.g. http://HOST:8080/s3)"
    )
    _add_report_options(p)
    p.add_argument("--level", type=_level, default=None, help="zstd level (default: the bucket's, else 3)")
    p.add_argument(
        "--codec",
        choices=("auto", "zstd", "none"),
        default=None,
        metavar="CODEC",
        help="auto, zstd or none (default: the bucket's, else auto)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw progress (listing, then sampling) on stderr (default: on a terminal)",
    )


def _add_downloads(sub: SubParsers) -> None:
    """``blob-download`` and ``download`` (``ais blob-download``, ``ais start download``)."""
    p = _verb(sub, "blob-download", _run_blob_download, "fetch a large remote object in parallel chunks")
    p.add_argument("uri", metavar="s3://BUCKET/OBJECT", help="the remote object (s3://, gs://, az://)")
    p.add_argument("--chunk-size", default=None, help="bytes per ranged read, 32KiB..16MiB (default: 4MiB)")
    p.add_argument("--num-workers", type=int, default=None, help="parallel readers (default: by size)")
    p.add_argument("--latest", action="store_true", help="fetch again if the backend has a newer version")
    p.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    _progress_options(p)
    d = _verb(
        sub, "download", _run_download, "download links, a URL template or a remote bucket into a bucket"
    )
    d.add_argument(
        "source",
        metavar="SRC",
        help="https://HOST/FILE, https://HOST/shard-{000..099}.tar, or s3://B[/PREFIX]",
    )
    d.add_argument(
        "destination", nargs="?", default=None, metavar="DST", help="ais://BUCKET[/NAME or PREFIX/]"
    )
    d.add_argument("--description", default="", help="a description to find the job by")
    d.add_argument("--connections", type=_count, default=0, help="parallel downloads per node (default: 4)")
    d.add_argument("--sync", action="store_true", help="remote bucket: refetch changed, drop deleted objects")
    d.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    _progress_options(d)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; ``serve`` is unchanged from the skeleton."""
    parser = argparse.ArgumentParser(
        prog="strata",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common()],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    add_node_commands(sub)
    add_remote_cluster_verbs(add_cluster_commands(sub), _verb)
    add_cache_verbs(sub, _verb)
    _add_ls(sub)
    _add_create(sub)
    _add_put(sub)
    _add_get(sub)
    _add_bucket(sub)
    _add_object(sub)
    _add_show(sub)
    _add_config(sub)
    _add_savings(sub)
    _add_estimate(sub)
    add_auth_commands(sub)
    _add_downloads(sub)
    return parser


# ----------------------------------------------------------------------------------------- runners


def _run_ls(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import buckets

    text = str(args.uri)
    if text.endswith(":") and "/" not in text:  # ais ls s3: -- the provider alone
        text += "//"
    if not text or text.endswith("://"):
        provider = text[:-3] if text else ""
        if provider:
            parse_uri(text, allow_empty_bucket=True)  # validates the provider
        summary, present = bool(args.summary), not args.all_buckets
        return buckets.list_buckets(session, provider=provider, summary=summary, present=present)
    return buckets.list_objects(
        session,
        parse_uri(text),
        prefix=str(args.prefix),
        props=str(args.props),
        limit=int(args.limit),
        recursive=not args.no_recursion,
        page_size=int(args.page_size),
    )


def _buckets_only(texts: list[str]) -> list[BucketURI]:
    uris = [parse_uri(text) for text in texts]
    for uri in uris:
        if uri.object:
            raise UsageError(f'"{uri}" names an object; expected a bucket (ais://BUCKET)')
    return uris


def _run_create(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import buckets

    status = 0
    for uri in _buckets_only(list(args.uris)):
        status |= buckets.create_bucket(session, uri, props=str(args.props))
    return status


def _run_bucket_rm(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import buckets

    return buckets.remove_buckets(session, _buckets_only(list(args.uris)), yes=bool(args.yes))


def _run_props_show(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import buckets

    uri = _buckets_only([str(args.uri)])[0]
    return buckets.show_props(session, uri, section=str(args.section), as_json=bool(args.json))


def _run_props_set(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import buckets

    uri = _buckets_only([str(args.uri)])[0]
    return buckets.set_props(session, uri, list(args.assignments))


def _run_put(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import objects

    return objects.put(
        session,
        str(args.source),
        parse_uri(str(args.destination)),
        recursive=bool(args.recursive),
        concurrency=int(args.concurrency),
        progress=args.progress,
    )


def _run_get(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import objects

    if args.batch is not None:
        if args.destination is None:  # strata get --batch FILE OUT.tar
            return objects.get_batch(session, args.batch, None, str(args.source), progress=args.progress)
        bucket = parse_uri(str(args.source))
        if bucket.object:
            raise UsageError("with --batch, name a bucket (ais://BUCKET), not an object")
        return objects.get_batch(session, args.batch, bucket, str(args.destination), progress=args.progress)
    uri = parse_uri(str(args.source), want_object=True)
    return objects.get(session, uri, args.destination, progress=args.progress)


def _run_object_rm(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import objects

    uris = [parse_uri(str(text), want_object=True) for text in args.uris]
    return objects.remove_objects(session, uris)


def _run_show_cluster(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import cluster

    return cluster.show_cluster(session, as_json=bool(args.json))


def _run_config_show(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import cluster

    return cluster.show_config(session, section=str(args.section), as_json=bool(args.json))


def _run_savings(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import savings

    uri = _buckets_only([str(args.uri)])[0] if args.uri else None
    return savings.savings(
        session, uri, price=float(args.price_per_gb_month), output=str(args.format), verify=bool(args.verify)
    )


def _run_estimate(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import estimate

    return estimate.estimate(
        session,
        str(args.target),
        sample=int(args.sample),
        seed=int(args.seed),
        endpoint_url=args.endpoint_url,
        output=str(args.format),
        price=float(args.price_per_gb_month),
        level=args.level,
        codec=args.codec,
        progress=args.progress,
    )


def _run_blob_download(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import downloads

    return downloads.blob_download(
        session,
        parse_uri(str(args.uri), want_object=True),
        chunk_size=args.chunk_size,
        num_workers=args.num_workers,
        latest=bool(args.latest),
        wait=not args.no_wait,
        progress=args.progress,
    )


def _run_download(session: Session, args: argparse.Namespace) -> int:
    from strata.cli import downloads

    return downloads.download(
        session,
        str(args.source),
        args.destination,
        description=str(args.description),
        connections=int(args.connections),
        sync=bool(args.sync),
        wait=not args.no_wait,
        progress=args.progress,
    )


# ------------------------------------------------------------------------------------------- main


def _run_client_verb(args: argparse.Namespace) -> int:
    """Run a client verb; every failure becomes ``Error: <one line>`` on stderr and a non-zero status."""
    from strata.cli.connection import Session, make_client, resolve_endpoint
    from strata.cli.errors import CommandError, describe

    endpoint = resolve_endpoint(getattr(args, "endpoint", None))
    concurrency = int(getattr(args, "concurrency", 1))
    handler: Handler = args.handler
    try:
        session = Session(endpoint, make_client(endpoint, concurrency), sys.stdout, sys.stderr)
        return handler(session, args)
    except UsageError as error:
        sys.stderr.write(f"Error: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted\n")
        return 130
    except BrokenPipeError:
        # the reader of our output went away (``strata ls ais://b | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as error:  # the one place that turns any failure into a single line
        message = str(error) if isinstance(error, CommandError) else describe(error, endpoint)
        sys.stderr.write(f"Error: {message}\n")
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from strata.daemons.embedded import serve

        return serve(
            host=args.host,
            port=args.port,
            data_dir=args.data,
            mountpaths=args.mountpath,
            config_path=args.config,
            workers=args.workers,
        )
    if args.command in ("proxy", "target"):
        return run_node_command(args)
    if args.command == "cluster" and not hasattr(args, "handler"):  # up, down (remote: a client verb)
        return run_cluster_command(args)
    if args.command in ("authn", "auth"):
        return run_auth_command(args)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    return _run_client_verb(args)
