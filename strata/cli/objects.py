"""Object verbs: ``put`` (a file, stdin, or a directory tree), ``get``, ``object rm``.

Directory uploads run on a small thread pool: object PUTs are latency-bound for small files, and a
handful of connections in flight hides most of it without swamping a single embedded node. Downloads
land in a temporary file next to the destination and are renamed into place when complete, so an
interrupted ``get`` never leaves a truncated file under the real name.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import urllib3

from strata.cli.connection import Session
from strata.cli.defaults import DEFAULT_UPLOAD_CONCURRENCY
from strata.cli.errors import CommandError, describe
from strata.cli.formatting import human_rate, human_size
from strata.cli.progress import CountingReader, TransferProgress, stderr_is_terminal
from strata.cli.uri import BucketURI, UsageError

DEFAULT_CONCURRENCY = DEFAULT_UPLOAD_CONCURRENCY
PROGRESS_THRESHOLD_BYTES = 4 << 20  # below this a single transfer ends before a meter is worth drawing
READ_CHUNK_BYTES = 1 << 20
MAX_REPORTED_FAILURES = 5


@dataclass(frozen=True)
class UploadItem:
    """One local file and the object name it becomes."""

    path: Path
    object_name: str
    size: int


# --------------------------------------------------------------------------------------------- put


def put(
    session: Session,
    source: str,
    uri: BucketURI,
    *,
    recursive: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool | None = None,
) -> int:
    """``strata put FILE|DIR|- ais://b[/name-or-prefix]``: one object, stdin, or a whole directory."""
    if source == "-":
        return _put_stdin(session, uri)
    path = Path(source)
    if path.is_dir():
        return _put_directory(session, path, uri, recursive, concurrency, progress)
    if not path.exists():
        raise CommandError(f'"{source}" does not exist')
    if not path.is_file():
        raise CommandError(f'"{source}" is not a regular file or directory')
    object_name = uri.object or path.name
    if object_name.endswith("/"):
        object_name += path.name
    item = UploadItem(path, object_name, path.stat().st_size)
    meter = TransferProgress(
        session.err,
        total_bytes=item.size,
        label="PUT",
        enabled=_want_progress(session, progress, item.size),
    )
    _upload(session, uri, item, meter)
    meter.finish()
    session.out.write(f'PUT "{path}" => {uri.bucket_uri}/{object_name} ({human_size(item.size)})\n')
    return 0


def _put_stdin(session: Session, uri: BucketURI) -> int:
    """``strata put - ais://b/name``: the whole of stdin becomes one object (held in memory)."""
    if not uri.object or uri.object.endswith("/"):
        raise UsageError("reading from stdin needs an object name: strata put - ais://BUCKET/NAME")
    content = sys.stdin.buffer.read()
    with session.failing_as(f"{uri.bucket_uri}/{uri.object}"):
        uri.sdk_bucket(session.client).object(uri.object).get_writer().put_content(
            content
        )
    session.out.write(f"PUT (stdin) => {uri.bucket_uri}/{uri.object} ({human_size(len(content))})\n")
    return 0


def _upload(session: Session, uri: BucketURI, item: UploadItem, meter: TransferProgress) -> None:
    """PUT one file, streaming it through a ``CountingReader`` so the meter moves with the bytes.

    ``ObjectWriter.put_content`` hands its argument to ``requests`` as the body unchanged, so a file
    object streams from disk rather than being read into memory first (``put_file`` would stream too,
    but offers no hook for progress).
    """
    writer = uri.sdk_bucket(session.client).object(item.object_name).get_writer()
    with open(item.path, "rb") as raw, CountingReader(raw, meter) as body:
        writer.put_content(body)
    meter.file_done()


def _collect_files(root: Path, recursive: bool) -> tuple[list[tuple[Path, int]], int]:
    """Regular files under ``root`` (sorted, symlinks to files followed) and the count of skipped dirs."""
    files: list[tuple[Path, int]] = []
    skipped_directories = 0
    for directory, subdirectories, names in os.walk(root):
        if not recursive:
            skipped_directories = len(subdirectories)
            subdirectories.clear()
        subdirectories.sort()
        for name in sorted(names):
            path = Path(directory, name)
            if path.is_file():
                files.append((path, path.stat().st_size))
    return files, skipped_directories


def _put_directory(
    session: Session, root: Path, uri: BucketURI, recursive: bool, concurrency: int, progress: bool | None
) -> int:
    """Upload every file under ``root`` as ``PREFIX/<relative path>``, ``concurrency`` at a time."""
    # 1. decide names: a non-empty prefix is a virtual directory, so it always ends with "/"
    prefix = uri.object
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    files, skipped = _collect_files(root, recursive)
    if skipped:
        session.err.write(
            f"Skipping {skipped} subdirector{'ies' if skipped != 1 else 'y'} of {root}"
            " (use --recursive to include them)\n"
        )
    if not files:
        session.out.write(f'Nothing to upload: no files in "{root}"\n')
        return 0
    items = [UploadItem(path, prefix + path.relative_to(root).as_posix(), size) for path, size in files]
    total_bytes = sum(item.size for item in items)

    # 2. upload on a small pool, the meter counting files and bytes
    meter = TransferProgress(
        session.err,
        total_bytes=total_bytes,
        total_files=len(items),
        label="PUT",
        enabled=_want_progress(session, progress, total_bytes, always_for_many=len(items) > 1),
    )
    failures: list[tuple[UploadItem, BaseException]] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="strata-put") as pool:
        futures: dict[Future[None], UploadItem] = {
            pool.submit(_upload, session, uri, item, meter): item for item in items
        }
        try:
            wait(futures)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            meter.finish()
            raise
        for future, item in futures.items():
            error = future.exception()
            if error is not None:
                failures.append((item, error))
    meter.finish()
    elapsed = time.monotonic() - started

    # 3. report: a summary line, then the first few failures and a non-zero exit if any
    uploaded = len(items) - len(failures)
    moved = sum(item.size for item in items) - sum(item.size for item, _ in failures)
    per_second = max(elapsed, 1e-9)
    session.out.write(
        f"PUT {uploaded} object{'s' if uploaded != 1 else ''} ({human_size(moved)})"
        f" to {uri.bucket_uri}/{prefix} in {elapsed:.2f}s"
        f" ({uploaded / per_second:.0f} objects/s, {human_rate(moved / per_second)})\n"
    )
    if failures:
        for item, error in failures[:MAX_REPORTED_FAILURES]:
            subject = f"{uri.bucket_uri}/{item.object_name}"
            session.err.write(f'Error: PUT "{item.path}": {describe(error, session.endpoint, subject)}\n')
        if len(failures) > MAX_REPORTED_FAILURES:
            session.err.write(f"... and {len(failures) - MAX_REPORTED_FAILURES} more\n")
        raise CommandError(f"{len(failures)} of {len(items)} uploads failed")
    return 0


def _want_progress(session: Session, forced: bool | None, size: int, always_for_many: bool = False) -> bool:
    """``--progress``/``--no-progress`` decide; otherwise draw only on a terminal and for large transfers."""
    if forced is not None:
        return forced
    return stderr_is_terminal(session.err) and (always_for_many or size >= PROGRESS_THRESHOLD_BYTES)


# --------------------------------------------------------------------------------------------- get


def get(
    session: Session, uri: BucketURI, destination: str | None = None, *, progress: bool | None = None
) -> int:
    """``strata get ais://b/o [OUTFILE|DIR|-]``: byte-exact download; ``-`` writes to stdout."""
    subject = str(uri)
    reader = uri.sdk_bucket(session.client).object(uri.object).get_reader()
    to_stdout = destination == "-"
    target = None if to_stdout else _destination_path(uri, destination)

    # 1. open the stream (this is where a missing bucket or object is reported)
    with session.failing_as(subject):
        stream = reader.raw()
        size = int(reader.attributes.size or 0)
    meter = TransferProgress(
        session.err, total_bytes=size, label="GET", enabled=_want_progress(session, progress, size)
    )

    # 2. copy it out
    with session.failing_as(subject):
        if target is None:
            received = _copy_stream(stream, sys.stdout.buffer, meter)
            sys.stdout.buffer.flush()
        else:
            received = _download_to(stream, target, meter)
    meter.finish()

    # 3. check we got all of it
    if size and received != size:
        raise CommandError(f"{subject}: received {received} of {size} bytes")
    if target is not None:
        session.out.write(f'GET {subject} => "{target}" ({human_size(received)})\n')
    return 0


def _destination_path(uri: BucketURI, destination: str | None) -> Path:
    """Default to the object's base name in the current directory; a directory gets the base name added."""
    base_name = uri.object.rstrip("/").rsplit("/", 1)[-1]
    if not destination:
        return Path(base_name)
    path = Path(destination)
    if path.is_dir():
        return path / base_name
    return path


def _download_to(stream: Any, target: Path, meter: TransferProgress) -> int:
    """Write into a hidden temporary file beside ``target`` and rename it into place when complete."""
    directory = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            received = _copy_stream(stream, out, meter)
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    return received


def _copy_stream(stream: Any, out: BinaryIO, meter: TransferProgress) -> int:
    received = 0
    while True:
        chunk = stream.read(READ_CHUNK_BYTES)
        if not chunk:
            return received
        out.write(chunk)
        received += len(chunk)
        meter.add_bytes(len(chunk))


# ---------------------------------------------------------------------------------------------- rm


def remove_objects(session: Session, uris: Sequence[BucketURI]) -> int:
    """``strata object rm ais://b/o [...]``: one by one; a failure is reported and the rest still go."""
    failures = 0
    for uri in uris:
        try:
            with session.failing_as(str(uri)):
                uri.sdk_bucket(session.client).object(uri.object).delete()
        except CommandError as error:
            failures += 1
            session.err.write(f"Error: {error}\n")
            continue
        session.out.write(f'deleted "{uri.object}" from {uri.bucket_uri}\n')
    return 1 if failures else 0


# ------------------------------------------------------------------------------------- get --batch


def get_batch(
    session: Session,
    request_file: str,
    bucket: BucketURI | None,
    destination: str,
    *,
    progress: bool | None = None,
) -> int:
    """``strata get --batch FILE.json [ais://BUCKET] OUT.tar``: one GetBatch request, streamed to a file.

    FILE.json is a MossReq (``{"in": [...], "mime": ..., "coer": ...}``) or a JSON list of entries
    (object names or MossIn objects); instead of a file, a brace template (``shard-{0000..0099}.tar``)
    or a comma-separated list of names. The output format is the request's ``mime``, else OUT's
    extension, else .tar; the meter counts bytes (and members, for .tar).
    """
    from strata.archive import TAR, format_of
    from strata.core.errors import InvalidRequest

    # 1. the request: entries and options, the format from the request or the file name
    request = _batch_request(request_file)
    if not request.get("mime"):
        try:
            request["mime"] = format_of(destination)
        except InvalidRequest:
            request["mime"] = TAR
    request["strm"] = True
    entries = len(request["in"])
    path = "ml/moss" + (f"/{bucket.bucket}" if bucket is not None else "")
    params = {"provider": bucket.provider} if bucket is not None else {}
    subject = bucket.bucket_uri if bucket is not None else "get-batch"

    # 2. stream the archive into a temporary file beside OUT, counting bytes (and tar members)
    counter = _TarMemberCounter() if format_of("", request["mime"]) == TAR else None
    meter = TransferProgress(
        session.err,
        total_bytes=0,
        total_files=entries if counter is not None else 0,
        label="GET-BATCH",
        enabled=_want_progress(session, progress, 0, always_for_many=True),
    )
    target = Path(destination)
    with session.failing_as(subject):
        response = session.request("GET", path, params=params, json=request, stream=True)
        try:
            received = _download_to(_CountingStream(response.raw, meter, counter), target, meter)
        except urllib3.exceptions.HTTPError as error:  # the server cut the stream (an error mid-batch)
            raise CommandError(f"{subject}: the archive stream was cut short ({error})") from None
    meter.finish()
    session.out.write(f'GET-BATCH {entries} entries => "{target}" ({human_size(received)})\n')
    return 0


def _batch_request(spec: str) -> dict[str, Any]:
    import json

    from strata.jobs.templates import expand_template

    path = Path(spec)
    loaded: Any = None
    if path.is_file():
        try:
            loaded = json.loads(path.read_text())
        except ValueError as error:
            raise CommandError(f'"{spec}" is not valid JSON: {error}') from None
    elif "{" in spec:
        loaded = list(expand_template(spec))
    else:
        loaded = [name for name in spec.split(",") if name]
    if isinstance(loaded, list):
        loaded = {"in": loaded}
    if not isinstance(loaded, dict) or not isinstance(loaded.get("in"), list) or not loaded["in"]:
        raise CommandError(f'"{spec}": expecting a MossReq ({{"in": [...]}}) or a non-empty list of entries')
    loaded["in"] = [{"objname": item} if isinstance(item, str) else item for item in loaded["in"]]
    return dict(loaded)


class _TarMemberCounter:
    """Counts the regular-file members of a TAR stream as it passes, from its headers alone."""

    def __init__(self) -> None:
        self.skip = 0  # member data (and padding) still to pass before the next header
        self.header = b""

    def feed(self, data: bytes) -> int:
        files, i, n = 0, 0, len(data)
        while i < n:
            if self.skip:
                step = min(self.skip, n - i)
                self.skip -= step
                i += step
                continue
            take = min(512 - len(self.header), n - i)
            self.header += data[i : i + take]
            i += take
            if len(self.header) < 512:
                break
            header, self.header = self.header, b""
            if header.count(0) == 512:  # the end-of-archive blocks
                continue
            try:
                size = int(header[124:136].strip(b"\0 ") or b"0", 8)
            except ValueError:
                size = 0
            files += header[156:157] in (b"0", b"\0")
            self.skip = size + (-size % 512)
        return files


class _CountingStream:
    def __init__(self, raw: Any, meter: TransferProgress, counter: _TarMemberCounter | None) -> None:
        self.raw = raw
        self.meter = meter
        self.counter = counter

    def read(self, size: int) -> bytes:
        chunk: bytes = self.raw.read(size)
        if chunk and self.counter is not None:
            for _ in range(self.counter.feed(chunk)):
                self.meter.file_done()
        return chunk
