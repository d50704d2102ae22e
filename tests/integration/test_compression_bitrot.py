"""Bit rot in a stored compressed file (issue 10, "Bad input"): a clear error, never wrong bytes.

The damage is made on disk (bytes inverted inside a frame, or in the seek table) without touching
the metadata record, as a failing disk would. A read that can still refuse before sending anything
must answer 422 ``ObjectCorrupted`` (the SDK does not retry a 4xx: the answer comes at once, not after
the SDK's ~90 s of retries), count in ``err_cksum_count``, and never serve the damaged bytes. When the
damage lies in a frame after the first one a whole GET has already sent, the body is cut short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError
from botocore.exceptions import ClientError

from .compression_support import (
    KIB,
    compressible,
    compressing,
    deltas,
    flip_bytes,
    frame_middle,
    s3_client,
    seek_table_entries,
    set_props,
    stored_path,
)
from .helpers import fast_client, raw
from .server import REPO_ROOT, StrataServer

pytestmark = pytest.mark.timeout(120)

F = 64 * KIB
NOT_RETRIED_WITHIN_S = 5.0  # the SDK's default policy retries network errors and 5xx for ~90 s

@pytest.fixture
def damaged(server: StrataServer, bucket: Bucket) -> Iterator[tuple[Bucket, Path, bytes]]:
    """``bucket`` compressing with 64 KiB frames, holding ``obj``: 5 frames of log text, undamaged yet."""
    compressing(bucket, frame_size="64KiB")
    data = compressible(5 * F - 300, shift=17)
    bucket.object("obj").get_writer().put_content(data)
    path = stored_path(server.data_dir, bucket.name, "obj")
    assert len(seek_table_entries(path.read_bytes())) == 5
    yield bucket, path, data


def default_sdk(server: StrataServer) -> Client:
    """The SDK as users run it: its default retry policy (429/5xx and network errors, ~90 s)."""
    return Client(server.endpoint, timeout=(3.0, 30.0))


def assert_corrupted_422(resp: requests.Response) -> None:
    assert resp.status_code == 422, (resp.status_code, resp.text[:300])
    message = json.loads(resp.text)["message"]
    assert "corrupted" in message, message


def sdk_refuses_at_once(server: StrataServer, bucket: str, name: str, byte_range: str | None = None) -> None:
    started = time.monotonic()
    with pytest.raises(AISError) as info:
        default_sdk(server).bucket(bucket).object(name).get_reader(byte_range=byte_range).read_all()
    elapsed = time.monotonic() - started
    assert info.value.status_code == 422, info.value
    assert elapsed < NOT_RETRIED_WITHIN_S, f"the SDK took {elapsed:.1f}s: it retried"


# --- the seek table ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["footer magic", "frame count", "an entry's stored size"])
def test_damaged_seek_table_is_422_not_retried(
    server: StrataServer, damaged: tuple[Bucket, Path, bytes], where: str
) -> None:
    bucket, path, _data = damaged
    size = path.stat().st_size
    offset = {"footer magic": size - 4, "frame count": size - 9, "an entry's stored size": size - 9 - 5 * 8}
    flip_bytes(path, offset[where], 2)
    url = f"{server.endpoint}/v1/objects/{bucket.name}/obj"
    with deltas(server.endpoint) as counted:
        assert_corrupted_422(raw("GET", url, params={"provider": "ais"}))
        assert_corrupted_422(raw("GET", url, params={"provider": "ais"}, headers={"Range": "bytes=0-9"}))
        sdk_refuses_at_once(server, bucket.name, "obj")
        with pytest.raises(ClientError) as info:
            s3_client(server.endpoint).get_object(Bucket=bucket.name, Key="obj")
    assert info.value.response["Error"]["Code"] == "ObjectCorrupted"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 422
    assert counted["err_cksum_count"] == 4
    assert counted["frames_decoded_count"] == 0
    # the rest of the bucket is unaffected, and the object can be replaced
    bucket.object("obj").get_writer().put_content(b"replaced" * 1000)
    assert bucket.object("obj").get_reader().read_all() == b"replaced" * 1000


# --- a frame ----------------------------------------------------------------------------------------



def test_damaged_first_frame_of_a_whole_get_is_422_not_retried(
    server: StrataServer, damaged: tuple[Bucket, Path, bytes]
) -> None:
    bucket, path, _data = damaged
    flip_bytes(path, frame_middle(path, 0))
    with deltas(server.endpoint) as counted:
        assert_corrupted_422(raw("GET", f"{server.endpoint}/v1/objects/{bucket.name}/obj?provider=ais"))
        sdk_refuses_at_once(server, bucket.name, "obj")
    assert counted["err_cksum_count"] == 2



def test_damaged_frame_of_a_range_get_is_422_not_retried(
    server: StrataServer, damaged: tuple[Bucket, Path, bytes]
) -> None:
    bucket, path, data = damaged
    flip_bytes(path, frame_middle(path, 2))
    url = f"{server.endpoint}/v1/objects/{bucket.name}/obj?provider=ais"
    # frames 0, 1, 3 and 4 still read; any range touching frame 2 refuses
    assert raw("GET", url, headers={"Range": f"bytes=0-{2 * F - 1}"}).content == data[: 2 * F]
    assert raw("GET", url, headers={"Range": f"bytes={3 * F}-"}).content == data[3 * F :]
    with deltas(server.endpoint) as counted:
        assert_corrupted_422(raw("GET", url, headers={"Range": f"bytes={2 * F + 10}-{2 * F + 20}"}))
        sdk_refuses_at_once(server, bucket.name, "obj", byte_range=f"bytes={2 * F}-{3 * F - 1}")
        with pytest.raises(ClientError) as info:
            s3 = s3_client(server.endpoint)
            s3.get_object(Bucket=bucket.name, Key="obj", Range=f"bytes={2 * F}-{2 * F}")
    assert info.value.response["Error"]["Code"] == "ObjectCorrupted"
    assert counted["err_cksum_count"] == 3



def test_damaged_small_object_is_422_not_500(server: StrataServer, bucket: Bucket) -> None:
    """An object small enough for the hot cache (one frame, read whole at once)."""
    compressing(bucket)
    data = compressible(40 * KIB, shift=23)
    bucket.object("small").get_writer().put_content(data)
    path = stored_path(server.data_dir, bucket.name, "small")
    flip_bytes(path, frame_middle(path, 0))
    with deltas(server.endpoint) as counted:
        assert_corrupted_422(raw("GET", f"{server.endpoint}/v1/objects/{bucket.name}/small?provider=ais"))
        sdk_refuses_at_once(server, bucket.name, "small")
    assert counted["err_cksum_count"] == 2


def test_damaged_later_frame_cuts_a_whole_get_short(
    server: StrataServer, damaged: tuple[Bucket, Path, bytes]
) -> None:
    """Frames 0-2 are sent before frame 3 is found damaged: the body must stop there, never carry
    damaged bytes, and the read counts as a checksum error."""
    bucket, path, data = damaged
    flip_bytes(path, frame_middle(path, 3))
    received = bytearray()
    url = f"{server.endpoint}/v1/objects/{bucket.name}/obj?provider=ais"
    with deltas(server.endpoint) as counted, requests.get(url, stream=True, timeout=30) as resp:
        assert resp.status_code == 200
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for piece in resp.iter_content(8 * KIB):
                received += piece
    assert len(received) < len(data) and data.startswith(received)
    assert counted["err_cksum_count"] == 1


def test_validating_bucket_refuses_any_damaged_frame_before_sending(
    server: StrataServer, damaged: tuple[Bucket, Path, bytes]
) -> None:
    """``checksum.validate_warm_get``: the whole original is checked first, so even a damaged last frame
    is a 422 before any byte, through every front."""
    bucket, path, _data = damaged
    set_props(bucket, {"checksum": {"validate_warm_get": True}})
    flip_bytes(path, frame_middle(path, 4))
    with deltas(server.endpoint) as counted:
        assert_corrupted_422(raw("GET", f"{server.endpoint}/v1/objects/{bucket.name}/obj?provider=ais"))
        sdk_refuses_at_once(server, bucket.name, "obj")
        with pytest.raises(ClientError) as info:
            s3_client(server.endpoint).get_object(Bucket=bucket.name, Key="obj")
    assert info.value.response["Error"]["Code"] == "ObjectCorrupted"
    assert counted["err_cksum_count"] == 3


# --- strata savings --verify --------------------------------------------------------------------------


def run_strata(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["AIS_ENDPOINT"] = endpoint
    env.pop("STRATA_ENDPOINT", None)
    command = [sys.executable, "-m", "strata", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)



def test_savings_verify_reports_a_damaged_compressed_file(
    server_factory: Callable[..., StrataServer],
) -> None:
    """Issue 10: a stored compressed file that fails to decode "is reported by strata savings --verify"."""
    srv = server_factory(workers=1)
    bucket = compressing(fast_client(srv.endpoint).bucket("rotten").create(), frame_size="64KiB")
    for i in range(3):
        bucket.object(f"obj-{i}").get_writer().put_content(compressible(3 * F + i, shift=i))
    clean = run_strata(srv.endpoint, "savings", "--verify")
    assert clean.returncode == 0, (clean.stdout, clean.stderr)
    path = stored_path(srv.data_dir, "rotten", "obj-1")
    flip_bytes(path, frame_middle(path, 1))  # same size: only decoding can tell
    result = run_strata(srv.endpoint, "savings", "--verify")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "ais://rotten" in result.stdout and "Traceback" not in result.stderr, result.stdout


# --- GetBatch -----------------------------------------------------------------------------------------



def test_getbatch_with_coer_makes_a_damaged_entry_a_soft_error(
    server: StrataServer, damaged: tuple[Bucket, Path, bytes]
) -> None:
    """With continue-on-error, the damaged object is an error entry; the rest of the batch is intact
    (strata/getbatch/assembler.py: a 4xx an entry alone is to blame for is a soft error)."""
    bucket, path, _data = damaged
    good = compressible(3 * F, shift=99)
    bucket.object("good").get_writer().put_content(good)
    flip_bytes(path, frame_middle(path, 0))
    client = fast_client(server.endpoint)
    with deltas(server.endpoint) as counted:
        results = list(client.batch(["good", "obj", "good"], bucket=bucket, cont_on_err=True).get())
    served = [(out.obj_name, got) for out, got in results if not out.err_msg]
    assert served == [("good", good), ("good", good)]
    [failed] = [out for out, _ in results if out.err_msg]
    assert failed.obj_name == "obj" and failed.err_msg and failed.size == 0  # a __404__ member
    assert counted["err_cksum_count"] == 1



def test_getbatch_without_coer_refuses_naming_the_object_not_a_server_path(
    server: StrataServer, damaged: tuple[Bucket, Path, bytes]
) -> None:
    bucket, path, _data = damaged
    flip_bytes(path, frame_middle(path, 0))
    started = time.monotonic()
    with pytest.raises(AISError) as info:
        batch = Client(server.endpoint, timeout=(3.0, 30.0)).batch(["obj"], bucket=bucket, cont_on_err=False)
        list(batch.get())
    assert time.monotonic() - started < NOT_RETRIED_WITHIN_S
    assert info.value.status_code == 422
    message = json.loads(info.value.message)["message"]
    assert f"ais://{bucket.name}/obj" in message and str(server.data_dir) not in message, message
