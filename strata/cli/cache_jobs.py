"""``strata prefetch`` and ``strata evict``: fill or drop the cache of a remote bucket, as ``ais`` does.

    strata prefetch s3://b                                every object of the bucket
    strata prefetch s3://b/images/                        the objects under a prefix
    strata prefetch s3://b --list a.jpg,b.jpg             named objects
    strata prefetch s3://b --template "shard-{000..099}.tar" [--latest] [--blob-threshold 64MiB]
    strata evict s3://b --template "shard-{000..049}.tar" the cached copies only (the backend keeps them)
    strata evict s3://b [--keep-md]                       the whole cache (and, without --keep-md, the entry)

A prefetch or a listed/templated evict is a job: the verb starts it and follows it with a meter (objects
and bytes, summed over every target) until it ends, unless ``--no-wait``; a failed or aborted job exits
1. Ctrl-C stops following, not the job. The parsers are built without the SDK (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from strata.cli.errors import CommandError
from strata.cli.formatting import human_size
from strata.cli.progress import TransferProgress, stderr_is_terminal
from strata.cli.uri import BucketURI, UsageError, parse_uri

if TYPE_CHECKING:
    from aistore.sdk.multiobj import ObjectGroup

    from strata.cli.connection import Session

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Verb = Callable[..., argparse.ArgumentParser]  # ``strata.cli.main._verb``: a client verb's parser
POLL_SECONDS = 0.25
NOT_ENDED = ("", "0001-01-01T00:00:00Z")  # a running job's end time, as the SDK shows it


def add_cache_verbs(sub: SubParsers, verb: Verb) -> None:
    """``prefetch`` and ``evict`` (``ais prefetch``, ``ais evict``)."""
    p = verb(sub, "prefetch", run_prefetch, "fetch objects of a remote bucket into the cache (a job)")
    _selection(p, "s3://BUCKET[/PREFIX]")
    p.add_argument("--latest", action="store_true", help="fetch again what the backend has newer")
    p.add_argument("--num-workers", type=int, default=None, help="parallel fetches per node")
    p.add_argument("--blob-threshold", default=None, help="objects this big or more: the blob downloader")
    p.add_argument("--continue-on-error", action="store_true", help="skip objects that fail")
    _follow_options(p)
    e = verb(
        sub, "evict", run_evict, "drop cached copies of a remote bucket's objects (the backend keeps them)"
    )
    _selection(e, "s3://BUCKET[/PREFIX or /OBJECT]")
    e.add_argument("--keep-md", action="store_true", help="whole bucket: keep its entry and props")
    _follow_options(e)


def _selection(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("uri", metavar=what, help="the remote bucket (s3://, gs://, az://, ais://@ALIAS/)")
    parser.add_argument("--list", default=None, help="comma-separated object names")
    parser.add_argument("--template", default=None, help='a range template, e.g. "shard-{000..099}.tar"')


def _follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress meter on stderr (default: on a terminal)",
    )


def _group(session: Session, uri: BucketURI, names: str | None, template: str | None) -> ObjectGroup | None:
    """The objects named: a list, a template, the URI's prefix or object; None for the whole bucket."""
    if names is not None and template is not None:
        raise UsageError("give --list or --template, not both")
    bucket = uri.sdk_bucket(session.client)
    if names is not None:
        listed = [name.strip() for name in names.split(",") if name.strip()]
        if not listed:
            raise UsageError("--list names no object")
        return bucket.objects(obj_names=[f"{uri.object}{name}" for name in listed])
    if template is not None:
        return bucket.objects(obj_template=f"{uri.object}{template}")
    if uri.object:  # a prefix (or one object's name): a template without a range is a name prefix
        return bucket.objects(obj_template=uri.object)
    return None


def _remote(text: str) -> BucketURI:
    uri = parse_uri(text)
    if uri.provider == "ais" and not uri.namespace:
        raise UsageError(f'"{text}": name a remote bucket (s3://, gs://, az://, ais://@ALIAS/BUCKET)')
    return uri


def run_prefetch(session: Session, args: argparse.Namespace) -> int:
    uri = _remote(str(args.uri))
    group = _group(session, uri, args.list, args.template)
    options: dict[str, Any] = {"latest": bool(args.latest), "continue_on_error": bool(args.continue_on_error)}
    if args.num_workers is not None:
        options["num_workers"] = int(args.num_workers)
    if args.blob_threshold is not None:
        from strata.cli.downloads import parse_size

        options["blob_threshold"] = parse_size(args.blob_threshold)
    with session.failing_as(str(uri)):
        # the whole bucket: an empty template (the SDK's groups refuse an empty selection)
        job_id = group.prefetch(**options) if group is not None else _prefetch_all(session, uri, options)
    return follow(session, job_id, f"prefetch {uri}", args)


def _prefetch_all(session: Session, uri: BucketURI, options: dict[str, Any]) -> str:
    value = {
        "template": "",
        "latest-ver": options["latest"],
        "coer": options["continue_on_error"],
        **({"num-workers": options["num_workers"]} if "num_workers" in options else {}),
        **({"blob-threshold": options["blob_threshold"]} if "blob_threshold" in options else {}),
    }
    response = uri.sdk_bucket(session.client).make_request("POST", "prefetch-listrange", value=value)
    return str(response.text).strip().strip('"')


def run_evict(session: Session, args: argparse.Namespace) -> int:
    uri = _remote(str(args.uri))
    group = _group(session, uri, args.list, args.template)
    if group is None:  # the whole bucket: synchronous, no job
        bucket = uri.sdk_bucket(session.client)  # (the SDK's evict() refuses ais://@alias buckets)
        params = {**bucket.qparam, "keep_bck_md": str(bool(args.keep_md))}
        with session.failing_as(str(uri)):
            bucket.make_request("DELETE", "evict-remote-bck", params=params)
        kept = " (its entry and props kept)" if args.keep_md else ""
        session.out.write(f"evicted {uri}{kept}\n")
        return 0
    if args.keep_md:
        raise UsageError("--keep-md applies to a whole bucket (no --list, --template or prefix)")
    with session.failing_as(str(uri)):
        job_id = group.evict()
    return follow(session, job_id, f"evict {uri}", args)


def follow(session: Session, job_id: str, what: str, args: argparse.Namespace) -> int:
    """Print the job id (``--no-wait``), or follow the job to its end and print what it did."""
    if args.no_wait:
        session.out.write(f"{job_id}\n")
        return 0
    shown = args.progress if args.progress is not None else stderr_is_terminal(session.err)
    objects, moved, seconds = follow_job(session, job_id, what, shown)
    session.out.write(f"{what}: {objects} objects, {human_size(moved)} in {seconds:.1f}s (job {job_id})\n")
    return 0


def follow_job(
    session: Session, job_id: str, what: str, shown: bool, total_bytes: int = 0
) -> tuple[int, int, float]:
    """Draw a job's progress (objects and bytes summed over every node's part) until every part ended;
    (objects, bytes, seconds). A failed or aborted job raises ``CommandError`` naming ``what``."""
    meter = TransferProgress(
        session.err, total_bytes=total_bytes, label=what.split()[0].upper(), enabled=shown
    )
    job = session.client.job(job_id)
    objects = moved = 0
    while True:
        with session.failing_as(f'job "{job_id}"'):
            snaps = job.get_details().list_snapshots()
        done_objects = sum(int(s.stats.objects) for s in snaps if s.stats is not None)
        done_bytes = sum(int(s.stats.bytes) for s in snaps if s.stats is not None)
        for _ in range(done_objects - objects):
            meter.file_done()
        if done_bytes > moved:
            meter.add_bytes(done_bytes - moved)
        objects, moved = max(objects, done_objects), max(moved, done_bytes)
        if snaps and all(s.end_time not in NOT_ENDED for s in snaps):
            break
        time.sleep(POLL_SECONDS)
    meter.finish()
    failed = [s.abort_err for s in snaps if s.abort_err] + ["aborted" for s in snaps if s.aborted]
    if failed:
        raise CommandError(f"{what} (job {job_id}) failed: {failed[0]}")
    return objects, moved, meter.elapsed
