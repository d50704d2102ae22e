"""``prefetch-listrange`` with ``num-workers`` through a real Strata in front of moto: the SDK's
``num_workers`` (0/absent: the default of several cold GETs side by side, -1: one at a time, N: that
many) caches the same objects every way, and a value the contract does not allow is a 400."""

from __future__ import annotations

import uuid

import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.list_object_flag import ListObjectFlag

from tests.integration.server import StrataServer

from .emulators import MotoServer


@pytest.mark.parametrize("workers", [None, -1, 3])
def test_prefetch_caches_every_object_whatever_the_number_of_workers(
    moto: MotoServer, cache: StrataServer, workers: int | None
) -> None:
    s3 = moto.s3()
    name = f"pw-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    objects = {f"o-{i:03d}": bytes([i]) * (1000 + i) for i in range(40)}
    for key, data in objects.items():
        s3.put_object(Bucket=name, Key=key, Body=data)
    s3.close()
    client = Client(cache.endpoint)
    bucket = client.bucket(name, provider="aws")
    job_id = bucket.objects(obj_template="o-{000..039}").prefetch(num_workers=workers)
    result = client.job(job_id).wait(timeout=60, verbose=False)
    assert result.success
    snapshot = client.job(job_id).get_details().list_snapshots()[0]
    assert snapshot.stats is not None
    assert snapshot.stats.objects == 40 and snapshot.stats.bytes == sum(map(len, objects.values()))
    cached = bucket.list_all_objects(props="name,size", flags=[ListObjectFlag.CACHED])
    assert {entry.name: entry.size for entry in cached} == {k: len(v) for k, v in objects.items()}
    assert bucket.object("o-017").get_reader().read_all() == objects["o-017"]


@pytest.mark.parametrize("workers", [-2, "many"])
def test_a_number_of_workers_out_of_the_contract_is_refused(
    moto: MotoServer, cache: StrataServer, workers: object
) -> None:
    s3 = moto.s3()
    name = f"pr-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.close()
    answer = requests.post(
        f"{cache.endpoint}/v1/buckets/{name}",
        params={"provider": "aws"},
        json={"action": "prefetch-listrange", "value": {"template": "o-", "num-workers": workers}},
        timeout=30,
    )
    assert answer.status_code == 400 and "num-workers" in answer.text
