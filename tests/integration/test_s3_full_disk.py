"""S3 multipart uploads on a full mountpath: 507 ``InsufficientStorage``, and nothing left behind.

The mountpath is a real 1 MiB tmpfs (mounting needs root; elsewhere the tests skip), filled by one
file after the bucket exists, so the server meets ENOSPC exactly as on a full disk. CreateMultipartUpload
used to answer 500 and leave an ``s3-upload.json.tmp`` in an upload directory that no listing showed
and no restart removed; the record now goes through a work file that is removed on failure.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .helpers import raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(120)

FILLER = "filler"


@pytest.fixture
def tiny_mountpath(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted at teardown (after the server using it has stopped)."""
    path = tmp_path / "tmpfs"
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "strata-test-tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@pytest.fixture
def s3_on_tiny_disk(tmp_path: Path, tiny_mountpath: Path) -> Iterator[StrataServer]:
    srv = StrataServer(tmp_path / "data", tmp_path / "server.log", workers=1, mountpaths=[tiny_mountpath])
    try:
        yield srv.start()
    finally:
        srv.stop()


def _fill(mountpath: Path) -> None:
    """Write one file until the filesystem has no byte left."""
    fd = os.open(mountpath / FILLER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        block = b"\0" * 65536
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    with pytest.raises(OSError):  # not even one byte fits: every write of the server fails too
        (mountpath / "probe").write_bytes(b"x")
    (mountpath / "probe").unlink()


def _files(mountpath: Path) -> list[str]:
    """Every non-directory entry below the mountpath, relative to it."""
    found: list[str] = []
    for parent, _dirs, names in os.walk(mountpath):
        found.extend(os.path.relpath(os.path.join(parent, name), mountpath) for name in names)
    return sorted(found)


def _error_code(response: requests.Response) -> str | None:
    return ET.fromstring(response.content).findtext("Code")


def _uploads(s3: str, bucket: str) -> list[str]:
    listing = raw("GET", f"{s3}/{bucket}?uploads")
    assert listing.status_code == 200, listing.text
    return re.findall(r"<UploadId>([0-9a-f]+)</UploadId>", listing.text)


def test_create_multipart_upload_on_a_full_disk_is_507_and_leaves_nothing(
    s3_on_tiny_disk: StrataServer, tiny_mountpath: Path
) -> None:
    # 1. a bucket, then a disk with no room left
    s3 = f"{s3_on_tiny_disk.endpoint}/s3"
    bucket = f"full-{uuid.uuid4().hex[:10]}"
    assert raw("PUT", f"{s3}/{bucket}").status_code == 200
    _fill(tiny_mountpath)
    # 2. CreateMultipartUpload: S3's XML error, 507, and no file but the filler
    for _ in range(3):
        response = raw("POST", f"{s3}/{bucket}/big-object?uploads", headers={"x-amz-meta-color": "blue"})
        assert response.status_code == 507, (response.status_code, response.text, s3_on_tiny_disk.output())
        assert response.headers["Content-Type"] == "application/xml"
        assert _error_code(response) == "InsufficientStorage"
    assert _files(tiny_mountpath) == [FILLER]
    assert _uploads(s3, bucket) == []
    # 3. a restart finds nothing either
    s3_on_tiny_disk.stop()
    s3_on_tiny_disk.start()
    assert _files(tiny_mountpath) == [FILLER]
    assert _uploads(s3, bucket) == []
    # 4. with room again, the same request starts an upload (listed, and abortable)
    (tiny_mountpath / FILLER).unlink()
    response = raw("POST", f"{s3}/{bucket}/big-object?uploads")
    assert response.status_code == 200, response.text
    upload_id = re.search(r"<UploadId>([0-9a-f]+)</UploadId>", response.text)
    assert upload_id is not None and _uploads(s3, bucket) == [upload_id.group(1)]
    assert raw("DELETE", f"{s3}/{bucket}/big-object?uploadId={upload_id.group(1)}").status_code == 204
    assert _files(tiny_mountpath) == []


def test_upload_part_on_a_full_disk_is_507_and_leaves_no_part(
    s3_on_tiny_disk: StrataServer, tiny_mountpath: Path
) -> None:
    # 1. an upload started while there was room, then a full disk
    s3 = f"{s3_on_tiny_disk.endpoint}/s3"
    bucket = f"full-{uuid.uuid4().hex[:10]}"
    assert raw("PUT", f"{s3}/{bucket}").status_code == 200
    started = raw("POST", f"{s3}/{bucket}/big-object?uploads")
    match = re.search(r"<UploadId>([0-9a-f]+)</UploadId>", started.text)
    assert match is not None
    upload_id = match.group(1)
    before = _files(tiny_mountpath)
    _fill(tiny_mountpath)
    # 2. UploadPart: 507, no part file (finished or not), and the upload still usable once there is room
    part = raw("PUT", f"{s3}/{bucket}/big-object?partNumber=1&uploadId={upload_id}", data=b"p" * 200_000)
    assert part.status_code == 507, (part.status_code, part.text, s3_on_tiny_disk.output())
    assert _error_code(part) == "InsufficientStorage"
    assert _files(tiny_mountpath) == sorted([*before, FILLER])
    (tiny_mountpath / FILLER).unlink()
    part = raw("PUT", f"{s3}/{bucket}/big-object?partNumber=1&uploadId={upload_id}", data=b"p" * 200_000)
    assert part.status_code == 200, part.text
    assert raw("DELETE", f"{s3}/{bucket}/big-object?uploadId={upload_id}").status_code == 204
    assert _files(tiny_mountpath) == []
