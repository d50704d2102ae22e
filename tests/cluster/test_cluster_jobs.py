"""Jobs started through a proxy run on every target under one id; the SDK waits on them as usual."""

from __future__ import annotations

import pytest
import requests

from strata.cluster.devcluster import DevCluster
from tests.integration.helpers import fast_client

pytestmark = pytest.mark.timeout(180)


def test_delete_listrange_summary_and_started_jobs_through_a_proxy(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    bucket = client.bucket("jobs").create()
    for i in range(30):
        bucket.object(f"f{i:02d}").get_writer().put_content(b"x" * (i + 1))
    summary = bucket.summary()
    assert summary["ObjCount"]["obj_count_present"] == "30"
    assert summary["TotalSize"]["size_all_present_objs"] == str(sum(range(1, 31)))
    job_id = bucket.objects(obj_names=[f"f{i:02d}" for i in range(10)]).delete()
    assert client.job(job_id=job_id).wait(timeout=60).success
    snaps = client.job(job_id=job_id).get_details().list_snapshots()
    assert len(snaps) == 3 and {s.id for s in snaps} == {job_id}  # one part per target, one id
    assert sum(s.stats.objects for s in snaps if s.stats) == 10
    assert [e.name for e in bucket.list_all_objects()] == [f"f{i:02d}" for i in range(10, 30)]
    started = client.job(job_kind="cleanup-store").start()
    assert client.job(job_id=started).wait(timeout=60).success
    stop = requests.put(
        f"{cluster.endpoint}/v1/cluster",
        json={"action": "stop", "name": "", "value": {"ID": started}},
        timeout=10,
    )
    assert stop.status_code == 200
    bad = requests.delete(
        f"{cluster.endpoint}/v1/buckets/jobs?provider=ais",
        json={"action": "delete-listrange", "name": "", "value": {"template": "x{3..1}"}},
        timeout=10,
    )
    assert bad.status_code == 400


def test_copies_land_on_their_destination_owners(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    src = client.bucket("csrc").create()
    for i in range(40):
        src.object(f"o{i:02d}").get_writer().put_content(f"v{i}".encode())
    dst = client.bucket("cdst")
    job_id = src.copy(dst, prepend="c/")
    assert client.job(job_id=job_id).wait(timeout=60).success
    names = [e.name for e in dst.list_all_objects()]
    assert names == [f"c/o{i:02d}" for i in range(40)]
    smap = client.cluster().get_info()
    for i in range(40):  # every copy sits on the target HRW names for it (local=true: no neighbours)
        owner = smap.get_target_for_object(f"ais/@#/cdst/c/o{i:02d}")
        url = f"{owner.public_net.direct_url}/v1/objects/cdst/c/o{i:02d}?provider=ais&local=true"
        assert requests.get(url, timeout=10).content == f"v{i}".encode()
    ids = src.objects(obj_names=["o01", "o02", "o03"]).copy(client.bucket("cdst2"))
    assert all(client.job(job_id=j).wait(timeout=60).success for j in ids)
    assert [e.name for e in client.bucket("cdst2").list_all_objects()] == ["o01", "o02", "o03"]
    assert client.bucket("cdst2").object("o02").get_reader(direct=True).read_all() == b"v2"


def test_archive_gathers_members_from_every_target(cluster: DevCluster) -> None:
    import io
    import tarfile

    client = fast_client(cluster.endpoint)
    bucket = client.bucket("arch").create()
    files = {f"s/{i:03d}.bin": f"member {i}".encode() * (i + 1) for i in range(40)}
    for name, data in files.items():
        bucket.object(name).get_writer().put_content(data)
    for selection in ({"obj_template": "s/"}, {"obj_names": sorted(files)}):
        ids = bucket.objects(**selection).archive(archive_name="out/all.tar")  # type: ignore[arg-type]
        assert all(client.job(job_id=j).wait(timeout=60).success for j in ids)
        data = bucket.object("out/all.tar").get_reader().read_all()
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            got = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}  # type: ignore[union-attr]
        assert got == files


def test_rename_bucket_across_the_cluster(cluster: DevCluster) -> None:
    client = fast_client(cluster.endpoint)
    src = client.bucket("before").create()
    files = {f"k/{i:03d}": f"value {i}".encode() for i in range(40)}
    for name, data in files.items():
        src.object(name).get_writer().put_content(data)
    job_id = src.rename("after")
    assert client.job(job_id=job_id).wait(timeout=60).success
    names = [b.name for b in client.cluster().list_buckets()]
    assert "after" in names and "before" not in names
    after = client.bucket("after")
    assert [e.name for e in after.list_all_objects()] == sorted(files)
    smap = client.cluster().get_info()
    for name, data in files.items():  # on the owner HRW names for the new bucket name
        owner = smap.get_target_for_object(f"ais/@#/after/{name}")
        url = f"{owner.public_net.direct_url}/v1/objects/after/{name}?provider=ais&local=true"
        assert requests.get(url, timeout=10).content == data


def test_archive_member_on_a_target_that_is_down_fails_the_job(cluster: DevCluster) -> None:
    """A member whose owner does not answer may exist: the job fails (the owner is unreachable); it
    never counts the member as missing and writes a shard without it, even with continue_on_err."""
    client = fast_client(cluster.endpoint)
    bucket = client.bucket("arch-down").create()
    names = [f"s/{i:03d}" for i in range(30)]
    for name in names:
        bucket.object(name).get_writer().put_content(name.encode())
    smap = client.cluster().get_info()
    writer = smap.get_target_for_object("ais/@#/arch-down/out/all.tar")
    owners = {int(smap.get_target_for_object(f"ais/@#/arch-down/{n}").public_net.daemon_port) for n in names}
    writer_port = int(writer.public_net.daemon_port)
    victim = next(
        p for p in cluster.procs.values() if p.role == "target" and p.port != writer_port and p.port in owners
    )
    cluster.kill(victim.name)  # still in the cluster map until its lease expires
    ids = bucket.objects(obj_names=names).archive(archive_name="out/all.tar", continue_on_err=True)
    cluster.wait_for_map(targets=2)  # job queries fan out to every target: wait for the map to drop it
    results = [client.job(job_id=j).wait(timeout=60, verbose=False) for j in ids]
    assert not any(r.success for r in results)
    assert any("unreachable" in (r.error or "") for r in results), results
    shard = f"{writer.public_net.direct_url}/v1/objects/arch-down/out/all.tar"
    assert requests.head(shard, params={"provider": "ais", "local": "true"}, timeout=10).status_code == 404
