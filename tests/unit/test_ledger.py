"""The savings ledger's own rules: rows, intents, the apply record, staleness, limits, failures.

Crash points are in ``test_ledger_crash.py`` (a real SIGKILL at every line of every operation); the
operations through a node in ``test_ledger_ops.py``. Here: what those do not reach.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path

import pytest

from strata.core.errors import InsufficientStorage, StrataError
from strata.core.names import BucketRef
from strata.storage import append, multipart, objects
from strata.storage import ledger as ledger_module
from strata.storage.bookkeeping import LEDGER_FILE
from strata.storage.ledger import STRIPES, Footprint, Ledger, LedgerFull, fingerprint, recount
from strata.storage.mountpaths import Mountpaths
from strata.storage.objects import ObjectStore

A = BucketRef.parse("a")


def _store(tmp_path: Path, *names: str) -> ObjectStore:
    return ObjectStore(Mountpaths([str(tmp_path / name) for name in names or ("mp",)]))


def _put(store: ObjectStore, bck: BucketRef, name: str, size: int) -> None:
    writer = store.writer(bck, name, "xxhash")
    writer.write(b"x" * size)
    writer.commit(versioning=False)


def _ledger(store: ObjectStore) -> Ledger:
    assert store.ledger is not None
    return store.ledger


def _no_intent_left(ledger: Ledger) -> None:
    assert not [ledger.pending_location(s) for s in range(STRIPES) if ledger.pending(s)]


def test_anonymous_ledger_adds_and_leaves_empty_buckets_out() -> None:
    ledger = Ledger(None)
    assert not ledger.stale
    ledger.add("ais://a", Footprint(10, 4, 1))
    ledger.add("ais://b", Footprint(3, 3, 1))
    ledger.add("ais://b", Footprint(-3, -3, -1))
    assert ledger.totals() == {"ais://a": Footprint(10, 4, 1)}
    ledger.finish_destroy("ais://a")
    assert ledger.totals() == {}
    ledger.close()


def test_a_replayed_update_never_clears_a_newer_intent_of_the_same_stripe(tmp_path: Path) -> None:
    """A writer dies after clearing its intent but before clearing its apply record; the next writer of
    that stripe records a new intent before anyone replays the record. The replay must leave it."""
    path = str(tmp_path / "ledger")
    first = Ledger(path)
    first.begin(7, "/nowhere/one", b"", [("ais://a", Footprint(1, 1, 1))])
    first.commit(7)
    first._map[ledger_module._APPLY_AT] = ledger_module.PENDING  # died just before the last clear
    first.begin(7, "/nowhere/two", b"", [("ais://a", Footprint(5, 5, 1))])
    other = Ledger(path)  # another process: its first lock replays the record
    assert other.totals() == {"ais://a": Footprint(1, 1, 1)}
    assert other.pending(7), "the replay cleared the newer writer's intent"
    first.commit(7)
    assert other.totals() == {"ais://a": Footprint(6, 6, 2)}
    first.close()
    other.close()


def test_a_pending_intent_is_settled_by_what_is_at_its_location(tmp_path: Path) -> None:
    ledger = Ledger(None)
    disk = {"/p": b"old"}
    ledger.begin(3, "/p", b"old", [("ais://a", Footprint(1, 1, 0))])
    assert ledger.recover(3, lambda location: disk.get(location, b""))  # unchanged: dropped
    assert ledger.totals() == {}
    ledger.begin(3, "/p", b"old", [("ais://a", Footprint(1, 1, 0))])
    disk["/p"] = b"new"
    assert ledger.recover(3, lambda location: disk.get(location, b""))  # changed: applied
    assert ledger.totals() == {"ais://a": Footprint(1, 1, 0)}
    assert not ledger.recover(3, lambda location: b"")  # nothing pending: one byte read
    assert fingerprint(b"") != fingerprint(b"old")


def test_a_new_ledger_file_is_recounted_once_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path)
    store.create_bucket(A)
    _put(store, A, "o", 5)
    store.close()
    os.unlink(tmp_path / "mp" / LEDGER_FILE)  # a store written before the ledger existed
    with caplog.at_level(logging.INFO, logger="strata.ledger"):
        store = _store(tmp_path)
    assert "rebuilt by one recount (no ledger yet)" in caplog.text
    assert _ledger(store).totals() == {"ais://a": Footprint(5, 5, 1)}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="strata.ledger"):
        again = _store(tmp_path)
    assert "recount" not in caplog.text  # a valid ledger is trusted: no recount at start-up
    again.close()
    store.close()


def test_writes_with_the_ledger_off_make_the_next_start_recount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path)
    store.create_bucket(A)
    _put(store, A, "o", 5)
    store.close()
    monkeypatch.setenv("STRATA_LEDGER", "0")
    off = _store(tmp_path)
    assert off.ledger is None
    _put(off, A, "p", 7)
    off.delete(A, "o")
    off.close()
    monkeypatch.delenv("STRATA_LEDGER")
    with caplog.at_level(logging.INFO, logger="strata.ledger"):
        on = _store(tmp_path)
    assert "written while the ledger was off (STRATA_LEDGER=0)" in caplog.text
    assert _ledger(on).totals() == {"ais://a": Footprint(7, 7, 1)} == recount(on)
    on.close()


def test_other_mountpaths_or_another_order_recount_and_drop_the_old_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path, "mp0", "mp1")
    store.create_bucket(A)
    for i in range(6):
        _put(store, A, f"o{i}", i + 1)
    store.close()
    flipped = _store(tmp_path, "mp1", "mp0")  # the ledger file is on the first mountpath: mp1 now
    _put(flipped, A, "o0", 100)
    assert _ledger(flipped).totals() == recount(flipped)
    flipped.close()
    assert not (tmp_path / "mp0" / LEDGER_FILE).exists()  # it could never come back out of date
    back = _store(tmp_path, "mp0", "mp1")
    assert _ledger(back).totals() == recount(back) == {"ais://a": Footprint(120, 120, 6)}
    back.close()
    fewer = _store(tmp_path, "mp0")  # a mountpath left: its objects left with it
    assert _ledger(fewer).totals() == recount(fewer)
    fewer.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="strata.ledger"):
        again = _store(tmp_path, "mp0")  # counted over these mountpaths now: trusted
    assert "recount" not in caplog.text
    again.close()


def test_a_full_bucket_table_refuses_the_write_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "MAX_BUCKETS", 2)
    store = _store(tmp_path)
    for name in ("a", "b", "c"):
        store.create_bucket(BucketRef.parse(name))
    _put(store, BucketRef.parse("a"), "o", 1)
    _put(store, BucketRef.parse("b"), "o", 1)
    with pytest.raises(LedgerFull) as refused:
        _put(store, BucketRef.parse("c"), "o", 1)
    assert isinstance(refused.value, InsufficientStorage)  # 507 with a message, not a 500
    assert "savings ledger holds 2 buckets" in refused.value.message
    assert recount(store) == _ledger(store).totals()
    assert "ais://c" not in recount(store)
    store.destroy_bucket(BucketRef.parse("a"))  # a freed row is reused
    _put(store, BucketRef.parse("c"), "o", 1)
    assert _ledger(store).totals() == recount(store)
    store.close()


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_rename_that_fails_is_counted_by_what_happened_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    store = _store(tmp_path)
    store.create_bucket(A)
    _put(store, A, "o", 10)
    real_rename = os.rename

    def failing_rename(src: str, dst: str) -> None:
        if when == "after":
            real_rename(src, dst)
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(objects.os, "rename", failing_rename)
    with pytest.raises(StrataError, match="I/O error"):
        _put(store, A, "o", 30)
    monkeypatch.setattr(objects.os, "rename", real_rename)
    _no_intent_left(_ledger(store))
    size = 30 if when == "after" else 10
    assert _ledger(store).totals() == recount(store) == {"ais://a": Footprint(size, size, 1)}
    store.close()


def test_work_files_parts_append_handles_and_trash_are_not_objects(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create_bucket(A)
    _put(store, A, "kept", 4)
    unfinished = store.writer(A, "in-flight", "xxhash")
    unfinished.write(b"w" * 100)
    upload = multipart.create(store, A, "mp")
    part = multipart.PartWriter(store, A, "mp", upload, 1)
    part.write(b"p" * 100)
    part.commit()
    append.append(store, A, "ap", "", b"a" * 100)
    trashed = BucketRef.parse("gone")
    store.create_bucket(trashed)
    _put(store, trashed, "o", 100)
    os.makedirs(tmp_path / "mp" / ".trash", exist_ok=True)
    os.rename(store.mountpaths.all[0].bucket_dir(trashed), tmp_path / "mp" / ".trash" / "x")
    assert recount(store) == {"ais://a": Footprint(4, 4, 1)}
    store.close()
    unfinished.abort()


def test_threads_writing_the_same_objects_keep_it_exact(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create_bucket(A)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(60):
                name = f"o{(seed + i) % 7}"
                if i % 5 == 4:
                    try:
                        store.delete(A, name)
                    except Exception:  # deleted by another thread first
                        pass
                else:
                    _put(store, A, name, (seed * 31 + i) % 50)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    _no_intent_left(_ledger(store))
    assert _ledger(store).totals() == recount(store)
    store.close()


def test_no_room_for_the_ledger_runs_without_it_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk at start: the ledger's pages cannot be backed (a sparse map would SIGBUS on the
    first write). The store serves without a ledger, logs it as an error, and leaves no file behind
    so the next start with room recounts."""

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with caplog.at_level(logging.ERROR, logger="strata"):
        store = _store(tmp_path)
    assert store.ledger is None
    assert any("savings ledger OFF" in record.getMessage() for record in caplog.records)
    assert not (tmp_path / "mp" / LEDGER_FILE).exists()
    _put(store, A, "o", 5)  # objects are stored all the same
    store.close()
    monkeypatch.undo()
    again = _store(tmp_path)
    assert again.ledger is not None and again.ledger.totals() == recount(again)
    again.close()
