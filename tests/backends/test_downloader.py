"""The downloader (``/v1/download``) through a real Strata: links from a local HTTP origin (single,
range template, multi), a remote bucket's objects from moto (``backend``, with ``synchronize``), the
status, list, abort and remove requests, and the errors (bad links in ``download_errors``, bad bodies
400, unknown ids 404)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from aistore.sdk import Client

from tests.integration.server import StrataServer

from .emulators import HttpOrigin, MotoServer

NOT_ENDED = "0001-01-01T00:00:00Z"


@pytest.fixture
def node(moto: MotoServer, tmp_path: Path) -> Iterator[StrataServer]:
    env = {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": moto.access_key,
        "AWS_SECRET_ACCESS_KEY": moto.secret_key,
        "AWS_REGION": moto.region,
    }
    server = StrataServer(tmp_path / "data", tmp_path / "server.log", workers=2, env=env).start()
    yield server
    server.stop()


@pytest.fixture
def files(http_origin: HttpOrigin) -> tuple[str, Path]:
    """A fresh directory of the origin: (its URL, its path)."""
    name = f"d-{uuid.uuid4().hex[:8]}"
    directory = http_origin.root / name
    directory.mkdir()
    return f"{http_origin.endpoint}/{name}", directory


def start(server: StrataServer, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.endpoint}/v1/download", json=body, timeout=10)


def status(server: StrataServer, job_id: str, **extra: Any) -> requests.Response:
    return requests.get(f"{server.endpoint}/v1/download", json={"id": job_id, **extra}, timeout=10)


def wait_done(server: StrataServer, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = status(server, job_id)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        if found["finished_time"] != NOT_ENDED:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def bucket_model(name: str, provider: str = "ais") -> dict[str, Any]:
    return {"name": name, "provider": provider}


def test_a_single_link_lands_in_a_bucket_created_on_the_way(
    node: StrataServer, files: tuple[str, Path]
) -> None:
    url, directory = files
    data = os.urandom(3 * 1024 * 1024 + 11)
    (directory / "weights.bin").write_bytes(data)
    bucket = f"dl-{uuid.uuid4().hex[:8]}"
    answer = start(node, {"type": "single", "bucket": bucket_model(bucket), "link": f"{url}/weights.bin"})
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["id"]
    assert job_id.startswith("dnl-")
    done = wait_done(node, job_id)
    assert (done["finished_cnt"], done["error_cnt"], done["total"], done["all_dispatched"]) == (1, 0, 1, True)
    assert done["finished_tasks"][0]["name"] == "weights.bin"
    assert done["finished_tasks"][0]["downloaded"] == str(len(data))
    client = Client(node.endpoint)
    obj = client.bucket(bucket).object("weights.bin")
    assert obj.get_reader().read_all() == data
    assert obj.head().custom_metadata["orig_url"] == f"{url}/weights.bin"
    # a named object; the same link again is skipped
    again = start(node, {"type": "single", "bucket": bucket_model(bucket), "link": f"{url}/weights.bin"})
    assert wait_done(node, again.json()["id"])["skipped_cnt"] == 1
    named = {
        "type": "single",
        "bucket": bucket_model(bucket),
        "link": f"{url}/weights.bin",
        "object_name": "m/w",
    }
    assert wait_done(node, start(node, named).json()["id"])["finished_cnt"] == 1
    assert client.bucket(bucket).object("m/w").get_reader().read_all() == data
    # the job is a "download" job for the SDK's job queries too (wait: an idle kind, idle when done)
    assert client.job(job_id).wait(timeout=30, verbose=False).success
    snaps = client.job(job_id).get_details().list_snapshots()
    assert snaps[0].kind == "download" and snaps[0].stats.objects == 1 and snaps[0].stats.bytes == len(data)


def test_a_url_template_and_a_list_of_links_with_a_bad_one(
    node: StrataServer, files: tuple[str, Path]
) -> None:
    url, directory = files
    shards = {f"shard-{i:03d}.tar": os.urandom(10_000 + i) for i in range(12)}
    for name, data in shards.items():
        (directory / name).write_bytes(data)
    bucket = f"dlr-{uuid.uuid4().hex[:8]}"
    body = {
        "type": "range",
        "bucket": bucket_model(bucket),
        "template": f"{url}/shard-{{000..011}}.tar",
        "subdir": "train",
        "description": "shards of train",
        "limits": {"connections": 3},
    }
    job_id = start(node, body).json()["id"]
    done = wait_done(node, job_id)
    assert (done["finished_cnt"], done["total"], done["error_cnt"]) == (12, 12, 0)
    client = Client(node.endpoint)
    listed = {entry.name for entry in client.bucket(bucket).list_all_objects()}
    assert listed == {f"train/{name}" for name in shards}
    assert (
        client.bucket(bucket).object("train/shard-007.tar").get_reader().read_all() == shards["shard-007.tar"]
    )
    # multi: a {name: link} map and a [link] list; a link the origin does not have is reported, not fatal
    multi = {
        "type": "multi",
        "bucket": bucket_model(bucket),
        "objects": {"a/first": f"{url}/shard-000.tar", "a/missing": f"{url}/no-such-file"},
    }
    done = wait_done(node, start(node, multi).json()["id"])
    assert (done["finished_cnt"], done["error_cnt"]) == (1, 1)
    [error] = done["download_errors"]
    assert error["name"] == "a/missing" and "404" in error["error"]
    as_list = {"type": "multi", "bucket": bucket_model(bucket), "objects": [f"{url}/shard-001.tar"]}
    assert wait_done(node, start(node, as_list).json()["id"])["finished_cnt"] == 1
    assert client.bucket(bucket).object("shard-001.tar").get_reader().read_all() == shards["shard-001.tar"]
    # the list of jobs, filtered by description
    listed_jobs = requests.get(
        f"{node.endpoint}/v1/download", json={"regex": "^shards of"}, timeout=10
    ).json()
    assert [job["id"] for job in listed_jobs] == [job_id]
    assert len(requests.get(f"{node.endpoint}/v1/download", timeout=10).json()) == 3


def test_backend_type_fetches_a_remote_buckets_objects_and_synchronizes(
    moto: MotoServer, node: StrataServer
) -> None:
    s3 = moto.s3()
    name = f"dlb-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for i in range(6):
        s3.put_object(Bucket=name, Key=f"p-{i}.bin", Body=f"object {i}".encode())
    s3.put_object(Bucket=name, Key="p-skip.txt", Body=b"not a .bin")
    s3.put_object(Bucket=name, Key="q-0.bin", Body=b"other prefix")
    # (a prefix with "/" would do as well, but moto 5.2 refuses the signature of such a listing)
    body = {"type": "backend", "bucket": bucket_model(name, "aws"), "prefix": "p-", "suffix": ".bin"}
    done = wait_done(node, start(node, body).json()["id"])
    assert (done["finished_cnt"], done["total"], done["error_cnt"]) == (6, 6, 0), done.get("error")
    client = Client(node.endpoint)
    cached = client.bucket(name, provider="aws").list_objects(props="name,cached").entries
    assert sorted(entry.name for entry in cached if entry.is_cached()) == [f"p-{i}.bin" for i in range(6)]
    # again: all cached; with synchronize a changed object is fetched again and a deleted one dropped
    assert wait_done(node, start(node, body).json()["id"])["skipped_cnt"] == 6
    s3.put_object(Bucket=name, Key="p-2.bin", Body=b"changed")
    s3.delete_object(Bucket=name, Key="p-5.bin")
    done = wait_done(node, start(node, {**body, "synchronize": True}).json()["id"])
    assert (done["finished_cnt"], done["skipped_cnt"]) == (1, 4)
    cached = client.bucket(name, provider="aws").list_objects(props="name,cached").entries
    assert sorted(entry.name for entry in cached if entry.is_cached()) == [f"p-{i}.bin" for i in range(5)]
    assert client.bucket(name, provider="aws").object("p-2.bin").get_reader().read_all() == b"changed"
    s3.close()


def test_abort_and_remove(node: StrataServer, files: tuple[str, Path]) -> None:
    url, directory = files
    for i in range(20):
        (directory / f"part-{i:02d}").write_bytes(os.urandom(256 * 1024))
    bucket = f"dla-{uuid.uuid4().hex[:8]}"
    body = {
        "type": "range",
        "bucket": bucket_model(bucket),
        "template": f"{url}/part-{{00..19}}",
        "limits": {"connections": 1, "bytes_per_hour": 3600 * 512 * 1024},  # 512 KiB/s: ~10 s in all
    }
    job_id = start(node, body).json()["id"]
    deadline = time.monotonic() + 30
    while status(node, job_id).json()["finished_cnt"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    running = requests.delete(f"{node.endpoint}/v1/download/remove", json={"id": job_id}, timeout=10)
    assert running.status_code == 400 and "still running" in running.text
    assert (
        requests.delete(f"{node.endpoint}/v1/download/abort", json={"id": job_id}, timeout=10).status_code
        == 200
    )
    done = wait_done(node, job_id, timeout=20)
    assert done["aborted"] and done["finished_cnt"] < 20
    stored = {entry.name for entry in Client(node.endpoint).bucket(bucket).list_all_objects()}
    assert len(stored) == done["finished_cnt"]  # the one in flight left nothing
    assert (
        requests.delete(f"{node.endpoint}/v1/download/remove", json={"id": job_id}, timeout=10).status_code
        == 200
    )
    assert status(node, job_id).status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "invalid download type"),
        ({"type": "single", "bucket": {"name": "b"}}, '"link"'),
        ({"type": "single", "link": "http://127.0.0.1:1/x"}, '"bucket"'),
        ({"type": "single", "bucket": {"name": "b"}, "link": "ftp://host/x"}, "invalid link"),
        ({"type": "single", "bucket": {"name": "b"}, "link": "http://host/"}, "object_name"),
        ({"type": "range", "bucket": {"name": "b"}, "template": "http://h/a-{0..}"}, "template"),
        ({"type": "range", "bucket": {"name": "b"}, "template": "http://h/plain"}, "template"),
        ({"type": "multi", "bucket": {"name": "b"}, "objects": []}, '"objects"'),
        ({"type": "multi", "bucket": {"name": "b"}, "objects": {"x": "nope"}}, "invalid link"),
        ({"type": "single", "bucket": {"name": "b"}, "link": "http://h/x", "timeout": "later"}, "timeout"),
        (
            {"type": "single", "bucket": {"name": "b"}, "link": "http://h/x", "limits": {"connections": -1}},
            "limits",
        ),
    ],
)
def test_bad_requests_are_400(node: StrataServer, body: dict[str, Any], words: str) -> None:
    answer = start(node, body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["message"]


def test_unknown_ids_are_404_and_bad_admin_bodies_400(node: StrataServer) -> None:
    for method, path in (("GET", ""), ("DELETE", "/abort"), ("DELETE", "/remove")):
        answer = requests.request(
            method, f"{node.endpoint}/v1/download{path}", json={"id": "dnl-nope"}, timeout=10
        )
        assert answer.status_code == 404, (method, path, answer.text)
    assert requests.delete(f"{node.endpoint}/v1/download/abort", json={}, timeout=10).status_code == 400
    assert requests.get(f"{node.endpoint}/v1/download", data=b"{not json", timeout=10).status_code == 400
    assert requests.get(f"{node.endpoint}/v1/download", json={"regex": "("}, timeout=10).status_code == 400
    assert requests.put(f"{node.endpoint}/v1/download", json={}, timeout=10).status_code == 405
    assert requests.get(f"{node.endpoint}/v1/download/what", timeout=10).status_code == 404
    assert requests.get(f"{node.endpoint}/v1/download", timeout=10).json() == []
    # a backend download fills a remote bucket: a missing ais bucket is not created for it
    backend = {"type": "backend", "bucket": {"name": "plain-ais", "provider": "ais"}}
    assert start(node, backend).status_code == 404
    Client(node.endpoint).bucket("plain-ais").create()
    refused = start(node, backend)
    assert refused.status_code == 400 and "remote bucket" in refused.json()["message"]
