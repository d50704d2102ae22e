"""The savings ledger stays equal to a recount through every operation that changes objects.

In-process node over both stores (the POSIX store keeps the ledger in a file on its first mountpath,
the in-memory twin in an anonymous map): PUT, overwrite, delete, copy, rename, append flush, native
multipart complete, copy-bck, metadata patch, move-bck (POSIX only: the twin refuses it), destroy. Each
step compares ``Ledger.totals()`` with ``recount`` of what the store holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strata.storage.ledger import Footprint, Ledger, recount

from .inprocess import InProcessNode


@pytest.fixture(params=InProcessNode.STORAGES)
def node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[InProcessNode]:
    node = InProcessNode(tmp_path, storage=request.param)
    yield node
    node.close()


def _ok(node: InProcessNode, method: str, path: str, query: str = "", body: bytes = b"") -> str:
    answer = node.call(method, path, "provider=ais" + (f"&{query}" if query else ""), body)
    assert answer.status == 200, (method, path, query, answer.status, answer.body[:300])
    return answer.body.decode(errors="replace")


def _action(node: InProcessNode, method: str, path: str, body: dict[str, Any], query: str = "") -> str:
    return _ok(node, method, path, query, json.dumps(body).encode())


def _wait(node: InProcessNode, job_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = node.node.jobs.load(job_id)
        if record is not None and record.finished:
            assert not record.abort_err, record.abort_err
            return
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def _ledger(node: InProcessNode) -> Ledger:
    ledger = node.node.objects.ledger
    assert ledger is not None
    return ledger


def _check(node: InProcessNode, expected: dict[str, Footprint] | None = None) -> dict[str, Footprint]:
    totals = _ledger(node).totals()
    assert totals == recount(node.node.objects.store)
    if expected is not None:
        assert totals == expected
    return totals


def test_every_object_operation_keeps_the_ledger_equal_to_a_recount(node: InProcessNode) -> None:
    for bucket in ("a", "b"):
        _action(node, "POST", f"/v1/buckets/{bucket}", {"action": "create-bck"})
    _check(node, {})
    # PUT, overwrite (bigger, then smaller), empty object
    _ok(node, "PUT", "/v1/objects/a/one", body=b"1" * 100)
    _ok(node, "PUT", "/v1/objects/a/two", body=b"2" * 10)
    _ok(node, "PUT", "/v1/objects/a/empty")
    _check(node, {"ais://a": Footprint(110, 110, 3)})
    _ok(node, "PUT", "/v1/objects/a/one", body=b"1" * 1000)
    _ok(node, "PUT", "/v1/objects/a/one", body=b"1" * 50)
    _check(node, {"ais://a": Footprint(60, 60, 3)})
    # metadata patch: same footprint
    _action(node, "PATCH", "/v1/objects/a/one", {"value": {"k": "v"}})
    _check(node, {"ais://a": Footprint(60, 60, 3)})
    # copy to another bucket, and over an existing object there
    _ok(node, "PUT", "/v1/objects/b/target", body=b"t" * 7)
    _ok(node, "PUT", "/v1/objects/a/one", "object_to=ais/@%23/b/target")
    _ok(node, "PUT", "/v1/objects/a/two", "object_to=ais/@%23/b/copy")
    _check(node, {"ais://a": Footprint(60, 60, 3), "ais://b": Footprint(60, 60, 2)})
    # rename: to a new name, then over an existing one (which leaves)
    _action(node, "POST", "/v1/objects/a/two", {"action": "rename-obj", "name": "three"})
    _check(node, {"ais://a": Footprint(60, 60, 3), "ais://b": Footprint(60, 60, 2)})
    _action(node, "POST", "/v1/objects/a/three", {"action": "rename-obj", "name": "one"})
    _check(node, {"ais://a": Footprint(10, 10, 2), "ais://b": Footprint(60, 60, 2)})
    a = Footprint(10, 10, 2)
    if node.storage == "posix":  # append handles and multipart uploads are files of the POSIX store
        # append: nothing counts until the flush publishes it
        handle = node.call("PUT", "/v1/objects/a/log", "provider=ais&append_type=append", b"x" * 30)
        assert handle.status == 200
        handle_id = handle.headers["ais-append-handle"]
        _check(node, {"ais://a": a, "ais://b": Footprint(60, 60, 2)})
        _ok(node, "PUT", "/v1/objects/a/log", f"append_type=flush&append_handle={handle_id}", b"y" * 5)
        a = Footprint(45, 45, 3)
        _check(node, {"ais://a": a, "ais://b": Footprint(60, 60, 2)})
        # native multipart: parts do not count, the completed object does
        upload = _action(node, "POST", "/v1/objects/a/mp", {"action": "mpt-upload"})
        for part in (1, 2):
            _ok(node, "PUT", "/v1/objects/a/mp", f"uploadId={upload}&partNumber={part}", b"p" * 64)
        _check(node, {"ais://a": a, "ais://b": Footprint(60, 60, 2)})
        parts = [{"part-number": 1, "etag": ""}, {"part-number": 2, "etag": ""}]
        complete = {"action": "mpt-complete", "value": parts}
        _action(node, "POST", "/v1/objects/a/mp", complete, f"uploadId={upload}")
        a = Footprint(173, 173, 4)
        _check(node, {"ais://a": a, "ais://b": Footprint(60, 60, 2)})
    # delete
    _ok(node, "DELETE", "/v1/objects/a/empty")
    a = a - Footprint(0, 0, 1)
    _check(node, {"ais://a": a, "ais://b": Footprint(60, 60, 2)})
    # copy-bck into a new bucket
    _wait(node, _action(node, "POST", "/v1/buckets/a", {"action": "copy-bck", "value": {}}, "bck_to=ais://c"))
    _check(node, {"ais://a": a, "ais://b": Footprint(60, 60, 2), "ais://c": a})
    # destroy
    _ok(node, "DELETE", "/v1/buckets/b")
    _check(node, {"ais://a": a, "ais://c": a})


def test_move_bck_moves_the_row(tmp_path: Path) -> None:
    node = InProcessNode(tmp_path, storage="posix")
    try:
        _action(node, "POST", "/v1/buckets/src", {"action": "create-bck"})
        for i in range(5):
            _ok(node, "PUT", f"/v1/objects/src/d/o{i}", body=b"z" * (i + 1))
        _check(node, {"ais://src": Footprint(15, 15, 5)})
        _wait(node, _action(node, "POST", "/v1/buckets/src", {"action": "move-bck"}, "bck_to=ais://dst"))
        _check(node, {"ais://dst": Footprint(15, 15, 5)})
        _ok(node, "PUT", "/v1/objects/dst/d/o0", body=b"z" * 11)
        _check(node, {"ais://dst": Footprint(25, 25, 5)})
    finally:
        node.close()


def test_versioned_overwrites_count_the_current_version_only(node: InProcessNode) -> None:
    _action(node, "POST", "/v1/buckets/v", {"action": "create-bck"})
    versioned = {"action": "set-bprops", "value": {"versioning": {"enabled": True}}}
    _action(node, "PATCH", "/v1/buckets/v", versioned)
    for size in (10, 20, 5):
        _ok(node, "PUT", "/v1/objects/v/o", body=b"v" * size)
    _check(node, {"ais://v": Footprint(5, 5, 1)})


def test_a_compressing_bucket_counts_stored_bytes_below_original(node: InProcessNode) -> None:
    _action(node, "POST", "/v1/buckets/z", {"action": "create-bck"})
    compress = {"action": "set-bprops", "value": {"compression": {"enabled": True}}}
    _action(node, "PATCH", "/v1/buckets/z", compress)
    _ok(node, "PUT", "/v1/objects/z/zeros", body=bytes(200_000))
    _ok(node, "PUT", "/v1/objects/z/text", body=b"a log line that repeats\n" * 5000)
    totals = _check(node)["ais://z"]
    assert totals.original_bytes == 200_000 + 24 * 5000 and totals.objects == 2
    assert 0 < totals.stored_bytes < totals.original_bytes // 10
    _ok(node, "PUT", "/v1/objects/z/zeros", body=bytes(10))  # overwrite: the stored form's bytes leave
    _ok(node, "DELETE", "/v1/objects/z/text")
    assert _check(node)["ais://z"].original_bytes == 10
