"""Remote AIS clusters through real processes: a Strata (the cache, two workers) with a second Strata
attached as ``ais://@alias/b`` -- attach/detach and ``what=remote``, cold then warm GETs while the remote
is stopped, write-through, listings with cached flags, copies both ways, the bucket actions passed on,
the SDK with ``Namespace``, 404s, and the ``strata`` CLI verbs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError
from aistore.sdk.list_object_flag import ListObjectFlag
from aistore.sdk.namespace import Namespace

from tests.integration.server import REPO_ROOT, StrataServer, free_port

ALIAS = "lab"


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[StrataServer]:
    """The remote cluster: its own Strata, stopped by some tests."""
    server = StrataServer(tmp_path / "remote", tmp_path / "remote.log", workers=1).start()
    yield server
    server.stop()


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[StrataServer]:
    """The cache in front of it, with two workers: what one learns the other must know too."""
    server = StrataServer(tmp_path / "cache", tmp_path / "cache.log", workers=2).start()
    yield server
    server.stop()


def attach(cache: StrataServer, alias: str, url: str) -> requests.Response:
    return requests.put(
        f"{cache.endpoint}/v1/cluster/attach",
        params={"what": "remote"},
        headers={"Ais-Remote-Ais-Alias": alias, "Ais-Remote-Ais-Url": url},
        timeout=30,
    )


def detach(cache: StrataServer, alias: str) -> requests.Response:
    return requests.put(
        f"{cache.endpoint}/v1/cluster/detach",
        params={"what": "remote"},
        headers={"Ais-Remote-Ais-Alias": alias},
        timeout=30,
    )


def remote_clusters(cache: StrataServer, what: str = "cluster") -> dict[str, Any]:
    answer = requests.get(f"{cache.endpoint}/v1/{what}", params={"what": "remote"}, timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def remote_uuid(remote: StrataServer) -> str:
    smap = requests.get(f"{remote.endpoint}/v1/daemon", params={"what": "smap"}, timeout=10).json()
    return str(smap["uuid"])


def new_remote_bucket(remote: StrataServer, objects: dict[str, bytes]) -> str:
    """A bucket made on the remote with its own client, filled with ``objects``."""
    name = f"rb-{uuid.uuid4().hex[:8]}"
    bucket = Client(remote.endpoint).bucket(name).create()
    for key, data in objects.items():
        bucket.object(key).get_writer().put_content(data)
    return name


def cached_files(server: StrataServer, name: str, wait: float = 0.0) -> list[Path]:
    """The cached copies of ``name``; ``wait``: give a cold GET's commit (after the last byte) time."""
    deadline = time.monotonic() + wait
    while True:
        found = server.data_dir.rglob(name)
        files = [p for p in found if p.is_file() and "%ob" in p.parts and ".trash" not in p.parts]
        if files or time.monotonic() >= deadline:
            return files
        time.sleep(0.05)


def test_attach_an_online_and_an_unreachable_cluster_then_detach(
    remote: StrataServer, cache: StrataServer
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert attach(cache, ALIAS, remote.endpoint).status_code == 200
    assert attach(cache, "dead", dead).status_code == 200  # may be attached while it does not answer
    listed = remote_clusters(cache)
    rows = {row["alias"]: row for row in listed["a"]}
    assert set(rows) == {ALIAS, "dead"}
    assert rows[ALIAS]["uuid"] == remote_uuid(remote) and rows[ALIAS]["url"] == remote.endpoint
    assert rows[ALIAS]["smap"]["uuid"] == remote_uuid(remote)  # online: its map is there
    assert rows["dead"] == {"smap": None, "url": dead, "alias": "dead", "uuid": ""}
    assert {row["alias"] for row in remote_clusters(cache, "daemon")["a"]} == {ALIAS, "dead"}
    config = requests.get(f"{cache.endpoint}/v1/cluster", params={"what": "cluster_config"}, timeout=10)
    assert config.json()["backend"]["ais"] == {ALIAS: [remote.endpoint], "dead": [dead]}
    # refused: another URL for an attached alias, a bad URL or alias, no what=remote; unknown detach
    assert attach(cache, ALIAS, dead).status_code == 400
    assert attach(cache, "x", "ftp://host").status_code == 400
    assert attach(cache, "-x", remote.endpoint).status_code == 400
    clash = attach(cache, remote_uuid(remote), dead)  # an alias may not be another cluster's UUID
    assert clash.status_code == 400 and "UUID" in clash.json()["message"]
    no_what = requests.put(
        f"{cache.endpoint}/v1/cluster/attach", headers={"Ais-Remote-Ais-Alias": "y"}, timeout=10
    )
    assert no_what.status_code == 400
    missing = detach(cache, "nope")
    assert missing.status_code == 404 and "not attached" in missing.json()["message"]
    # persisted: a restart keeps both; detach takes one out of the config
    cache.restart()
    assert {row["alias"] for row in remote_clusters(cache)["a"]} == {ALIAS, "dead"}
    assert detach(cache, "dead").status_code == 200
    assert [row["alias"] for row in remote_clusters(cache)["a"]] == [ALIAS]
    assert detach(cache, ALIAS).status_code == 200
    assert remote_clusters(cache)["a"] == []


def test_cold_get_then_warm_gets_while_the_remote_is_stopped(
    remote: StrataServer, cache: StrataServer
) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    name = new_remote_bucket(remote, {"big": data, "small": b"small one", "never-read": b"x"})
    assert attach(cache, ALIAS, remote.endpoint).status_code == 200
    bucket = Client(cache.endpoint).bucket(name, namespace=Namespace(uuid=ALIAS))
    assert bucket.object("big").get_reader(byte_range="bytes=7-16").read_all() == data[7:17]  # cold
    assert bucket.object("small").get_reader().read_all() == b"small one"
    assert len(cached_files(cache, "big", wait=10)) == 1 and len(cached_files(cache, "small", wait=10)) == 1
    props = bucket.object("small").head()
    assert props.size == 9 and props.custom_metadata.get("source") == "ais"
    remote.stop()
    for _ in range(6):  # new connections land on both workers: each resolves the alias without it
        assert (
            Client(cache.endpoint)
            .bucket(name, namespace=Namespace(uuid=ALIAS))
            .object("big")
            .get_reader()
            .read_all()
            == data
        )
    warm = requests.get(
        f"{cache.endpoint}/v1/objects/{name}/small",
        params={"provider": "ais", "namespace": f"@{remote_uuid_cached(cache)}#"},
        timeout=10,
    )
    assert warm.status_code == 200 and warm.content == b"small one"  # by UUID: the same bucket
    cold = requests.get(
        f"{cache.endpoint}/v1/objects/{name}/never-read",
        params={"provider": "ais", "namespace": "@lab"},
        timeout=30,
    )
    assert cold.status_code == 424 and "unreachable" in cold.json()["message"]  # not cached, remote down
    row = remote_clusters(cache)["a"][0]
    assert row["smap"] is None and row["uuid"]  # offline, its UUID remembered


def remote_uuid_cached(cache: StrataServer) -> str:
    """The remote's UUID as the cache's BMD keeps it (the remote itself may be stopped)."""
    listed = requests.get(f"{cache.endpoint}/v1/buckets", params={"provider": "ais"}, timeout=10).json()
    uuids = {entry["namespace"]["uuid"] for entry in listed if entry["namespace"]["uuid"]}
    assert len(uuids) == 1, listed
    return str(uuids.pop())


def test_write_through_delete_and_listing_with_cached_flags(
    remote: StrataServer, cache: StrataServer
) -> None:
    name = new_remote_bucket(remote, {f"o-{i}": b"x" * (i + 1) for i in range(5)})
    assert attach(cache, ALIAS, remote.endpoint).status_code == 200
    bucket = Client(cache.endpoint).bucket(name, namespace=Namespace(uuid=ALIAS))
    at_remote = Client(remote.endpoint).bucket(name)
    bucket.object("o-2").get_reader().read_all()  # cached now
    bucket.object("w").get_writer().put_content(b"written through")
    assert at_remote.object("w").get_reader().read_all() == b"written through"
    names, cached, token, pages = [], [], "", 0
    while True:
        page = bucket.list_objects(props="name,size,cached", page_size=2, continuation_token=token)
        pages += 1
        names += [entry.name for entry in page.entries]
        cached += [entry.name for entry in page.entries if entry.is_cached()]
        token = page.continuation_token
        if not token:
            break
    assert names == ["o-0", "o-1", "o-2", "o-3", "o-4", "w"] and pages >= 3
    assert cached == ["o-2", "w"]
    here = bucket.list_all_objects(flags=[ListObjectFlag.CACHED])
    assert [entry.name for entry in here] == ["o-2", "w"]
    bucket.object("w").delete()
    with pytest.raises(AISError) as gone:
        at_remote.object("w").head()
    assert gone.value.status_code == 404
    assert not cached_files(cache, "w")


def test_the_same_bucket_by_uuid_and_the_404s(remote: StrataServer, cache: StrataServer) -> None:
    name = new_remote_bucket(remote, {"k": b"value"})
    assert attach(cache, ALIAS, remote.endpoint).status_code == 200
    client = Client(cache.endpoint)
    by_alias = client.bucket(name, namespace=Namespace(uuid=ALIAS))
    by_uuid = client.bucket(name, namespace=Namespace(uuid=remote_uuid(remote)))
    assert by_alias.object("k").get_reader().read_all() == b"value"
    assert by_uuid.object("k").get_reader().read_all() == b"value"
    listed = [b for b in client.cluster().list_buckets(provider="ais") if b.name == name]
    assert len(listed) == 1 and listed[0].namespace.uuid == remote_uuid(remote)  # one BMD entry, by UUID
    with pytest.raises(AISError) as no_object:
        by_alias.object("nope").get_reader().read_all()
    assert no_object.value.status_code == 404
    with pytest.raises(AISError) as no_bucket:
        client.bucket("no-such-bucket", namespace=Namespace(uuid=ALIAS)).object("k").get_reader().read_all()
    assert no_bucket.value.status_code == 404 and "does not exist" in str(no_bucket.value)
    with pytest.raises(AISError) as not_attached:
        client.bucket(name, namespace=Namespace(uuid="elsewhere")).object("k").get_reader().read_all()
    assert not_attached.value.status_code == 404 and "not attached" in str(not_attached.value)


def test_copies_both_ways_and_create_destroy_passed_on(remote: StrataServer, cache: StrataServer) -> None:
    name = new_remote_bucket(remote, {f"d/{i}": bytes([i]) * 100 for i in range(4)})
    assert attach(cache, ALIAS, remote.endpoint).status_code == 200
    client = Client(cache.endpoint)
    source = client.bucket(name, namespace=Namespace(uuid=ALIAS))
    local = client.bucket(f"local-{uuid.uuid4().hex[:6]}").create()
    client.job(source.copy(to_bck=local)).wait(timeout=60)  # copy-bck from ais://@lab/b
    assert sorted(entry.name for entry in local.list_all_objects()) == [f"d/{i}" for i in range(4)]
    assert local.object("d/2").get_reader().read_all() == bytes([2]) * 100
    made = client.bucket(f"made-{uuid.uuid4().hex[:6]}", namespace=Namespace(uuid=ALIAS))
    made.create()  # passed on: the remote makes it
    assert made.name in [b.name for b in Client(remote.endpoint).cluster().list_buckets()]
    client.job(local.copy(to_bck=made)).wait(timeout=60)  # copy-bck to ais://@lab/b: written through
    at_remote = Client(remote.endpoint).bucket(made.name)
    assert sorted(entry.name for entry in at_remote.list_all_objects()) == [f"d/{i}" for i in range(4)]
    local.object("d/1").copy(made.object("single"))  # one object copied to the remote bucket
    assert at_remote.object("single").get_reader().read_all() == bytes([1]) * 100
    made.delete()  # passed on, and the local entry goes too
    assert made.name not in [b.name for b in Client(remote.endpoint).cluster().list_buckets()]
    assert made.name not in [b.name for b in client.cluster().list_buckets(provider="ais")]


def strata(cache: StrataServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), AIS_ENDPOINT=cache.endpoint)
    return subprocess.run(
        [sys.executable, "-m", "strata", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_cli_attaches_shows_lists_and_detaches(remote: StrataServer, cache: StrataServer) -> None:
    name = new_remote_bucket(remote, {"cli/a": b"1", "cli/b": b"22"})
    dead = f"http://127.0.0.1:{free_port()}"
    attached = strata(cache, "cluster", "remote", "attach", f"{ALIAS}={remote.endpoint}")
    assert attached.returncode == 0, attached.stderr
    assert strata(cache, "cluster", "remote-attach", f"dead={dead}").returncode == 0
    shown = strata(cache, "show", "remote-cluster")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["UUID", "URL", "ALIAS", "ONLINE"]
    assert lines[1].split() == ["-", dead, "dead", "no"]
    assert lines[2].split() == [remote_uuid(remote), remote.endpoint, ALIAS, "yes"]
    listed = strata(cache, "ls", f"ais://@{ALIAS}/{name}")
    assert listed.returncode == 0, listed.stderr
    assert "cli/a" in listed.stdout and "cli/b" in listed.stdout
    got = strata(cache, "get", f"ais://@{ALIAS}/{name}/cli/b", "-")
    assert got.returncode == 0 and got.stdout == "22"
    wrong = strata(cache, "cluster", "remote", "attach", "no-equals-sign")
    assert wrong.returncode == 2 and "ALIAS=URL" in wrong.stderr
    assert strata(cache, "cluster", "remote", "detach", "dead").returncode == 0
    unknown = strata(cache, "cluster", "remote-detach", "dead")
    assert unknown.returncode == 1 and "not attached" in unknown.stderr
    assert strata(cache, "show", "remote-cluster").stdout.count("\n") == 2  # header and lab


def test_a_remote_clusters_buckets_are_listed_and_can_back_an_ais_bucket(
    remote: StrataServer, cache: StrataServer
) -> None:
    """``GET /v1/buckets?namespace=@alias`` asks the remote for its buckets (``@@``: every attached
    cluster); an ``ais://`` bucket whose ``backend_bck`` is ``ais://@alias/b`` caches that bucket."""
    name = new_remote_bucket(remote, {"a.txt": b"from the lab", "b.txt": b"bee"})
    assert attach(cache, ALIAS, remote.endpoint).status_code == 200
    uuid_of_remote = remote_uuid(remote)
    for namespace in (f"@{ALIAS}", "@@"):
        listed = requests.get(
            f"{cache.endpoint}/v1/buckets", params={"provider": "ais", "namespace": namespace}, timeout=30
        ).json()
        assert {"name": name, "provider": "ais", "namespace": {"uuid": uuid_of_remote, "name": ""}} in listed
    client = Client(cache.endpoint)
    front = client.bucket(f"front-{uuid.uuid4().hex[:6]}").create()
    front.make_request("PATCH", "set-bprops", value={"backend_bck": f"ais://@{ALIAS}/{name}"})
    assert front.object("a.txt").get_reader().read_all() == b"from the lab"  # cold, from the remote
    assert cached_files(cache, "a.txt", wait=10)
    front.object("c.txt").get_writer().put_content(b"written through")
    assert Client(remote.endpoint).bucket(name).object("c.txt").get_reader().read_all() == b"written through"
    names = sorted(entry.name for entry in front.list_all_objects())
    assert names == ["a.txt", "b.txt", "c.txt"]
    refused = front.make_request  # a remote cluster's bucket that does not exist is refused at once
    with pytest.raises(AISError) as missing:
        refused("PATCH", "set-bprops", value={"backend_bck": f"ais://@{ALIAS}/nope-{uuid.uuid4().hex[:6]}"})
    assert missing.value.status_code == 404
