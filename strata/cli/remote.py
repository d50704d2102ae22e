"""Remote AIS clusters from the command line, as ``ais`` spells them.

    strata cluster remote attach lab=http://10.0.0.5:8080     (also: strata cluster remote-attach ...)
    strata cluster remote detach lab                          (also: strata cluster remote-detach lab)
    strata show remote-cluster [--json]                       UUID, URL, alias, online
    strata ls ais://@lab/bucket                               a bucket of the remote, cached here

Attach and detach are ``PUT /v1/cluster/attach|detach?what=remote`` with the alias and URL in headers;
the table is ``GET /v1/cluster?what=remote``, in which a cluster that does not answer has no map. The
parsers are built here without the SDK (``--help`` stays fast); the runners load it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from strata.cli.uri import UsageError

if TYPE_CHECKING:
    from strata.cli.connection import Session

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Verb = Callable[..., argparse.ArgumentParser]  # ``strata.cli.main._verb``: a client verb's parser
ALIAS_HEADER = "Ais-Remote-Ais-Alias"
URL_HEADER = "Ais-Remote-Ais-Url"


def add_remote_cluster_verbs(cluster_verbs: SubParsers, verb: Verb) -> None:
    """``strata cluster remote {attach,detach}``, and ``remote-attach`` / ``remote-detach`` as in ``ais``."""
    remote = cluster_verbs.add_parser("remote", help="attach or detach a remote AIS cluster (ais://@ALIAS/B)")
    verbs = remote.add_subparsers(dest="remote_verb", required=True, metavar="{attach,detach}")
    for sub, attach_name, detach_name in (
        (verbs, "attach", "detach"),
        (cluster_verbs, "remote-attach", "remote-detach"),
    ):
        attach = verb(sub, attach_name, run_attach, "attach a remote AIS cluster under an alias: ALIAS=URL")
        attach.add_argument("assignment", metavar="ALIAS=URL", help="e.g. lab=http://10.0.0.5:8080")
        detach = verb(sub, detach_name, run_detach, "detach a remote AIS cluster")
        detach.add_argument("alias", metavar="ALIAS")


def add_show_remote_cluster(show_verbs: SubParsers, verb: Verb) -> None:
    p = verb(show_verbs, "remote-cluster", run_show, "attached remote AIS clusters: UUID, URL, alias, online")
    p.add_argument("--json", action="store_true", help="print GET /v1/cluster?what=remote as it came")


def run_attach(session: Session, args: argparse.Namespace) -> int:
    alias, equals, url = str(args.assignment).partition("=")
    alias, url = alias.strip(), url.strip()
    if not equals or not alias or not url:
        raise UsageError(f'expected ALIAS=URL (e.g. lab=http://10.0.0.5:8080), got "{args.assignment}"')
    with session.failing_as(f'remote cluster "{alias}"'):
        session.request(
            "PUT", "cluster/attach", params={"what": "remote"}, headers={ALIAS_HEADER: alias, URL_HEADER: url}
        )
    session.out.write(f'Remote cluster "{alias}" attached at {url} (its buckets: ais://@{alias}/BUCKET)\n')
    return 0


def run_detach(session: Session, args: argparse.Namespace) -> int:
    alias = str(args.alias).strip()
    if not alias:
        raise UsageError("name the alias of the cluster to detach")
    with session.failing_as(f'remote cluster "{alias}"'):
        session.request("PUT", "cluster/detach", params={"what": "remote"}, headers={ALIAS_HEADER: alias})
    session.out.write(f'Remote cluster "{alias}" detached\n')
    return 0


def run_show(session: Session, args: argparse.Namespace) -> int:
    from strata.cli.errors import CommandError
    from strata.cli.formatting import NO_VALUE, Table, write_json

    with session.failing_as():
        answer = session.request("GET", "cluster", params={"what": "remote"}).json()
    if not isinstance(answer, dict) or not isinstance(answer.get("a") or [], list):
        raise CommandError('server sent a remote cluster list that is not {"a": [...]}')
    if args.json:
        write_json(session.out, answer)
        return 0
    clusters: list[dict[str, Any]] = [row for row in answer.get("a") or [] if isinstance(row, dict)]
    if not clusters:
        session.out.write("No remote clusters attached (strata cluster remote attach ALIAS=URL)\n")
        return 0
    table = Table(["uuid", "url", "alias", "online"])
    for row in sorted(clusters, key=lambda row: str(row.get("alias", ""))):
        online = isinstance(row.get("smap"), dict)
        table.add(
            str(row.get("uuid") or NO_VALUE),
            str(row.get("url", "")),
            str(row.get("alias", "")),
            "yes" if online else "no",
        )
    table.write(session.out)
    return 0
