"""``strata blob-download`` and ``strata download`` as a person runs them: against a real Strata in front
of moto and a local HTTP origin, each following its job with a progress meter to the end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from aistore.sdk import Client

from tests.integration.server import REPO_ROOT, StrataServer

from .emulators import HttpOrigin, MotoServer

MiB = 1 << 20


@pytest.fixture
def node(cache: StrataServer) -> StrataServer:
    """The conftest's Strata in front of moto."""
    return cache


def strata(node: StrataServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["AIS_ENDPOINT"] = node.endpoint
    env.pop("STRATA_ENDPOINT", None)
    result = subprocess.run(
        [sys.executable, "-m", "strata", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_blob_download_verb_follows_the_job_with_a_meter(moto: MotoServer, node: StrataServer) -> None:
    s3 = moto.s3()
    name = f"cliblob-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    data = os.urandom(12 * MiB + 3)
    s3.put_object(Bucket=name, Key="w/model.bin", Body=data)
    done = strata(
        node,
        "blob-download",
        f"s3://{name}/w/model.bin",
        "--chunk-size",
        "1MiB",
        "--num-workers",
        "4",
        "--progress",
    )
    assert done.returncode == 0, done.stderr
    assert f"blob-download s3://{name}/w/model.bin: 12.00MiB" in done.stdout
    assert "BLOB" in done.stderr and "100%" in done.stderr  # the meter, drawn to its end
    assert (
        Client(node.endpoint).bucket(name, provider="aws").object("w/model.bin").get_reader().read_all()
        == data
    )
    again = strata(node, "blob-download", f"s3://{name}/w/model.bin", "--no-progress")
    assert again.returncode == 0 and "cached already" in again.stdout
    started = strata(node, "blob-download", f"s3://{name}/w/model.bin", "--latest", "--no-wait")
    assert started.returncode == 0 and started.stdout.strip()  # just the job id
    refused = strata(node, "blob-download", f"s3://{name}/w/model.bin", "--chunk-size", "1KiB")
    assert refused.returncode == 1 and "chunk-size" in refused.stderr
    missing = strata(node, "blob-download", f"s3://{name}/nope")
    assert missing.returncode == 1 and "Error:" in missing.stderr
    usage = strata(node, "blob-download", "ais://local/o")
    assert usage.returncode == 2 and "remote bucket" in usage.stderr
    s3.close()


def test_download_verb_links_templates_and_remote_buckets(
    moto: MotoServer, node: StrataServer, http_origin: HttpOrigin
) -> None:
    folder = f"cli-{uuid.uuid4().hex[:8]}"
    directory = http_origin.root / folder
    directory.mkdir()
    shards = {f"shard-{i:02d}.tar": os.urandom(50_000 + i) for i in range(8)}
    for shard, data in shards.items():
        (directory / shard).write_bytes(data)
    url = f"{http_origin.endpoint}/{folder}"
    bucket = f"clidl-{uuid.uuid4().hex[:8]}"
    one = strata(node, "download", f"{url}/shard-03.tar", f"ais://{bucket}/first.tar", "--progress")
    assert one.returncode == 0, one.stderr
    assert "1 downloaded, 0 skipped, 0 failed" in one.stdout and "DOWNLOAD" in one.stderr
    many = strata(node, "download", f"{url}/shard-{{00..07}}.tar", f"ais://{bucket}/train/")
    assert many.returncode == 0 and "8 downloaded" in many.stdout, many.stderr
    client = Client(node.endpoint)
    names = {entry.name for entry in client.bucket(bucket).list_all_objects()}
    assert names == {"first.tar", *(f"train/{shard}" for shard in shards)}
    assert (
        client.bucket(bucket).object("train/shard-05.tar").get_reader().read_all() == shards["shard-05.tar"]
    )
    failed = strata(node, "download", f"{url}/no-such.tar", f"ais://{bucket}")
    assert failed.returncode == 1 and "no-such.tar" in failed.stderr and "404" in failed.stderr
    # a remote bucket's objects under a prefix, into its cache
    s3 = moto.s3()
    remote = f"clib-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=remote)
    for i in range(4):
        s3.put_object(Bucket=remote, Key=f"img-{i}", Body=b"i" * (i + 1))
    s3.put_object(Bucket=remote, Key="other", Body=b"o")
    fetched = strata(node, "download", f"s3://{remote}/img-")
    assert fetched.returncode == 0 and "4 downloaded" in fetched.stdout, fetched.stderr
    cached = client.bucket(remote, provider="aws").list_objects(props="name,cached").entries
    assert sorted(entry.name for entry in cached if entry.is_cached()) == [f"img-{i}" for i in range(4)]
    usage = strata(node, "download", f"{url}/x")
    assert usage.returncode == 2 and "destination" in usage.stderr
    s3.close()
