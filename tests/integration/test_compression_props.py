"""The ``compression`` bucket prop and its cluster-config default, through the official SDK, raw HTTP and
the ``strata`` CLI against real server processes (issue 10, settings only: nothing compresses yet).

What is pinned: the SDK still reads (``head``, ``info``) and sets (``set-bprops``) props with the new
section present; new buckets inherit the cluster config's ``compression`` section (from ``--config`` or
``setconfig``) once; bad values are a 400 naming the key; turning it on or off leaves objects as they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aistore.sdk import Client
from aistore.sdk.bucket import Bucket
from aistore.sdk.errors import AISError

from .helpers import bucket_props, error_json, fast_client, raw
from .server import StrataServer

pytestmark = pytest.mark.timeout(90)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT = {"enabled": False, "codec": "auto", "level": 3, "frame_size": "auto", "min_size": "4KiB"}


def head_props(bck: Bucket) -> dict[str, Any]:
    props: dict[str, Any] = json.loads(bck.head()["Ais-Bucket-Props"])
    return props


def set_props(bck: Bucket, value: dict[str, Any]) -> None:
    """The SDK 2.0.0 has no set-props method: its generic bucket call with the AIS action."""
    bck.make_request("PATCH", "set-bprops", value=value)


def run_cli(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m strata ARGS`` from this checkout, pointed at ``endpoint``."""
    env = dict(os.environ)
    env.pop("STRATA_ENDPOINT", None)
    env["AIS_ENDPOINT"] = endpoint
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "strata", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def cli_ok(endpoint: str, *args: str) -> str:
    result = run_cli(endpoint, *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


# --- the SDK ---------------------------------------------------------------------------------------


def test_sdk_reads_and_sets_the_compression_prop(bucket: Bucket) -> None:
    assert head_props(bucket)["compression"] == DEFAULT
    bucket.object("before").get_writer().put_content(b"z" * 10000)
    set_props(bucket, {"compression": {"enabled": True, "codec": "zstd", "level": 5, "frame_size": "4MiB"}})
    expected = {"enabled": True, "codec": "zstd", "level": 5, "frame_size": "4MiB", "min_size": "4KiB"}
    assert head_props(bucket)["compression"] == expected
    props_json, _summary = bucket.info()  # the SDK's own parse of the header (plus a summary job)
    assert json.loads(props_json)["compression"] == expected
    # dotted keys with string values, as the ais CLI sends them; sizes exact, also as a number of bytes
    set_props(bucket, {"compression.min_size": 5000, "compression.frame_size": "auto"})
    compression = head_props(bucket)["compression"]
    assert (compression["min_size"], compression["frame_size"]) == ("5000B", "auto")
    # turning it on and off rewrites nothing: objects from before and after read back as written
    bucket.object("after").get_writer().put_content(b"y" * 10000)
    set_props(bucket, {"compression.enabled": False})
    assert bucket.object("before").get_reader().read_all() == b"z" * 10000
    assert bucket.object("after").get_reader().read_all() == b"y" * 10000


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"compression.level": 20}, "compression.level (20) must be in [1, 19]"),
        ({"compression.level": "0"}, "compression.level (0) must be in [1, 19]"),
        ({"compression.codec": "brotli"}, 'compression.codec ("brotli") must be one of'),
        ({"compression": {"frame_size": "lots"}}, 'compression.frame_size is not "auto" or a valid size'),
        (
            {"compression.frame_size": "16KiB"},
            'compression.frame_size (16KiB) must be "auto" or in [64KiB, 64MiB]',
        ),
        (
            {"compression.frame_size": "1GiB"},
            'compression.frame_size (1GiB) must be "auto" or in [64KiB, 64MiB]',
        ),
        ({"compression.min_size": "4XB"}, "compression.min_size is not a valid size"),
        ({"compression.enabled": "maybe"}, "compression.enabled must be a boolean"),
    ],
)
def test_sdk_bad_values_are_a_400_naming_the_key(bucket: Bucket, value: dict[str, Any], needle: str) -> None:
    with pytest.raises(AISError) as info:
        set_props(bucket, value)
    assert info.value.status_code == 400, info.value
    message = info.value.message  # the SDK keeps the server's JSON error body as the message
    assert needle in json.loads(message)["message"], message
    assert head_props(bucket)["compression"] == DEFAULT, "a refused change changes nothing"


# --- the cluster-config default --------------------------------------------------------------------


def test_cluster_config_default_is_inherited_at_creation(
    tmp_path: Path, server_factory: Callable[..., StrataServer]
) -> None:
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps({"compression": {"enabled": True, "level": 7, "frame_size": "1MiB"}}))
    srv = server_factory(config=config)
    cluster = raw("GET", f"{srv.endpoint}/v1/cluster", params={"what": "cluster_config"}).json()
    from_file = {"enabled": True, "codec": "auto", "level": 7, "frame_size": "1MiB", "min_size": "4KiB"}
    assert cluster["compression"] == from_file
    client: Client = fast_client(srv.endpoint)
    client.bucket("from-file").create()
    assert bucket_props(srv.endpoint, "from-file")["compression"] == from_file

    # setconfig (the `ais config cluster k=v` form) changes what the next bucket inherits, not old ones
    url = f"{srv.endpoint}/v1/cluster/setconfig"
    resp = raw("PUT", url, params={"compression.level": "9", "compression.codec": "zstd"})
    assert resp.status_code == 200, resp.text
    client.bucket("after-setconfig").create()
    assert bucket_props(srv.endpoint, "after-setconfig")["compression"] == dict(
        from_file, level=9, codec="zstd"
    )
    assert bucket_props(srv.endpoint, "from-file")["compression"] == from_file

    bad = raw("PUT", url, params={"compression.level": "42"})
    assert bad.status_code == 400, bad.text
    assert "compression.level (42) must be in [1, 19]" in error_json(bad)["message"]


# --- the CLI ---------------------------------------------------------------------------------------


def test_cli_shows_and_sets_the_compression_prop(server: StrataServer) -> None:
    endpoint = server.endpoint
    cli_ok(endpoint, "create", "ais://cli-compression")
    shown = cli_ok(endpoint, "bucket", "props", "show", "ais://cli-compression")
    rows = {line.split()[0]: line.split()[1:] for line in shown.splitlines() if line.strip()}
    assert rows["compression.frame_size"] == ["auto"] and rows["compression.level"] == ["3"], shown
    report = cli_ok(
        endpoint,
        "bucket",
        "props",
        "set",
        "ais://cli-compression",
        "compression.enabled=true",
        "compression.level=5",
    )
    assert '"compression.level" set to: "5" (was: "3")' in report, report
    section = json.loads(
        cli_ok(endpoint, "bucket", "props", "show", "ais://cli-compression", "compression", "--json")
    )
    assert section == dict(DEFAULT, enabled=True, level=5), section

    refused = run_cli(
        endpoint, "bucket", "props", "set", "ais://cli-compression", "compression.frame_size=1KiB"
    )
    assert refused.returncode != 0
    assert "compression.frame_size (1KiB)" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
