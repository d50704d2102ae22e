"""Reading inside shards: ``GET /v1/objects/B/shard.tar?archpath=...`` and ``?archregx=...&archmode=...``.

One member (``archpath``) comes back as its own bytes, with ``Range`` applied inside the member;
for an uncompressed TAR the bytes go out with sendfile straight from the shard. Several members
(``archregx``) come back as a TAR stream of the matches. A shard that is not an archive, a member
that is not there, a bad pattern: 4xx, never a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from strata.archive import MODES, TAR, ArchiveReader, FileRegion, Member, format_of, new_writer
from strata.archive.formats import content_type
from strata.core.errors import InvalidRequest, NotFound, ObjectNotFound
from strata.core.names import BucketRef
from strata.core.query import Query
from strata.core.ranges import parse_range
from strata.objects.compression import iterate_off_loop, off_loop
from strata.roles.node import Node
from strata.server.http import FileBody, Request, Response, StreamItem
from strata.storage.objects import OpenObject


def get_archived(
    node: Node, request: Request, bck: BucketRef, object_name: str, query: Query
) -> Response | Awaitable[Response]:
    # 1. what to read: one member, or the members matching a pattern
    archpath = query.get("archpath")
    pattern = query.get("archregx")
    mode = query.get("archmode") or "regexp"
    if archpath and pattern:
        raise InvalidRequest("archpath and archregx are exclusive")
    if pattern and mode not in MODES:
        raise InvalidRequest(f'invalid archmode "{mode}" (expected one of {", ".join(MODES)})')
    fmt = format_of(object_name, query.get("archmime"))
    # 2. open the shard (with its member index, if one was built before)
    obj, reader = node.objects.open_shard(bck, object_name, fmt)
    if obj.metadata.codec:  # stored compressed: members are decoded, so off the event loop
        return _decoded_off_loop(
            lambda: _answer(node, request, bck, object_name, obj, reader, archpath, pattern, mode)
        )
    return _answer(node, request, bck, object_name, obj, reader, archpath, pattern, mode)


async def _decoded_off_loop(answer: Callable[[], Response]) -> Response:
    """The answer built in the codec threads, its body produced there too piece by piece."""
    response = await off_loop(answer)
    if isinstance(response.stream, Iterator):
        response.stream = iterate_off_loop(response.stream)
    return response


def _answer(
    node: Node,
    request: Request,
    bck: BucketRef,
    object_name: str,
    obj: OpenObject,
    reader: ArchiveReader,
    archpath: str,
    pattern: str,
    mode: str,
) -> Response:
    try:
        if archpath:
            return _one_member(node, request, bck, object_name, archpath, obj, reader)
        members = reader.match(pattern, mode)
        node.objects.remember_shard(obj, reader)
        return Response(
            200,
            [("Content-Type", content_type(TAR))],
            stream=_matches_as_tar(obj, reader, members),
        )
    except BaseException:
        reader.close()
        obj.close()
        raise


def _one_member(
    node: Node,
    request: Request,
    bck: BucketRef,
    object_name: str,
    archpath: str,
    obj: OpenObject,
    reader: ArchiveReader,
) -> Response:
    try:
        member = reader.find(archpath)
    except NotFound:
        raise ObjectNotFound(
            f"{bck.object_uri(object_name)}/{archpath}", "no such file in the archive"
        ) from None
    node.objects.remember_shard(obj, reader)
    span = parse_range(request.headers.get("range", ""), member.size)
    offset, length = span if span is not None else (0, member.size)
    headers = [("Content-Type", "application/octet-stream")]
    status = 200
    if span is not None:
        status = 206
        headers.append(("Content-Range", f"bytes {offset}-{offset + length - 1}/{member.size}"))
    region = reader.region(member, offset, length)
    if region is not None:  # stored verbatim in the shard: zero-copy; the server closes the fd
        reader.close()
        return Response(status, headers, file=FileBody(obj.fd, region.offset, region.count))
    return Response(
        status, headers, stream=_member_bytes(obj, reader, member, offset, length), content_length=length
    )


def _member_bytes(
    obj: OpenObject, reader: ArchiveReader, member: Member, offset: int, length: int
) -> Iterator[StreamItem]:
    try:
        yield from reader.read(member, offset, length)
    finally:
        reader.close()
        obj.close()


def _matches_as_tar(obj: OpenObject, reader: ArchiveReader, members: list[Member]) -> Iterator[StreamItem]:
    writer = new_writer(TAR)
    try:
        for member in members:
            region: FileRegion | None = reader.region(member)
            source = region if region is not None else reader.read(member)
            yield from writer.add(member.name, member.size, source, mtime=member.mtime)
        yield from writer.finish()
    finally:
        reader.close()
        obj.close()
