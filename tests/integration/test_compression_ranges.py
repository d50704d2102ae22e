"""Range reads of compressed objects at frame edges, through the SDK, raw HTTP and boto3 (issue 10).

A range GET must answer exactly the requested original bytes and decode only the frames the range
touches: 1 for a range inside a frame, 2 across an edge. The count is read from the server's
``/metrics`` (``ais_target_frames_decoded_count``) before and after each request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aistore.sdk.bucket import Bucket

from .compression_support import (
    KIB,
    MIB,
    assert_stored_compressed,
    compressible,
    compressing,
    deltas,
    s3_client,
    stored_path,
)
from .helpers import fast_client, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

F = 64 * KIB  # the configured frame size of the 64 KiB bucket
SMALL_FRAMES_SIZE = 20 * F + 100  # 21 frames, the last one 100 bytes
AUTO_SIZE = 4 * MIB + 1  # frame size auto: 4 MiB frames, so one full frame and one of 1 byte

# (Range header, first byte, last byte, frames it touches) in the 21-frame object
SMALL_FRAME_RANGES = [
    ("bytes=10-1000", 10, 1000, 1),
    (f"bytes={F}-{2 * F - 1}", F, 2 * F - 1, 1),  # exactly frame 1
    (f"bytes={F - 1}-{F}", F - 1, F, 2),  # the last byte of frame 0 and the first of frame 1
    (f"bytes={F - 1}-{2 * F}", F - 1, 2 * F, 3),
    (f"bytes={5 * F + 100}-{5 * F + 4195}", 5 * F + 100, 5 * F + 4195, 1),  # 4 KiB inside frame 5
    (f"bytes={20 * F}-{20 * F + 99}", 20 * F, SMALL_FRAMES_SIZE - 1, 1),  # the short last frame
    ("bytes=-100", SMALL_FRAMES_SIZE - 100, SMALL_FRAMES_SIZE - 1, 1),  # suffix: the last frame
    ("bytes=-101", SMALL_FRAMES_SIZE - 101, SMALL_FRAMES_SIZE - 1, 2),
    (f"bytes={19 * F}-", 19 * F, SMALL_FRAMES_SIZE - 1, 2),  # open-ended
    (f"bytes=0-{SMALL_FRAMES_SIZE - 1}", 0, SMALL_FRAMES_SIZE - 1, 21),
]
AUTO_RANGES = [
    ("bytes=0-0", 0, 0, 1),
    (f"bytes={4 * MIB - 1}-{4 * MIB}", 4 * MIB - 1, 4 * MIB, 2),
    (f"bytes={4 * MIB}-{4 * MIB}", 4 * MIB, 4 * MIB, 1),
    (f"bytes={2 * MIB}-{2 * MIB + 4095}", 2 * MIB, 2 * MIB + 4095, 1),
]


class Objects:
    """The two compressed objects every range test reads (written once per module)."""

    def __init__(self, server: StrataServer, small: Bucket, auto: Bucket) -> None:
        self.server = server
        self.small, self.auto = small, auto
        self.small_data = compressible(SMALL_FRAMES_SIZE, shift=11)
        self.auto_data = compressible(AUTO_SIZE, shift=13)


@pytest.fixture(scope="module")
def objects(server: StrataServer) -> Iterator[Objects]:
    client = fast_client(server.endpoint)
    small = compressing(client.bucket("cmp-ranges-64k").create(exist_ok=True), frame_size="64KiB")
    auto = compressing(client.bucket("cmp-ranges-auto").create(exist_ok=True))
    objs = Objects(server, small, auto)
    small.object("obj").get_writer().put_content(objs.small_data)
    auto.object("obj").get_writer().put_content(objs.auto_data)
    assert_stored_compressed(stored_path(server.data_dir, small.name, "obj"), objs.small_data, F)
    assert_stored_compressed(stored_path(server.data_dir, auto.name, "obj"), objs.auto_data, 4 * MIB)
    yield objs
    small.delete(missing_ok=True)
    auto.delete(missing_ok=True)


def sdk_get(objs: Objects, bck: Bucket, header: str) -> bytes:
    data: bytes = bck.object("obj").get_reader(byte_range=header).read_all()
    return data


def raw_get(objs: Objects, bck: Bucket, header: str) -> bytes:
    url = f"{objs.server.endpoint}/v1/objects/{bck.name}/obj"
    resp = raw("GET", url, params={"provider": "ais"}, headers={"Range": header})
    assert resp.status_code == 206, (resp.status_code, resp.text[:300])
    size = len(objs.small_data if bck is objs.small else objs.auto_data)
    first, last = _span(header, size)
    assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert int(resp.headers["Content-Length"]) == last - first + 1
    return resp.content


def boto3_get(objs: Objects, bck: Bucket, header: str) -> bytes:
    answer = s3_client(objs.server.endpoint).get_object(Bucket=bck.name, Key="obj", Range=header)
    size = len(objs.small_data if bck is objs.small else objs.auto_data)
    first, last = _span(header, size)
    assert answer["ContentRange"] == f"bytes {first}-{last}/{size}"
    assert answer["ContentLength"] == last - first + 1
    data: bytes = answer["Body"].read()
    return data


def _span(header: str, size: int) -> tuple[int, int]:
    first, _, last = header.removeprefix("bytes=").partition("-")
    if not first:
        return size - int(last), size - 1
    return int(first), int(last) if last else size - 1


CLIENTS: dict[str, Callable[[Objects, Bucket, str], bytes]] = {
    "sdk": sdk_get,
    "raw": raw_get,
    "boto3": boto3_get,
}


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize(("header", "first", "last", "frames"), SMALL_FRAME_RANGES, ids=lambda v: str(v))
def test_range_in_64k_frames_decodes_only_the_frames_it_touches(
    objects: Objects, client: str, header: str, first: int, last: int, frames: int
) -> None:
    with deltas(objects.server.endpoint) as counted:
        got = CLIENTS[client](objects, objects.small, header)
    assert got == objects.small_data[first : last + 1], f"{header}: wrong bytes"
    assert counted["frames_decoded_count"] == frames, f"{header} decoded {counted['frames_decoded_count']}"


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize(("header", "first", "last", "frames"), AUTO_RANGES, ids=lambda v: str(v))
def test_range_in_auto_frames_decodes_only_the_frames_it_touches(
    objects: Objects, client: str, header: str, first: int, last: int, frames: int
) -> None:
    with deltas(objects.server.endpoint) as counted:
        got = CLIENTS[client](objects, objects.auto, header)
    assert got == objects.auto_data[first : last + 1], f"{header}: wrong bytes"
    assert counted["frames_decoded_count"] == frames, f"{header} decoded {counted['frames_decoded_count']}"


def test_whole_get_and_head_answer_the_original_length(objects: Objects) -> None:
    base = f"{objects.server.endpoint}/v1/objects/{objects.small.name}/obj"
    head = raw("HEAD", base, params={"provider": "ais"})
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == SMALL_FRAMES_SIZE
    with deltas(objects.server.endpoint) as counted:
        whole = raw("GET", base, params={"provider": "ais"})
    assert whole.status_code == 200 and int(whole.headers["Content-Length"]) == SMALL_FRAMES_SIZE
    assert whole.content == objects.small_data
    assert counted["frames_decoded_count"] == 21
    s3 = s3_client(objects.server.endpoint)
    s3_head: dict[str, Any] = s3.head_object(Bucket=objects.small.name, Key="obj")
    assert s3_head["ContentLength"] == SMALL_FRAMES_SIZE


PAST_THE_END = [f"bytes={SMALL_FRAMES_SIZE}-", f"bytes={SMALL_FRAMES_SIZE + 5}-{SMALL_FRAMES_SIZE + 9}"]


@pytest.mark.parametrize("header", PAST_THE_END)
def test_range_past_the_end_is_416(objects: Objects, header: str) -> None:
    url = f"{objects.server.endpoint}/v1/objects/{objects.small.name}/obj"
    with deltas(objects.server.endpoint) as counted:
        resp = raw("GET", url, params={"provider": "ais"}, headers={"Range": header})
    assert resp.status_code == 416, (resp.status_code, resp.text[:200])
    assert resp.headers.get("Content-Range") == f"bytes */{SMALL_FRAMES_SIZE}"
    assert counted["frames_decoded_count"] == 0
