"""Remote buckets through the S3 front: a cloud bucket in the BMD (``s3://b`` referenced once) or an
``ais://`` bucket with a ``backend_bck``, served to S3 clients as AIStore serves them on ``/v1``.

A GET of an object not cached yet is a cold GET (streamed to the client while stored, or fetched
first when the request needs the local copy: a range, a part, a condition); a HEAD asks the backend
(listings, the backend's, are ``listing.walk_remote``). User metadata travels as the backend's
(``x-amz-meta-NAME`` <-> custom ``NAME``), the way a cold GET records it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from strata.backends import RemoteObject
from strata.config.bucket_props import BucketProps
from strata.objects.remote import off_loop_backend
from strata.s3.context import S3Context
from strata.s3.metadata import USER_PREFIX
from strata.server.http import Response, http_date
from strata.storage.metadata import BACKEND_FACTS, ObjectMetadata


def user_metadata_for_backend(custom: dict[str, str]) -> dict[str, str]:
    """An S3 PUT's custom metadata for a remote bucket: ``x-amz-meta-NAME`` kept as ``NAME``, as the
    backend stores it and a cold GET records it (the rest -- content type... -- stays local)."""
    return {key.removeprefix(USER_PREFIX): value for key, value in custom.items()}


def user_metadata_headers(custom: dict[str, str]) -> list[tuple[str, str]]:
    """``x-amz-meta-*`` of a remote bucket's object: its custom keys that are the backend's user
    metadata (not what a cold GET notes about the backend, not the S3 front's own keys)."""
    return [
        ("x-amz-meta-" + key, value)
        for key, value in custom.items()
        if key not in BACKEND_FACTS and not key.startswith("s3.")
    ]


def described(found: RemoteObject) -> ObjectMetadata:
    """The backend's description of an object not cached here, as the metadata the headers need."""
    return ObjectMetadata(
        size=found.size,
        version=found.version,
        mtime_ns=found.last_modified_ns,
        etag=found.etag,
        custom=dict(found.custom),
    )


def plain_read(ctx: S3Context) -> bool:
    """A whole-object GET with no condition, range or part: a cold GET can stream it as it comes."""
    headers = ctx.request.headers
    conditional = ("range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
    return not any(name in headers for name in conditional) and "partNumber" not in ctx.query


async def cold_get(
    ctx: S3Context, props: BucketProps, local: Callable[[], Response | Awaitable[Response]]
) -> Response:
    """A GET of a remote bucket's object not cached here: streamed while stored, or fetched first and
    answered by ``local`` (the cached-object path) when the request needs the whole local copy."""
    objects = ctx.node.objects
    if not plain_read(ctx):
        await off_loop_backend(lambda: objects.fetch(ctx.bck, ctx.key, props))
        answer = local()
        return await answer if isinstance(answer, Awaitable) else answer
    cold = await off_loop_backend(lambda: objects.cold_read(ctx.bck, ctx.key, props))
    info = cold.info
    headers = [("Content-Type", info.content_type or "binary/octet-stream"), ("Accept-Ranges", "bytes")]
    if info.etag:
        headers.append(("ETag", f'"{info.etag}"'))
    if info.last_modified_ns:
        headers.append(("Last-Modified", http_date(info.last_modified_ns)))
    headers += user_metadata_headers(info.custom)
    objects.sent(info.size)
    return Response(200, headers, stream=cold.stream(), content_length=info.size)


async def head(ctx: S3Context, props: BucketProps) -> ObjectMetadata:
    """HEAD of a remote bucket's object not cached here: what its backend says."""
    found = await off_loop_backend(lambda: ctx.node.objects.head_remote(ctx.bck, ctx.key, props))
    return described(found)
