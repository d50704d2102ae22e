"""The one table of job kinds (AIStore's xact/api_table.go): scope, idling, how a job is started,
and whether Strata has built the kind yet.

Everything else asks this table: the SDK's ``job.wait()`` needs to know which kinds idle
(it waits for two idle snapshots in a row), ``PUT /v1/cluster start`` which kinds may be started
by name, listing/aborting which scope a kind has, and every way of starting a job whether the
kind is built. The table lists every kind AIStore has, so a request naming one Strata has not
built yet is told so (501) in one wording wherever it comes from, while a name AIStore does not
know at all is the client's mistake (400).
"""

from __future__ import annotations

from dataclasses import dataclass

from strata.core.errors import InvalidRequest, NotImplementedYet


@dataclass(frozen=True)
class JobKind:
    name: str
    scope: str  # "cluster" | "bucket" | "bucket-or-all" | "target"
    idles: bool = False  # stays alive between requests (the SDK waits for idle, not for the end)
    startable: bool = False  # may be started with PUT /v1/cluster {"action": "start"}
    aliases: tuple[str, ...] = ()
    what: str = ""
    built: bool = True  # False: an AIStore kind Strata does not run yet (starting one is a 501)


_TABLE = (
    JobKind("rebalance", "cluster", startable=True, what="move objects to their HRW owners"),
    JobKind("resilver", "target", startable=True, what="move objects to their HRW mountpaths"),
    JobKind("election", "cluster", aliases=("elect-primary",), built=False),
    JobKind("etl-inline", "cluster", built=False),
    JobKind("download", "cluster", idles=True, what="links and remote buckets fetched into a bucket"),
    JobKind("dsort", "cluster", built=False),
    JobKind("lru", "bucket-or-all", startable=True, aliases=("lru-eviction",)),
    JobKind(
        "cleanup-store",
        "bucket-or-all",
        startable=True,
        aliases=("cleanup",),
        what="remove leftover work files, trash and empty directories",
    ),
    JobKind("summary-bck", "bucket-or-all", aliases=("summary",)),
    JobKind("get-batch", "bucket-or-all", idles=True),
    JobKind("list", "bucket", idles=True),
    JobKind("copy-bck", "bucket", aliases=("copy-bucket",)),
    JobKind("move-bck", "bucket", aliases=("rename-bucket",)),
    JobKind("etl-bck", "bucket", aliases=("etl-bucket",), built=False),
    JobKind("copy-listrange", "bucket", idles=True, aliases=("copy-objects",)),
    JobKind("delete-listrange", "bucket", aliases=("delete-objects",)),
    JobKind("evict-listrange", "bucket", aliases=("evict-objects",)),
    JobKind("prefetch-listrange", "bucket", startable=True, aliases=("prefetch-objects",)),
    JobKind("archive", "bucket", idles=True),
    JobKind("make-n-copies", "bucket", startable=True, aliases=("mirror",), built=False),
    JobKind("ec-encode", "bucket", startable=True, aliases=("ec-bucket",), built=False),
    JobKind("ec-get", "bucket", idles=True, built=False),
    JobKind("ec-put", "bucket", idles=True, built=False),
    JobKind("ec-resp", "bucket", idles=True, built=False),
    JobKind("rechunk", "bucket", startable=True, built=False),
    JobKind("etl-listrange", "bucket", idles=True, aliases=("etl-objects",), built=False),
    JobKind("put-copies", "bucket", idles=True, built=False),
    JobKind("blob-download", "bucket", startable=True, what="one remote object fetched in parallel chunks"),
    JobKind("promote", "bucket", aliases=("promote-files",), built=False),
    JobKind("evict-remote-bck", "bucket", aliases=("evict-remote-bucket",)),
    JobKind("summary-shard", "bucket", aliases=("shard-summary",), built=False),
    JobKind("index-shard", "bucket", aliases=("shard-index",), built=False),
    JobKind("create-inventory", "bucket", built=False),
    JobKind("load-lom-cache", "bucket", startable=True, aliases=("warm-up-metadata",), built=False),
)

KINDS: dict[str, JobKind] = {}
for _kind in _TABLE:
    KINDS[_kind.name] = _kind
    for _alias in _kind.aliases:
        KINDS[_alias] = _kind


def job_kind(name: str) -> JobKind | None:
    """The kind for a name or alias (``copy-objects`` is ``copy-listrange``); None if unknown."""
    return KINDS.get(name)


def known_kind(name: str) -> JobKind:
    """The kind for a name or alias; a name AIStore does not know is the client's mistake (400)."""
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidRequest(f'unknown job kind "{name}"')
    return kind


def startable_kind(name: str) -> JobKind:
    """The kind ``PUT /v1/cluster {"action": "start"}`` may start: 400 if AIStore would refuse the
    name too (unknown, or started some other way), 501 if AIStore starts it and Strata cannot yet."""
    kind = known_kind(name)
    if not kind.startable:
        raise InvalidRequest(f'job "{kind.name}" is not started this way (see the bucket and object APIs)')
    require_built(kind)
    return kind


def require_built(kind: JobKind) -> None:
    """501 for a kind AIStore has and Strata has not built: the same answer for every way in."""
    if not kind.built:
        raise NotImplementedYet(f'job "{kind.name}" is not implemented yet')


def refuse_unbuilt_action(action: str) -> None:
    """A bucket or object action that names an AIStore job kind Strata has not built: 501.

    Actions that name no kind, or a built one, fall through to the caller (which answers 400 for an
    action it does not serve with that method).
    """
    kind = KINDS.get(action)
    if kind is not None:
        require_built(kind)
