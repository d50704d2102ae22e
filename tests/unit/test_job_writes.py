"""A copy job's writes honour the destination's ``Fsync-PUT`` feature, as a client PUT does.

In-process (the fsync is not visible to a client): the node's storage is watched for what the copy
job asks of it, over both stores. The counted, versioned side of the same rule is pinned through
the SDK in ``tests/integration/test_jobs_object_path.py``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strata.config.features import FEATURE_FSYNC_PUT

from .inprocess import InProcessNode


@pytest.fixture(params=InProcessNode.STORAGES)
def node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[InProcessNode]:
    node = InProcessNode(tmp_path, storage=request.param)
    yield node
    node.close()


def _action(node: InProcessNode, method: str, bucket: str, body: dict[str, Any], query: str = "") -> str:
    answer = node.call(method, f"/v1/buckets/{bucket}", "provider=ais" + query, json.dumps(body).encode())
    assert answer.status == 200, answer.body
    return answer.body.decode()


def _wait(node: InProcessNode, job_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = node.node.jobs.load(job_id)
        if record is not None and record.finished:
            assert not record.abort_err, record.abort_err
            return
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def test_copy_job_writes_durably_into_an_fsync_put_bucket(
    node: InProcessNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bucket in ("src", "durable"):
        _action(node, "POST", bucket, {"action": "create-bck"})
    _action(node, "PATCH", "durable", {"action": "set-bprops", "value": {"features": str(FEATURE_FSYNC_PUT)}})
    for i in range(3):
        assert node.call("PUT", f"/v1/objects/src/o{i}", "provider=ais", b"data").status == 200
    store = node.node.objects.store
    real_copy, real_fsync = store.copy, os.fsync
    asked: list[bool] = []
    synced: list[int] = []

    def spying_copy(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("fsync", False))
        return real_copy(*args, **kwargs)

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(store, "copy", spying_copy)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    _wait(node, _action(node, "POST", "src", {"action": "copy-bck", "value": {}}, "&bck_to=ais://durable"))
    assert asked == [True, True, True]
    if node.storage == "posix":
        assert len(synced) >= 3
    body = {"action": "copy-listrange", "value": {"objnames": ["o1"], "tobck": {"name": "durable"}}}
    _wait(node, _action(node, "POST", "src", body))
    assert asked == [True, True, True, True]
