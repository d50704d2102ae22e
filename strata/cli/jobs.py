"""Job verbs: ``show job`` (progress of running jobs, or all recent ones), ``job start`` and ``job stop``.

``show job [KIND|ID] [--all] [--json]`` reads every node's job snapshots (``GET /v1/cluster?what=qryxstats``,
the SDK's ``get_details``): one row per node's part of a job with the objects and bytes it has done so
far, its start, its end and its state. As with ``ais show job``, only running jobs are shown unless
``--all`` is given. ``job start KIND [BUCKET...] [--force]`` starts a job that is started by name (``lru``,
``cleanup-store``, ``resilver``, ``prefetch-listrange``) and prints its id; ``job stop KIND|ID`` aborts.
"""

from __future__ import annotations

from typing import Any

from strata.cli.connection import Session
from strata.cli.errors import CommandError
from strata.cli.formatting import NO_VALUE, Table, human_size, write_json
from strata.cli.uri import BucketURI
from strata.jobs.kinds import job_kind

NOT_ENDED = "0001-01-01T00:00:00Z"


def _filter(name: str) -> dict[str, str]:
    """A kind (or one of its aliases) names every job of that kind; anything else is a job id."""
    if not name:
        return {}
    kind = job_kind(name)
    return {"Kind": kind.name} if kind is not None else {"ID": name}


def _bucket(model: Any) -> str:
    if not isinstance(model, dict) or not model.get("name"):
        return NO_VALUE
    return f"{model.get('provider') or 'ais'}://{model['name']}"


def _time(text: Any) -> str:
    if not isinstance(text, str) or not text or text == NOT_ENDED:
        return NO_VALUE
    return text.replace("T", " ").split(".")[0].rstrip("Z")


def _state(snap: dict[str, Any]) -> str:
    if snap.get("aborted"):
        return "aborted" + (f": {snap['abort-err']}" if snap.get("abort-err") else "")
    if snap.get("end-time", NOT_ENDED) != NOT_ENDED:
        return "finished"
    return "idle" if snap.get("is_idle") else "running"


def show_jobs(session: Session, name: str = "", *, show_all: bool = False, as_json: bool = False) -> int:
    """``strata show job [KIND|ID] [--all] [--json]``."""
    query = {"what": "qryxstats"}
    with session.failing_as(f'job "{name}"' if name else ""):
        found = session.request("GET", "cluster", params=query, json=_filter(name)).json() or {}
    rows = [
        (node, snap)
        for node, snaps in sorted(found.items())
        for snap in snaps or []
        if show_all or snap.get("end-time", NOT_ENDED) == NOT_ENDED
    ]
    rows.sort(key=lambda row: (str(row[1].get("start-time", "")), row[0]))
    if as_json:
        write_json(session.out, [{"node": node, **snap} for node, snap in rows])
        return 0
    if not rows:
        what = f'"{name}" ' if name else ""
        session.out.write(f"No {'' if show_all else 'running '}{what}jobs\n")
        return 0
    table = Table(["node", "id", "kind", "bucket", "objects", "bytes", "start", "end", "state"])
    for node, snap in rows:
        stats = snap.get("stats") or {}
        table.add(
            node,
            str(snap.get("id", "")),
            str(snap.get("kind", "")),
            _bucket(snap.get("bck")),
            str(stats.get("loc-objs", 0)),
            human_size(int(stats.get("loc-bytes", 0))),
            _time(snap.get("start-time")),
            _time(snap.get("end-time")),
            _state(snap),
        )
    table.write(session.out)
    return 0


def start_job(session: Session, kind: str, buckets: list[BucketURI], *, force: bool = False) -> int:
    """``strata job start KIND [BUCKET...] [--force]``: prints the new job's id."""
    found = job_kind(kind)
    if found is None:
        raise CommandError(f'unknown job kind "{kind}"')
    with session.failing_as():
        targets = [session.client.bucket(uri.bucket, provider=uri.provider) for uri in buckets]
        job_id = session.client.job(job_kind=found.name).start(buckets=targets or None, force=force)
    session.out.write(f"{job_id}\n")
    return 0


def stop_jobs(session: Session, name: str) -> int:
    """``strata job stop KIND|ID``: abort one job, or every running job of a kind."""
    with session.failing_as(f'job "{name}"'):
        session.request("PUT", "cluster", json={"action": "stop", "value": _filter(name)})
    session.out.write(f'Stopped "{name}"\n')
    return 0
