"""Bucket verbs: ``ls``, ``create``, ``bucket rm``, ``bucket props show|set``.

Everything goes through the official SDK (``Bucket.create/delete/head/list_objects/make_request``), so
the CLI exercises the same wire contract as any SDK user. Listing pages through the whole bucket with
the server's ``uuid``/``continuation_token`` and prints in batches of rows, so a large bucket streams
instead of being held in memory while columns stay aligned.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aistore.sdk.list_object_flag import ListObjectFlag
from aistore.sdk.types import BucketModel

from strata.cli.connection import Session
from strata.cli.defaults import ALL_LIST_PROPS, DEFAULT_LIST_PROPS
from strata.cli.errors import CommandError
from strata.cli.formatting import (
    NO_VALUE,
    Table,
    coerce_value,
    flatten,
    human_size,
    nest,
    parse_assignments,
    render_value,
    select_section,
    write_json,
    write_properties,
)
from strata.cli.uri import BucketURI, UsageError

BUCKET_PROPS_HEADER = "Ais-Bucket-Props"
DEFAULT_PROPS = DEFAULT_LIST_PROPS
ALL_PROPS = ALL_LIST_PROPS
ENTRY_CACHED_FLAG = 64  # apc.EntryIsCached
ENTRY_DIR_FLAG = 256  # apc.EntryIsDir: a virtual directory in a non-recursive listing
ENTRY_STATUS_MASK = 31  # the low 5 bits: 0 = OK
LISTING_BATCH_ROWS = 50_000  # rows aligned together; later batches keep (at least) the same widths


@dataclass(frozen=True)
class Column:
    """One ``--props`` name: its header and how to read it from a listing entry (the SDK's BucketEntry)."""

    header: str
    cell: Callable[[Any], str]


def _or_dash(text: str) -> str:
    return text or NO_VALUE


_COLUMNS: dict[str, Column] = {
    "name": Column("name", lambda entry: str(entry.n)),
    "size": Column("size", lambda entry: _size_cell(entry)),
    "checksum": Column("checksum", lambda entry: _or_dash(entry.cs)),
    "atime": Column("atime", lambda entry: _or_dash(entry.a)),
    "version": Column("version", lambda entry: _or_dash(entry.v)),
    "location": Column("location", lambda entry: _or_dash(entry.t)),
    "copies": Column("copies", lambda entry: str(entry.c) if entry.c else NO_VALUE),
    "cached": Column("cached", lambda entry: "yes" if entry.f & ENTRY_CACHED_FLAG else "no"),
    "status": Column("status", lambda entry: _status_cell(entry.f)),
}
_COLUMNS["target_url"] = _COLUMNS["location"]


def _is_directory(entry: Any) -> bool:
    return str(entry.n).endswith("/") or bool(entry.f & ENTRY_DIR_FLAG)


def _size_cell(entry: Any) -> str:
    return NO_VALUE if _is_directory(entry) else human_size(int(entry.s))


def _status_cell(flags: int) -> str:
    status = flags & ENTRY_STATUS_MASK
    return "ok" if status == 0 else f"status {status}"


def _parse_props(props: str) -> list[str]:
    """``name,size`` -> the column list; ``all`` expands; ``name`` is always first (a row needs it)."""
    names = [name.strip() for name in (ALL_PROPS if props.strip() == "all" else props).split(",")]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in _COLUMNS]
    if unknown:
        choices = ", ".join(name for name in _COLUMNS if name != "target_url")
        raise UsageError(f"unknown property {', '.join(unknown)} (choose from: {choices}, or all)")
    if "name" in names:
        names.remove("name")
    return ["name", *dict.fromkeys(names)]


# ---------------------------------------------------------------------------------------------- ls


def list_buckets(session: Session, provider: str = "", summary: bool = False, present: bool = True) -> int:
    """``strata ls``: every bucket (``ais://`` narrows to one provider), optionally with counts and sizes.

    For a cloud provider, ``present`` keeps to the buckets in the cluster (``presence=2``); otherwise the
    backend lists all it has (``strata ls s3: --all``)."""
    with session.failing_as():
        if provider and provider != "ais":
            params = {"provider": provider, **({"presence": "2"} if present else {})}
            found = session.request("GET", "buckets", params=params).json() or []
            buckets = [BucketModel(name=b["name"], provider=b["provider"]) for b in found]
        else:
            buckets = session.client.cluster().list_buckets(provider=provider)
    if not buckets:
        session.out.write("No buckets in the cluster\n" if not provider else f"No {provider}:// buckets\n")
        return 0
    table = Table(["name", "objects", "total size"] if summary else ["name"])
    for model in sorted(buckets, key=lambda model: (model.provider, model.name)):
        address = _address(model)
        if not summary:
            table.add(address.bucket_uri)
            continue
        count, size = _bucket_totals(session, address)
        table.add(address.bucket_uri, str(count), human_size(size))
    table.write(session.out)
    session.out.write(f"Total: {len(buckets)} bucket{'s' if len(buckets) != 1 else ''}\n")
    return 0


def _address(model: BucketModel) -> BucketURI:
    """A listed bucket as the CLI writes it: ``ais://b``, or ``ais://@uuid/b`` for a remote cluster's."""
    namespace = model.namespace
    if namespace is None or not (namespace.uuid or namespace.name):
        return BucketURI(model.provider, model.name)
    return BucketURI(model.provider, model.name, namespace=f"@{namespace.uuid}#{namespace.name}")


def _bucket_totals(session: Session, address: BucketURI) -> tuple[int, int]:
    """Object count and bytes, counted client-side from a names+sizes listing (works on any server)."""
    with session.failing_as(f'bucket "{address.bucket_uri}"'):
        count = size = 0
        for entry in address.sdk_bucket(session.client).list_objects_iter(props=DEFAULT_PROPS):
            count += 1
            size += int(entry.s)
    return count, size


def list_objects(
    session: Session,
    uri: BucketURI,
    *,
    prefix: str = "",
    props: str = DEFAULT_PROPS,
    limit: int = 0,
    recursive: bool = True,
    page_size: int = 0,
) -> int:
    """``strata ls ais://b``: objects with the chosen columns, every page, then a ``Total:`` line."""
    columns = _parse_props(props)
    prefix = prefix or uri.object
    bucket = uri.sdk_bucket(session.client)
    flags = [] if recursive else [ListObjectFlag.NO_RECURSION]
    request_props = ",".join(columns)
    if limit and (not page_size or page_size > limit):
        page_size = limit

    listed = directories = total_size = 0
    header_written = False
    table = Table([_COLUMNS[name].header for name in columns])
    uuid = token = ""
    while True:
        # 1. fetch one page (the server remembers where we are by uuid + continuation token)
        with session.failing_as(f'bucket "{uri.bucket_uri}"'):
            page = bucket.list_objects(
                prefix=prefix,
                props=request_props,
                page_size=page_size,
                uuid=uuid,
                continuation_token=token,
                flags=flags,
            )
        entries = page.entries
        if limit:
            entries = entries[: limit - listed]
        for entry in entries:
            table.add(*(_COLUMNS[name].cell(entry) for name in columns))
            if _is_directory(entry):
                directories += 1
            else:
                total_size += int(entry.s)
        listed += len(entries)
        # 2. print in batches: aligned over many rows, yet never the whole bucket in memory
        if len(table.rows) >= LISTING_BATCH_ROWS:
            table.write(session.out, header=not header_written)
            header_written = True
            table = Table(table.headers, table.widths)
        # 3. stop at the last page or at the limit
        if page.continuation_token == "" or (limit and listed >= limit):
            break
        uuid, token = page.uuid, page.continuation_token
    if table.rows:
        table.write(session.out, header=not header_written)

    session.out.write(_listing_total(uri, prefix, listed, directories, total_size, "size" in columns, limit))
    return 0


def _listing_total(
    uri: BucketURI, prefix: str, listed: int, directories: int, size: int, with_size: bool, limit: int
) -> str:
    """``Total: 3 objects, 12.00KiB`` (or why nothing was listed)."""
    if listed == 0:
        where = f' matching prefix "{prefix}"' if prefix else ""
        return f"No objects{where} in {uri.bucket_uri}\n"
    objects = listed - directories
    parts = [f"{objects} object{'s' if objects != 1 else ''}"]
    if directories:
        parts.append(f"{directories} director{'ies' if directories != 1 else 'y'}")
    line = "Total: " + ", ".join(parts)
    if with_size:
        line += f", {human_size(size)}"
    if limit and listed >= limit:
        line += f" (stopped at --limit {limit})"
    return line + "\n"


# ------------------------------------------------------------------------------------- create / rm


def parse_props_argument(text: str) -> list[tuple[str, Any]] | dict[str, Any]:
    """``--props`` as JSON (``{"versioning":{"enabled":false}}``) or as ``"a.b=1 c.d=x"`` pairs."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError as error:
            raise UsageError(f"--props is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise UsageError("--props JSON must be an object")
        return value
    try:
        return list(parse_assignments(shlex.split(stripped)))
    except ValueError as error:
        raise UsageError(str(error)) from None


def create_bucket(session: Session, uri: BucketURI, props: str = "") -> int:
    """``strata create ais://b [--props ...]``.

    The bucket is created first, then the properties are applied with ``set-bprops`` (typed against the
    new bucket's own defaults, like ``props set``). If they are refused the bucket is removed again, so
    the command either fully succeeds or leaves nothing behind and can be re-run as typed.
    """
    requested = parse_props_argument(props) if props else None
    bucket = uri.sdk_bucket(session.client)
    with session.failing_as(f'bucket "{uri.bucket_uri}"'):
        bucket.create()
    if requested:
        try:
            _apply_props(session, uri, requested, report=False)
        except CommandError as error:
            try:
                with session.failing_as(f'bucket "{uri.bucket_uri}"'):
                    bucket.delete(missing_ok=True)
            except CommandError as cleanup_error:
                raise CommandError(
                    f"{error}; {uri.bucket_uri} was created without them and could not be removed"
                    f" ({cleanup_error})"
                ) from error
            raise CommandError(f"{error} (bucket {uri.bucket_uri} not created)") from error
    session.out.write(f'"{uri.bucket_uri}" created\n')
    return 0


def remove_buckets(
    session: Session,
    uris: Sequence[BucketURI],
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> int:
    """``strata bucket rm ais://a [ais://b ...]``: destroys each bucket and all its objects.

    Without ``--yes`` a terminal user is asked once; a script without ``--yes`` is refused (nothing is
    destroyed), since an unattended destroy should be asked for explicitly.
    """
    names = ", ".join(uri.bucket_uri for uri in uris)
    if not yes:
        if confirm is None:
            confirm = _ask_terminal
        if not confirm(f"Remove {names} and all objects in {'them' if len(uris) > 1 else 'it'}? [y/N] "):
            raise CommandError(f"not removing {names}: not confirmed (pass --yes to skip the question)")
    failures = 0
    for uri in uris:
        try:
            with session.failing_as(f'bucket "{uri.bucket_uri}"'):
                uri.sdk_bucket(session.client).delete()
        except CommandError as error:
            failures += 1
            session.err.write(f"Error: {error}\n")
            continue
        session.out.write(f'"{uri.bucket_uri}" destroyed\n')
    return 1 if failures else 0


def _ask_terminal(question: str) -> bool:
    """Ask on the terminal; ``False`` (refuse) when there is no terminal to ask on."""
    if not sys.stdin.isatty():
        return False
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


# ------------------------------------------------------------------------------------------- props


def fetch_props(session: Session, uri: BucketURI) -> dict[str, Any]:
    """The bucket's properties: HEAD ``/v1/buckets/B`` answers them as JSON in ``Ais-Bucket-Props``."""
    with session.failing_as(f'bucket "{uri.bucket_uri}"'):
        headers = uri.sdk_bucket(session.client).head()
    raw = headers.get(BUCKET_PROPS_HEADER, "")
    try:
        props = json.loads(raw) if raw else {}
    except ValueError:
        raise CommandError(f"{uri.bucket_uri}: server sent unreadable properties") from None
    if not isinstance(props, dict):
        raise CommandError(f"{uri.bucket_uri}: server sent properties that are not an object")
    return props


def show_props(session: Session, uri: BucketURI, section: str = "", as_json: bool = False) -> int:
    """``strata bucket props show ais://b [SECTION] [--json]``."""
    props = fetch_props(session, uri)
    try:
        if as_json:
            write_json(session.out, select_section(props, section) if section else props)
        else:
            write_properties(session.out, props, section)
    except KeyError as error:
        raise CommandError(f"{uri.bucket_uri}: {error.args[0]}") from None
    return 0


def set_props(session: Session, uri: BucketURI, words: Sequence[str]) -> int:
    """``strata bucket props set ais://b mirror.enabled=true checksum.type=md5`` (or one JSON object)."""
    if not words:
        raise UsageError("nothing to set: give key=value pairs or a JSON object")
    joined = " ".join(words)
    requested: list[tuple[str, Any]] | dict[str, Any]
    if joined.lstrip().startswith("{"):
        requested = parse_props_argument(joined)
    else:
        try:
            requested = parse_assignments(words)
        except ValueError as error:
            raise UsageError(str(error)) from None
    _apply_props(session, uri, requested, report=True)
    return 0


def _apply_props(
    session: Session, uri: BucketURI, requested: list[tuple[str, Any]] | dict[str, Any], report: bool
) -> None:
    """Send a partial-props ``set-bprops`` PATCH and (when ``report``) print what changed.

    ``key=value`` text is typed by the property's current value (``mirror.copies=3`` -> 3); a JSON
    object is sent as written. The 2.0.0 SDK has no set-props method, so this is ``Bucket.make_request``
    with the ActMsg ``{"action": "set-bprops", "name": "", "value": {...}}``, exactly as ``ais`` sends it.
    """
    # 1. read the current values (types for coercion, "was" for the report)
    before = flatten(fetch_props(session, uri))
    # 2. build the nested partial props
    if isinstance(requested, dict):
        partial = requested
    else:
        try:
            partial = nest((key, coerce_value(str(text), before.get(key))) for key, text in requested)
        except ValueError as error:
            raise UsageError(str(error)) from None
    # 3. PATCH them
    bucket = uri.sdk_bucket(session.client)
    with session.failing_as(f'bucket "{uri.bucket_uri}"'):
        bucket.make_request("PATCH", "set-bprops", value=partial)
    if not report:
        return
    # 4. read back and say what the server now holds
    after = flatten(fetch_props(session, uri))
    for key in flatten(partial):
        new, old = render_value(after.get(key)), render_value(before.get(key))
        if new == old:
            session.out.write(f'"{key}" unchanged: "{new}"\n')
        else:
            session.out.write(f'"{key}" set to: "{new}" (was: "{old}")\n')
