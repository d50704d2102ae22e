"""Compression at rest through S3 clients (issue 10): boto3, awscli, s3fs and pandas on ``/s3``.

What an S3 client sees of a compressed object is the original: GET bytes, Content-Length, the listing
size and the ETag (the MD5 of the original bytes); on disk the file is smaller and ``zstd -d`` gives the
original back. Each client family does one 100 MiB round trip.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aistore.sdk.bucket import Bucket

from .compression_support import (
    BIG,
    EDGE_SIZES,
    MIB,
    MIN_SIZE,
    assert_stored_compressed,
    assert_stored_plain,
    compressible,
    compressing,
    deltas,
    expected_frame_size,
    frames_for,
    md5,
    s3_client,
    stored_metadata,
    stored_path,
)
from .helpers import fast_client
from .server import StrataServer

pytestmark = pytest.mark.timeout(180)

KEYS = {"access_key": "compression-tests", "secret_key": "compression-tests"}


@pytest.fixture(scope="module")
def s3_bucket(server: StrataServer) -> Iterator[Bucket]:
    """A compressing bucket (defaults: codec auto, frame size auto, min_size 4 KiB) for S3 clients."""
    bck = compressing(fast_client(server.endpoint).bucket("cmp-s3").create(exist_ok=True))
    yield bck
    bck.delete(missing_ok=True)


def check_stored(server: StrataServer, bucket: str, key: str, data: bytes) -> None:
    path = stored_path(server.data_dir, bucket, key)
    if len(data) >= MIN_SIZE:
        assert_stored_compressed(path, data, expected_frame_size(len(data)))
    else:
        assert_stored_plain(path, data)


# --- boto3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [*EDGE_SIZES, BIG], ids=lambda s: f"{s}B")
def test_boto3_round_trip(server: StrataServer, s3_bucket: Bucket, size: int) -> None:
    s3 = s3_client(server.endpoint)
    key, data = f"boto3/{size}", compressible(size, shift=size + 3)
    put = s3.put_object(Bucket=s3_bucket.name, Key=key, Body=data)
    assert put["ETag"] == f'"{md5(data)}"'
    answer = s3.get_object(Bucket=s3_bucket.name, Key=key)
    assert answer["ContentLength"] == size and answer["ETag"] == f'"{md5(data)}"'
    assert answer["Body"].read() == data
    head = s3.head_object(Bucket=s3_bucket.name, Key=key)
    assert (head["ContentLength"], head["ETag"]) == (size, f'"{md5(data)}"')
    listed = s3.list_objects_v2(Bucket=s3_bucket.name, Prefix=key)["Contents"]
    mine = [(o["Key"], o["Size"], o["ETag"]) for o in listed if o["Key"] == key]
    assert mine == [(key, size, f'"{md5(data)}"')]
    check_stored(server, s3_bucket.name, key, data)


def test_boto3_multipart_upload_compresses_like_a_single_put(server: StrataServer, s3_bucket: Bucket) -> None:
    """Parts are assembled before compressing: no per-part padding, the same frames as one PUT."""
    s3 = s3_client(server.endpoint)
    data = compressible(13 * MIB + 5, shift=77)
    bucket = s3_bucket.name
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), 5 * MIB), start=1):
        etag = s3.upload_part(
            Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=number, Body=data[start : start + 5 * MIB]
        )["ETag"]
        parts.append({"ETag": etag, "PartNumber": number})
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="mpu")["Body"].read() == data
    s3.put_object(Bucket=bucket, Key="single", Body=data)
    assert s3.get_object(Bucket=bucket, Key="mpu", Range="bytes=5242870-5242889")["Body"].read() == data[
        5242870:5242890
    ]
    multipart_path = stored_path(server.data_dir, bucket, "mpu")
    assert_stored_compressed(multipart_path, data, 4 * MIB)
    single = stored_path(server.data_dir, bucket, "single").stat().st_size
    assert multipart_path.stat().st_size <= single * 1.1, "multipart compresses within 10% of one PUT"


# --- awscli -----------------------------------------------------------------------------------------


def awscli(server: StrataServer, tmp_path: Path, threshold: str) -> Any:
    """A function running ``python -m awscli`` against the server with ``threshold`` as multipart threshold
    (high: single PUTs and GETs; low: downloads in ranged GETs of 8 MiB)."""
    config = tmp_path / f"aws-config-{threshold}"
    config.write_text(
        "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"
        f"  multipart_threshold = {threshold}\n  multipart_chunksize = 8MB\n"
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEYS["access_key"],
        "AWS_SECRET_ACCESS_KEY": KEYS["secret_key"],
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    def run(*args: str) -> str:
        command = [sys.executable, "-m", "awscli", "--endpoint-url", f"{server.endpoint}/s3", *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=150, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def test_awscli_sync_up_and_down_at_edge_sizes_and_100_mib(
    server: StrataServer, s3_bucket: Bucket, tmp_path: Path
) -> None:
    upload, download = awscli(server, tmp_path, "200MB"), awscli(server, tmp_path, "8MB")
    local, back = tmp_path / "up", tmp_path / "down"
    try:
        local.mkdir()
        files = {f"edge-{size}.log": compressible(size, shift=size + 5) for size in EDGE_SIZES}
        files["big.log"] = compressible(BIG, shift=99)
        for name, data in files.items():
            (local / name).write_bytes(data)
        upload("s3", "sync", str(local), f"s3://{s3_bucket.name}/cli/")
        listing = upload("s3api", "list-objects-v2", "--bucket", s3_bucket.name, "--prefix", "cli/")
        listed = {o["Key"]: (o["Size"], o["ETag"]) for o in json.loads(listing)["Contents"]}
        assert listed == {f"cli/{n}": (len(d), f'"{md5(d)}"') for n, d in files.items()}
        ls_lines = upload("s3", "ls", f"s3://{s3_bucket.name}/cli/").splitlines()
        ls_sizes = {line.split()[-1]: int(line.split()[-2]) for line in ls_lines}
        assert ls_sizes == {n: len(d) for n, d in files.items()}
        for name, data in files.items():
            check_stored(server, s3_bucket.name, f"cli/{name}", data)
        with deltas(server.endpoint) as counted:
            download("s3", "sync", f"s3://{s3_bucket.name}/cli/", str(back))
        assert counted["get_count"] == len(EDGE_SIZES) + 13, "big.log comes in 13 ranged GETs of 8 MiB"
        # each frame once: the 8 MiB ranges fall on 4 MiB frame edges, so none is decoded twice
        edge_frames = sum(frames_for(s, expected_frame_size(s)) for s in EDGE_SIZES if s >= MIN_SIZE)
        assert counted["frames_decoded_count"] == edge_frames + BIG // (4 * MIB)
        for name, data in files.items():
            assert (back / name).read_bytes() == data, name
    finally:  # 200 MiB of local copies: not left behind in pytest's kept temp dirs
        shutil.rmtree(local, ignore_errors=True)
        shutil.rmtree(back, ignore_errors=True)
    head = json.loads(download("s3api", "head-object", "--bucket", s3_bucket.name, "--key", "cli/big.log"))
    assert (head["ContentLength"], head["ETag"]) == (BIG, f'"{md5(files["big.log"])}"')


def test_awscli_multipart_upload_is_stored_compressed(
    server: StrataServer, s3_bucket: Bucket, tmp_path: Path
) -> None:
    run = awscli(server, tmp_path, "8MB")
    data = compressible(20 * MIB + 1, shift=55)
    (tmp_path / "mp.log").write_bytes(data)
    run("s3", "cp", str(tmp_path / "mp.log"), f"s3://{s3_bucket.name}/cli-mp/mp.log")  # 3 parts of 8 MB
    got = s3_client(server.endpoint).get_object(Bucket=s3_bucket.name, Key="cli-mp/mp.log")["Body"].read()
    assert got == data
    assert_stored_compressed(stored_path(server.data_dir, s3_bucket.name, "cli-mp/mp.log"), data, 4 * MIB)


@pytest.mark.parametrize("directive", ["COPY", "REPLACE"])
def test_s3_copy_object_keeps_the_stored_form(
    server: StrataServer, s3_bucket: Bucket, directive: str
) -> None:
    s3 = s3_client(server.endpoint)
    data = compressible(5 * MIB + 3, shift=61)
    s3.put_object(Bucket=s3_bucket.name, Key="copy-src", Body=data)
    extra = {"Metadata": {"k": "v"}} if directive == "REPLACE" else {}
    s3.copy_object(
        Bucket=s3_bucket.name,
        Key=f"copy-{directive}",
        CopySource={"Bucket": s3_bucket.name, "Key": "copy-src"},
        MetadataDirective=directive,
        **extra,
    )
    answer = s3.get_object(Bucket=s3_bucket.name, Key=f"copy-{directive}")
    assert answer["Body"].read() == data and answer["ETag"] == f'"{md5(data)}"'
    assert answer["Metadata"] == ({"k": "v"} if directive == "REPLACE" else {})
    copy_path = stored_path(server.data_dir, s3_bucket.name, f"copy-{directive}")
    assert_stored_compressed(copy_path, data, 4 * MIB)
    assert copy_path.read_bytes() == stored_path(server.data_dir, s3_bucket.name, "copy-src").read_bytes()


# --- s3fs and pandas --------------------------------------------------------------------------------


def s3fs_filesystem(server: StrataServer) -> Any:
    s3fs = pytest.importorskip("s3fs")
    return s3fs.S3FileSystem(
        key=KEYS["access_key"],
        secret=KEYS["secret_key"],
        client_kwargs={"endpoint_url": f"{server.endpoint}/s3", "region_name": "us-east-1"},
        config_kwargs={"s3": {"addressing_style": "path"}},
        use_listings_cache=False,
        skip_instance_cache=True,
    )


def test_s3fs_round_trips_and_random_reads(server: StrataServer, s3_bucket: Bucket) -> None:
    fs = s3fs_filesystem(server)
    files = {f"{s3_bucket.name}/fs/edge-{size}": compressible(size, shift=size + 9) for size in EDGE_SIZES}
    big_path = f"{s3_bucket.name}/fs/big"
    for path, data in files.items():
        fs.pipe(path, data)
    fs.pipe(big_path, compressible(BIG, shift=31), chunksize=64 * MIB)  # one PUT (s3fs: < 2 chunks)
    files[big_path] = compressible(BIG, shift=31)
    for path, data in files.items():
        assert fs.cat(path) == data, path
        assert fs.info(path)["size"] == len(data)
        check_stored(server, s3_bucket.name, path.split("/", 1)[1], data)
    sizes = {entry["name"]: entry["size"] for entry in fs.ls(f"{s3_bucket.name}/fs", detail=True)}
    assert sizes == {path: len(data) for path, data in files.items()}
    # random reads through s3fs's file object: ranged GETs across the 4 MiB frame edges
    data = files[big_path]
    with fs.open(big_path, "rb", block_size=MIB) as f:
        for offset in (4 * MIB - 3, 40 * MIB + 17, BIG - 5, 0):
            f.seek(offset)
            assert f.read(10) == data[offset : offset + 10], offset
    edge = fs.cat_file(big_path, start=8 * MIB - 100, end=8 * MIB + 100)
    assert edge == data[8 * MIB - 100 : 8 * MIB + 100]


def test_pandas_read_csv_of_a_compressed_object(server: StrataServer, s3_bucket: Bucket) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("s3fs")
    rows = [f"{i},{i % 7},name-{i % 113},{i * 0.25:.2f},2026-10-{1 + i % 28:02d}" for i in range(60_000)]
    csv = ("id,group,name,score,day\n" + "\n".join(rows) + "\n").encode()
    s3_client(server.endpoint).put_object(Bucket=s3_bucket.name, Key="tables/scores.csv", Body=csv)
    path = stored_path(server.data_dir, s3_bucket.name, "tables/scores.csv")
    assert stored_metadata(path).codec == "zstd" and path.stat().st_size < len(csv) / 3
    options = {
        "key": KEYS["access_key"],
        "secret": KEYS["secret_key"],
        "client_kwargs": {"endpoint_url": f"{server.endpoint}/s3", "region_name": "us-east-1"},
        "config_kwargs": {"s3": {"addressing_style": "path"}},
    }
    frame = pd.read_csv(f"s3://{s3_bucket.name}/tables/scores.csv", storage_options=options)
    expected = pd.read_csv(io.BytesIO(csv))
    assert frame.shape == (60_000, 5)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["score"].sum() == expected["score"].sum()
