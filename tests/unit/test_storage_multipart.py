"""Native multipart storage with a front's records: written atomically, nothing left behind on failure.

A full disk is simulated by making the first write (or the rename, or the xattr) fail with ENOSPC; the
integration tier (``test_s3_full_disk``) does the same on a real full tmpfs through S3.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from strata.core.errors import InsufficientStorage, InvalidRequest, NotFound
from strata.core.names import BucketRef
from strata.storage import multipart
from strata.storage.mountpaths import MULTIPART, WORK, Mountpaths
from strata.storage.multipart import PartRecord, UploadRecord
from strata.storage.objects import ObjectStore

BCK = BucketRef.parse("bkt", "ais")


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    mountpaths = Mountpaths([str(tmp_path / "mp0"), str(tmp_path / "mp1")])
    mountpaths.create_bucket(BCK)
    return ObjectStore(mountpaths)


def _files(store: ObjectStore) -> list[str]:
    """Every file below the bucket's work and multipart directories, on every mountpath."""
    found: list[str] = []
    for mountpath in store.mountpaths.all:
        for content in (WORK, MULTIPART):
            for parent, _dirs, names in os.walk(mountpath.content_dir(BCK, content)):
                found.extend(os.path.join(parent, name) for name in names)
    return found


def _no_space(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_create_with_record_round_trips_and_leaves_no_work_file(store: ObjectStore) -> None:
    record = UploadRecord("dir/key", 123, "alice", {"color": "blue"})
    upload_id = multipart.create(store, BCK, "dir/key", record)
    directory, loaded = multipart.load_record(store, BCK, "dir/key", upload_id)
    assert loaded == record
    assert os.listdir(directory) == [multipart.UPLOAD_RECORD]
    assert _files(store) == [os.path.join(directory, multipart.UPLOAD_RECORD)]  # nothing in %wk
    assert list(multipart.list_records(store, BCK)) == [(upload_id, record)]


def test_load_record_refuses_other_keys_bad_ids_and_recordless_uploads(store: ObjectStore) -> None:
    upload_id = multipart.create(store, BCK, "key", UploadRecord("key", 1))
    with pytest.raises(NotFound):
        multipart.load_record(store, BCK, "other-key", upload_id)
    with pytest.raises(NotFound):
        multipart.load_record(store, BCK, "key", "../../etc")
    with pytest.raises(NotFound):
        multipart.load_record(store, BCK, "key", "0" * 32)
    native = multipart.create(store, BCK, "key")  # the native API's uploads have no record
    with pytest.raises(NotFound):
        multipart.load_record(store, BCK, "key", native)
    assert [u for u, _ in multipart.list_records(store, BCK)] == [upload_id]


@pytest.mark.parametrize("failing", ["write", "rename"])
def test_create_on_a_full_disk_is_insufficient_storage_and_leaves_nothing(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    monkeypatch.setattr(os, failing, _no_space)
    with pytest.raises(InsufficientStorage):
        multipart.create(store, BCK, "key", UploadRecord("key", 1))
    monkeypatch.undo()
    assert _files(store) == []
    for mountpath in store.mountpaths.all:
        uploads = mountpath.content_dir(BCK, MULTIPART)
        assert not os.path.isdir(uploads) or os.listdir(uploads) == []
    assert list(multipart.list_records(store, BCK)) == []


def test_listing_removes_the_leftovers_of_older_releases(store: ObjectStore) -> None:
    """Releases before the %wk work file wrote ``s3-upload.json.tmp`` in the upload's directory and
    left it there (with the directory) when the write failed; the next listing removes both."""
    kept = multipart.create(store, BCK, "key", UploadRecord("key", 1))
    native = multipart.create(store, BCK, "key")
    orphan = multipart.create(store, BCK, "key")
    orphan_dir = os.path.join(store.mountpaths.for_object(BCK, "key").content_dir(BCK, MULTIPART), orphan)
    Path(orphan_dir, multipart.UPLOAD_RECORD + ".tmp").write_bytes(b"")
    assert [u for u, _ in multipart.list_records(store, BCK)] == [kept]
    assert not os.path.exists(orphan_dir)
    multipart.PartWriter(store, BCK, "key", native, 1).commit()  # the native upload is untouched


def test_stamped_parts_are_listed_with_their_records(store: ObjectStore) -> None:
    upload_id = multipart.create(store, BCK, "key", UploadRecord("key", 1))
    for number in (2, 1):
        writer = multipart.PartWriter(store, BCK, "key", upload_id, number)
        writer.write(b"x" * number)
        writer.stamp(PartRecord(f"etag{number}", number, 5))
        writer.commit()
    unstamped = multipart.PartWriter(store, BCK, "key", upload_id, 3)
    unstamped.commit()
    directory, _ = multipart.load_record(store, BCK, "key", upload_id)
    assert multipart.part_records(directory) == {1: PartRecord("etag1", 1, 5), 2: PartRecord("etag2", 2, 5)}


def test_stamp_on_a_full_disk_aborts_the_part(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    upload_id = multipart.create(store, BCK, "key", UploadRecord("key", 1))
    writer = multipart.PartWriter(store, BCK, "key", upload_id, 1)
    monkeypatch.setattr(os, "setxattr", _no_space)
    with pytest.raises(InsufficientStorage):
        writer.stamp(PartRecord("e", 0, 0))
    monkeypatch.undo()
    assert os.listdir(writer.dir) == [multipart.UPLOAD_RECORD]


@pytest.mark.parametrize("raw", ["\u00b2", "\u0663", "0", "10001", "", "1.0"])
def test_part_numbers_are_ascii_decimals_in_range(raw: str) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises: the check must not let it through."""
    with pytest.raises(InvalidRequest):
        multipart.parse_part_number(raw)
    assert multipart.parse_part_number("10000") == 10000
