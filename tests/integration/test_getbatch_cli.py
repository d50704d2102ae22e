"""``strata get --batch``: a GetBatch request from a JSON file, a template or a list of names, to a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from aistore.sdk.bucket import Bucket

from .server import REPO_ROOT

pytestmark = pytest.mark.timeout(120)


def _strata(endpoint: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["AIS_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, "-m", "strata", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def test_get_batch_from_a_request_file_a_template_and_names(
    endpoint: str, bucket: Bucket, tmp_path: Path
) -> None:
    for i in range(5):
        bucket.object(f"o{i}").get_writer().put_content(f"body {i}".encode() * 1000)
    request = {
        "in": [{"objname": "o3"}, {"objname": "nope"}, {"objname": "o1", "start": 5, "length": 4}],
        "coer": True,
    }
    (tmp_path / "req.json").write_text(json.dumps(request))
    result = _strata(
        endpoint, "get", "--batch", "req.json", f"ais://{bucket.name}", "out.tar", "--progress", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert 'GET-BATCH 3 entries => "out.tar"' in result.stdout
    assert "3/3 files" in result.stderr  # the meter counted the members as they arrived
    with tarfile.open(tmp_path / "out.tar") as tf:
        assert tf.getnames() == [f"{bucket.name}/o3", f"__404__/{bucket.name}/nope", f"{bucket.name}/o1"]
        extracted = tf.extractfile(f"{bucket.name}/o1")
        assert extracted is not None and extracted.read() == b"1bod"

    result = _strata(endpoint, "get", "--batch", "o{0..4}", f"ais://{bucket.name}", "out.zip", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert zf.namelist() == [f"{bucket.name}/o{i}" for i in range(5)]

    names = [{"objname": "o0", "bucket": bucket.name}, {"objname": "o4", "bucket": bucket.name}]
    (tmp_path / "list.json").write_text(json.dumps(names))
    result = _strata(endpoint, "get", "--batch", "list.json", "both.tar", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "both.tar") as tf:
        assert tf.getnames() == [f"{bucket.name}/o0", f"{bucket.name}/o4"]

    result = _strata(
        endpoint, "get", "--batch", "o1,missing", f"ais://{bucket.name}", "bad.tar", cwd=tmp_path
    )
    assert result.returncode == 1
    assert f"ais://{bucket.name}/missing does not exist" in result.stderr
    assert not (tmp_path / "bad.tar").exists()
