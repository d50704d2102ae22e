"""The one table of job kinds (AIStore's xact/api_table.go): scope, idling, how a job is started.

Everything else asks this table: the SDK's ``job.wait()`` needs to know which kinds idle
(it waits for two idle snapshots in a row), ``PUT /v1/cluster start`` which kinds may be started
by name, and listing/aborting which scope a kind has.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    name: str
    scope: str  # "cluster" | "bucket" | "bucket-or-all" | "target"
    idles: bool = False  # stays alive between requests (the SDK waits for idle, not for the end)
    startable: bool = False  # may be started with PUT /v1/cluster {"action": "start"}
    aliases: tuple[str, ...] = ()
    what: str = ""


_TABLE = (
    JobKind("rebalance", "cluster", startable=True, what="move objects to their HRW owners"),
    JobKind("resilver", "target", startable=True, what="move objects to their HRW mountpaths"),
    JobKind("download", "cluster", idles=True),
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
    JobKind("copy-listrange", "bucket", idles=True, aliases=("copy-objects",)),
    JobKind("delete-listrange", "bucket", aliases=("delete-objects",)),
    JobKind("evict-listrange", "bucket", aliases=("evict-objects",)),
    JobKind("prefetch-listrange", "bucket", startable=True, aliases=("prefetch-objects",)),
    JobKind("archive", "bucket", idles=True),
    JobKind("make-n-copies", "bucket", startable=True, aliases=("mirror",)),
    JobKind("ec-encode", "bucket", startable=True, aliases=("ec-bucket",)),
    JobKind("rechunk", "bucket", startable=True),
    JobKind("etl-listrange", "bucket", idles=True, aliases=("etl-objects",)),
    JobKind("put-copies", "bucket", idles=True),
    JobKind("blob-download", "bucket", startable=True),
    JobKind("promote", "bucket"),
    JobKind("evict-remote-bck", "bucket"),
)

KINDS: dict[str, JobKind] = {}
for _kind in _TABLE:
    KINDS[_kind.name] = _kind
    for _alias in _kind.aliases:
        KINDS[_alias] = _kind


def job_kind(name: str) -> JobKind | None:
    """The kind for a name or alias (``copy-objects`` is ``copy-listrange``); None if unknown."""
    return KINDS.get(name)
