"""``strata blob-download`` and ``strata download``: start a job, then follow it with a meter to its end.

Like ``ais blob-download`` and ``ais start download``: the verb starts the job on the node and, unless
``--no-wait``, polls it (the SDK's job snapshot for a blob download, ``GET /v1/download`` for a
download) and draws its progress until it ends, then prints one line; a failed or aborted job, or
links that could not be fetched, exit 1 with the reasons. Ctrl-C stops following, not the job.
"""

from __future__ import annotations

import time
from typing import Any

from strata.cli.cache_jobs import follow_job
from strata.cli.connection import Session
from strata.cli.errors import CommandError
from strata.cli.formatting import human_size
from strata.cli.progress import TransferProgress, stderr_is_terminal
from strata.cli.uri import BucketURI, UsageError, parse_uri

POLL_SECONDS = 0.25
NOT_ENDED = "0001-01-01T00:00:00Z"
MAX_SHOWN_ERRORS = 5


def _want_progress(session: Session, forced: bool | None) -> bool:
    return forced if forced is not None else stderr_is_terminal(session.err)


def parse_size(text: str | None) -> int | None:
    """``--chunk-size 4MiB`` (IEC/SI suffixes or bytes) -> bytes; None when not given."""
    if text is None:
        return None
    from strata.config.units import parse_size_iec

    try:
        return parse_size_iec(text)
    except ValueError:
        raise UsageError(f'invalid size "{text}" (expected e.g. 4MiB, 512KiB or 1048576)') from None


# -- blob-download ---------------------------------------------------------------------------------------


def blob_download(
    session: Session,
    uri: BucketURI,
    *,
    chunk_size: str | None = None,
    num_workers: int | None = None,
    latest: bool = False,
    wait: bool = True,
    progress: bool | None = None,
) -> int:
    """``strata blob-download s3://b/o``: the object fetched in parallel chunks into the cache."""
    if uri.provider == "ais" or not uri.object:
        raise UsageError(f'"{uri}": name an object of a remote bucket (s3://BUCKET/OBJECT)')
    obj = session.client.bucket(uri.bucket, provider=uri.provider).object(uri.object)
    with session.failing_as(str(uri)):
        size = int(obj.head().size or 0)
        job_id = obj.blob_download(chunk_size=parse_size(chunk_size), num_workers=num_workers, latest=latest)
    if not wait:
        session.out.write(f"{job_id}\n")
        return 0
    what = f"blob-download {uri}"
    objects, done, seconds = follow_job(session, job_id, what, _want_progress(session, progress), size)
    if done == 0 and objects == 0:
        session.out.write(f"{uri} is cached already (job {job_id}; --latest checks its version)\n")
        return 0
    session.out.write(f"{what}: {human_size(done)} in {seconds:.1f}s (job {job_id})\n")
    return 0


# -- download ----------------------------------------------------------------------------------------------


def download_request(source: str, destination: str | None) -> dict[str, Any]:
    """The ``/v1/download`` body for ``SRC [DST]``: a link, a URL template, or a remote bucket."""
    if source.startswith(("http://", "https://")):
        if destination is None:
            raise UsageError("name the destination bucket: strata download URL ais://BUCKET[/NAME]")
        dst = parse_uri(destination)
        bucket = {"name": dst.bucket, "provider": dst.provider}
        if "{" in source:
            if dst.object and not dst.object.endswith("/"):
                raise UsageError(f'with a URL template, "{destination}" may only name a prefix (ending in /)')
            return {"type": "range", "bucket": bucket, "template": source, "subdir": dst.object.rstrip("/")}
        return {"type": "single", "bucket": bucket, "link": source, "object_name": dst.object}
    src = parse_uri(source)
    if src.provider == "ais":
        raise UsageError(
            f'"{source}": expected an http(s) URL, a URL template, or a remote bucket (s3://...)'
        )
    target = parse_uri(destination) if destination else BucketURI(src.provider, src.bucket)
    if target.object:
        raise UsageError(f'"{destination}": a remote bucket downloads into a bucket, not an object')
    return {
        "type": "backend",
        "bucket": {"name": target.bucket, "provider": target.provider},
        "prefix": src.object,
    }


def download(
    session: Session,
    source: str,
    destination: str | None,
    *,
    description: str = "",
    connections: int = 0,
    sync: bool = False,
    wait: bool = True,
    progress: bool | None = None,
) -> int:
    """``strata download SRC [DST]``: links or a remote bucket's objects into a bucket, as a job."""
    body = download_request(source, destination)
    if description:
        body["description"] = description
    if connections:
        body["limits"] = {"connections": connections}
    if sync:
        if body["type"] != "backend":
            raise UsageError("--sync applies to remote buckets (s3://BUCKET[/PREFIX])")
        body["synchronize"] = True
    with session.failing_as():
        job_id = str(session.request("POST", "download", json=body).json()["id"])
    if not wait:
        session.out.write(f"{job_id}\n")
        return 0
    meter = TransferProgress(
        session.err, total_bytes=0, label="DOWNLOAD", enabled=_want_progress(session, progress)
    )
    seen_files = seen_bytes = 0
    while True:
        with session.failing_as(f'download job "{job_id}"'):
            state = session.request("GET", "download", json={"id": job_id}).json()
        files = int(state["finished_cnt"]) + int(state["skipped_cnt"]) + int(state["error_cnt"])
        moved = _bytes_of(state)
        meter.total_files = max(int(state["total"]), 1)
        for _ in range(files - seen_files):
            meter.file_done()
        if moved > seen_bytes:
            meter.add_bytes(moved - seen_bytes)
        seen_files, seen_bytes = files, max(moved, seen_bytes)
        if state["finished_time"] != NOT_ENDED:
            break
        time.sleep(POLL_SECONDS)
    meter.finish()
    return _report(session, job_id, state)


def _bytes_of(state: dict[str, Any]) -> int:
    tasks = list(state.get("finished_tasks") or []) + list(state.get("current_tasks") or [])
    return sum(int(task.get("downloaded", 0)) for task in tasks)


def _report(session: Session, job_id: str, state: dict[str, Any]) -> int:
    finished, skipped, errors = state["finished_cnt"], state["skipped_cnt"], state["error_cnt"]
    summary = f"download {job_id}: {finished} downloaded, {skipped} skipped, {errors} failed"
    if state.get("aborted"):
        raise CommandError(f"{summary}; {state.get('error') or 'aborted'}")
    session.out.write(summary + "\n")
    failures = state.get("download_errors") or []
    for failure in failures[:MAX_SHOWN_ERRORS]:
        session.err.write(f"Error: {failure['name']}: {failure['error']}\n")
    if errors > len(failures[:MAX_SHOWN_ERRORS]):
        session.err.write(f"... and {errors - len(failures[:MAX_SHOWN_ERRORS])} more\n")
    return 1 if errors else 0
