"""Remote buckets in a real cluster: etcd, one proxy and two targets (``strata proxy`` / ``strata target``
processes) in front of a real S3 emulator (moto), configured the ordinary way (``AWS_*`` variables).

What the cluster adds to a remote bucket: the BMD entry made on first reference is every node's; an
object's cold GET is done, and its copy kept, by its HRW owner only; a listing through the proxy is the
backend's names with the cached flags of both targets; a prefetch runs on every target and each fetches
its own share; evictions and write-through reach whichever target holds the object.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.errors import AISError
from aistore.sdk.list_object_flag import ListObjectFlag

from strata.cluster.devcluster import DevCluster, Proc
from tests.backends.emulators import MotoServer
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """One proxy and two targets whose ``aws`` backend is the emulator (every node's environment)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
        patch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
        patch.setenv("AWS_REGION", moto.region)
        dev = DevCluster(str(tmp_path_factory.mktemp("cluster")), workers=1)
        try:
            dev.up(targets=2, proxies=1)
            yield dev
        finally:
            dev.down()


@pytest.fixture
def s3(moto: MotoServer) -> Iterator[Any]:
    client = moto.s3()
    yield client
    client.close()


def _targets(cluster: DevCluster) -> list[Proc]:
    return [proc for proc in cluster.procs.values() if proc.role == "target"]


def _holders(cluster: DevCluster, provider_dir: str, bucket: str, name: str) -> set[str]:
    """The targets whose data dir keeps a copy of the object (``<mountpath>/@aws/<bucket>/%ob/<name>``)."""
    found = set()
    for target in _targets(cluster):
        for path in Path(target.data).rglob(name):
            parts = set(path.parts)
            if path.is_file() and {"%ob", provider_dir, bucket} <= parts and ".trash" not in parts:
                found.add(target.url)
    return found


def _owner(client: Client, uname: str) -> str:
    """The URL of the target HRW names for an object (the SDK's own HRW over the cluster map)."""
    node = client.cluster().get_info().get_target_for_object(uname)
    return f"http://127.0.0.1:{node.public_net.daemon_port}"


def _started(start: Callable[[], str]) -> str:
    """A job's id; a 429 (the machine is too loaded to start a job now: the tests share it) is retried
    as its Retry-After asks, for a while."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return start()
        except AISError as error:
            if error.status_code != 429 or time.monotonic() > deadline:
                raise
        time.sleep(2)


def _new_remote_bucket(s3: Any, objects: dict[str, bytes]) -> str:
    name = f"rc-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    for key, data in objects.items():
        s3.put_object(Bucket=name, Key=key, Body=data)
    return name


def test_first_reference_cold_and_warm_gets_go_to_the_owner(cluster: DevCluster, s3: Any) -> None:
    objects = {f"obj-{i:02d}": f"remote object {i}".encode() * (i + 1) for i in range(12)}
    name = _new_remote_bucket(s3, objects)
    client = fast_client(cluster.endpoint)
    bucket = client.bucket(name, provider="aws")
    assert bucket.object("obj-00").get_reader().read_all() == objects["obj-00"]  # first reference
    for node in cluster.procs.values():  # the BMD entry the first reference made is every node's
        if node.role == "etcd":
            continue
        answer = requests.head(f"{node.url}/v1/buckets/{name}", params={"provider": "aws"}, timeout=10)
        assert answer.status_code == 200, (node.name, answer.status_code)
        assert '"provider":"aws"' in answer.headers["Ais-Bucket-Props"]
    for key, data in objects.items():  # cold GETs, redirected by the proxy to each owner
        assert bucket.object(key).get_reader().read_all() == data
    owners = set()
    for key in objects:
        owner = _owner(client, f"aws/@#/{name}/{key}")
        owners.add(owner)
        assert _holders(cluster, "@aws", name, key) == {owner}, key  # kept by its owner only
    assert len(owners) == 2  # twelve names: both targets own some
    s3.put_object(Bucket=name, Key="obj-03", Body=b"changed behind the cache")
    assert bucket.object("obj-03").get_reader().read_all() == objects["obj-03"]  # warm: the cached copy
    direct = bucket.object("obj-03").get_reader(direct=True).read_all()
    assert direct == objects["obj-03"]


def test_listing_through_the_proxy_marks_what_either_target_caches(cluster: DevCluster, s3: Any) -> None:
    objects = {f"ls-{i:02d}": b"x" * (i + 1) for i in range(16)}
    name = _new_remote_bucket(s3, objects)
    client = fast_client(cluster.endpoint)
    bucket = client.bucket(name, provider="aws")
    by_owner: dict[str, list[str]] = {}
    for key in sorted(objects):  # two cached on each target (HRW over a random bucket name decides)
        by_owner.setdefault(_owner(client, f"aws/@#/{name}/{key}"), []).append(key)
    wanted = sorted(key for keys in by_owner.values() for key in keys[:2])
    for key in wanted:
        bucket.object(key).get_reader().read_all()
    holders = {owner for key in wanted for owner in _holders(cluster, "@aws", name, key)}
    assert len(holders) == 2  # the cached objects are spread over both targets
    names, sizes, cached, token = [], [], [], ""
    while True:
        page = bucket.list_objects(props="name,size,cached", page_size=3, continuation_token=token)
        for entry in page.entries:
            names.append(entry.name)
            sizes.append(entry.size)
            if entry.is_cached():
                cached.append(entry.name)
        token = page.continuation_token
        if not token:
            break
    assert names == sorted(objects) and sizes == [len(objects[n]) for n in names]
    assert cached == wanted
    only_cached = [e.name for e in bucket.list_all_objects(flags=[ListObjectFlag.CACHED])]
    assert only_cached == wanted
    not_cached = [e.name for e in bucket.list_all_objects(flags=[ListObjectFlag.NOT_CACHED])]
    assert not_cached == sorted(set(objects) - set(wanted))


def test_put_and_delete_through_the_proxy_write_through_on_the_owner(cluster: DevCluster, s3: Any) -> None:
    name = _new_remote_bucket(s3, {})
    client = fast_client(cluster.endpoint)
    bucket = client.bucket(name, provider="aws")
    bucket.object("written").get_writer().put_content(b"through the cluster")
    assert s3.get_object(Bucket=name, Key="written")["Body"].read() == b"through the cluster"
    owner = _owner(client, f"aws/@#/{name}/written")
    assert _holders(cluster, "@aws", name, "written") == {owner}
    bucket.object("written").delete()
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=name, Key="written")
    assert _holders(cluster, "@aws", name, "written") == set()


def test_prefetch_runs_on_every_target_each_its_share_and_evict_drops_them(
    cluster: DevCluster, s3: Any
) -> None:
    objects = {f"shard-{i:03d}": bytes([i]) * 2000 for i in range(24)}
    name = _new_remote_bucket(s3, objects)
    client = fast_client(cluster.endpoint)
    bucket = client.bucket(name, provider="aws")
    job_id = _started(lambda: bucket.objects(obj_template="shard-{000..019}").prefetch())
    assert client.job(job_id).wait(timeout=60, verbose=False).success
    snapshots = client.job(job_id).get_details().list_snapshots()
    assert len(snapshots) == 2 and {s.id for s in snapshots} == {job_id}  # one part per target
    counts = sorted(s.stats.objects for s in snapshots if s.stats)
    assert sum(counts) == 20 and counts[0] > 0  # each fetched its own share, nothing twice
    for i in range(24):
        key = f"shard-{i:03d}"
        expected = {_owner(client, f"aws/@#/{name}/{key}")} if i < 20 else set()
        assert _holders(cluster, "@aws", name, key) == expected, key
    job_id = _started(lambda: bucket.objects(obj_template="shard-{005..014}").evict())
    assert client.job(job_id).wait(timeout=60, verbose=False).success
    cached = [e.name for e in bucket.list_all_objects(flags=[ListObjectFlag.CACHED])]
    assert cached == [f"shard-{i:03d}" for i in (*range(5), *range(15, 20))]
    assert s3.get_object(Bucket=name, Key="shard-007")["Body"].read() == objects["shard-007"]  # kept remotely
    job_id = _started(
        lambda: bucket.objects(obj_template="shard-").prefetch(num_workers=4)
    )  # a prefix: the backend's list
    assert client.job(job_id).wait(timeout=60, verbose=False).success
    assert len(bucket.list_all_objects(flags=[ListObjectFlag.CACHED])) == 24
    assert all(len(_holders(cluster, "@aws", name, key)) == 1 for key in objects)


def test_an_ais_bucket_with_a_backend_bck_through_the_proxy(cluster: DevCluster, s3: Any) -> None:
    name = _new_remote_bucket(s3, {"from-cloud": b"in the cloud bucket", "also": b"another"})
    client = fast_client(cluster.endpoint)
    front = client.bucket(f"front-{name}").create()
    missing = {"backend_bck": {"name": f"missing-{name}", "provider": "aws"}}
    refused = requests.patch(
        f"{cluster.endpoint}/v1/buckets/{front.name}",
        json={"action": "set-bprops", "value": missing},
        timeout=30,
    )
    assert refused.status_code == 404  # the named cloud bucket does not exist: an error now
    front.make_request("PATCH", "set-bprops", value={"backend_bck": {"name": name, "provider": "aws"}})
    assert front.object("from-cloud").get_reader().read_all() == b"in the cloud bucket"  # a cold GET
    owner = _owner(client, f"ais/@#/{front.name}/from-cloud")
    assert _holders(cluster, "@ais", front.name, "from-cloud") == {owner}
    front.object("from-front").get_writer().put_content(b"written through the front")
    assert s3.get_object(Bucket=name, Key="from-front")["Body"].read() == b"written through the front"
    listed = front.list_objects(props="name,size,cached").entries
    assert [(e.name, e.is_cached()) for e in listed] == [
        ("also", False),
        ("from-cloud", True),
        ("from-front", True),
    ]
