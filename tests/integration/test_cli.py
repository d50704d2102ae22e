"""The ``strata`` CLI verbs against a real ``strata serve`` process, run as a user would run them.

Each test drives ``python -m strata ...`` as a subprocess and checks what a person would look at: the
exit status, the lines printed, the bytes that come back. One server serves the whole module (started
by the ``cli_server`` fixture below, which is local to this file on purpose so it does not depend on the
shared conftest); tests use distinct bucket names so they do not step on each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .server import StrataServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST_ERROR_SECONDS = 5.0


@dataclass(frozen=True)
class CliServer:
    """A running node: its endpoint, and how to run the CLI against it."""

    endpoint: str
    data_dir: Path

    def run(
        self, *args: str, cwd: Path | None = None, stdin: bytes | None = None, endpoint: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``python -m strata ARGS`` with ``AIS_ENDPOINT`` pointing at this server."""
        env = _child_environment()
        env.pop("STRATA_ENDPOINT", None)
        env["AIS_ENDPOINT"] = endpoint or self.endpoint
        return subprocess.run(
            [sys.executable, "-m", "strata", *args],
            input=stdin,
            capture_output=True,
            cwd=cwd,
            env=env,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        """Run and require success; the decoded stdout."""
        result = self.run(*args, cwd=cwd)
        assert result.returncode == 0, (args, result.stdout.decode(), result.stderr.decode())
        assert b"Traceback" not in result.stderr
        return result.stdout.decode()


def _child_environment() -> dict[str, str]:
    """This checkout first on the path, so ``-m strata`` runs the code under test from any cwd."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """A ``strata serve`` process on a free port with its own data directory, ready when health is 200."""
    data_dir = tmp_path_factory.mktemp("cli-server-data")
    server = StrataServer(data_dir, data_dir.parent / "cli-server.log").start()
    try:
        yield CliServer(server.endpoint, data_dir)
    finally:
        server.stop()


def _write(path: Path, size: int, seed: int = 0) -> bytes:
    """A file of ``size`` pseudo-random bytes (deterministic, so failures reproduce)."""
    content = (bytes(range(seed % 251, 256)) + bytes(range(seed % 251))) * (size // 256 + 1)
    content = content[:size]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return content


def _rows(listing: str) -> dict[str, list[str]]:
    """``strata ls`` output as ``{name: [other columns]}``, header and total line dropped."""
    lines = listing.strip().splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines[1:] if not line.startswith("Total:")}


# ------------------------------------------------------------------------------------------ buckets


def test_create_then_ls_lists_the_bucket(cli_server: CliServer) -> None:
    assert cli_server.ok("create", "ais://cli-create").strip() == '"ais://cli-create" created'
    listing = cli_server.ok("ls")
    assert listing.splitlines()[0].split() == ["NAME"]
    assert "ais://cli-create" in listing.split()
    assert "ais://cli-create" in cli_server.ok("ls", "ais://").split()


def test_create_existing_bucket_fails_with_the_servers_message(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-twice")
    result = cli_server.run("create", "ais://cli-twice")
    assert result.returncode == 1
    assert result.stderr.decode().strip() == 'Error: bucket "ais://cli-twice" already exists'


def test_create_with_dotted_props(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-props-kv", "--props", "mirror.enabled=true mirror.copies=3")
    mirror = json.loads(cli_server.ok("bucket", "props", "show", "ais://cli-props-kv", "mirror", "--json"))
    assert mirror["enabled"] is True
    assert mirror["copies"] == 3


def test_create_with_json_props(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-props-json", "--props", '{"versioning":{"enabled":false}}')
    props = json.loads(cli_server.ok("bucket", "props", "show", "ais://cli-props-json", "--json"))
    assert props["versioning"]["enabled"] is False


def test_create_with_rejected_props_leaves_no_bucket(cli_server: CliServer) -> None:
    result = cli_server.run("create", "ais://cli-props-bad", "--props", "no_such_section.x=1")
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert "ais://cli-props-bad" not in cli_server.ok("ls").split()


def test_props_show_table_and_section(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-show")
    table = cli_server.ok("bucket", "props", "show", "ais://cli-show")
    assert table.splitlines()[0].split() == ["PROPERTY", "VALUE"]
    keys = [line.split()[0] for line in table.splitlines()[1:]]
    assert "checksum.type" in keys and "mirror.enabled" in keys
    section = cli_server.ok("bucket", "props", "show", "ais://cli-show", "checksum")
    assert all(line.split()[0].startswith("checksum.") for line in section.splitlines()[1:])


def test_props_set_dotted_keys_changes_values(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-set")
    output = cli_server.ok(
        "bucket", "props", "set", "ais://cli-set", "mirror.enabled=true", "checksum.type=md5"
    )
    assert '"mirror.enabled" set to: "true" (was: "false")' in output
    assert '"checksum.type" set to: "md5"' in output
    props = json.loads(cli_server.ok("bucket", "props", "show", "ais://cli-set", "--json"))
    assert props["mirror"]["enabled"] is True
    assert props["checksum"]["type"] == "md5"


def test_props_set_json_and_typed_integer(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-set-json")
    cli_server.ok("bucket", "props", "set", "ais://cli-set-json", '{"versioning": {"enabled": false}}')
    cli_server.ok("bucket", "props", "set", "ais://cli-set-json", "mirror.copies=2")
    props = json.loads(cli_server.ok("bucket", "props", "show", "ais://cli-set-json", "--json"))
    assert props["versioning"]["enabled"] is False
    assert props["mirror"]["copies"] == 2


def test_props_set_bad_value_is_a_usage_error(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-set-bad")
    result = cli_server.run("bucket", "props", "set", "ais://cli-set-bad", "mirror.enabled=maybe")
    assert result.returncode == 2
    assert "expected a boolean" in result.stderr.decode()


def test_bucket_rm_needs_yes_when_not_interactive(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-rm")
    refused = cli_server.run("bucket", "rm", "ais://cli-rm")
    assert refused.returncode == 1
    assert "--yes" in refused.stderr.decode()
    assert "ais://cli-rm" in cli_server.ok("ls").split()
    assert cli_server.ok("bucket", "rm", "ais://cli-rm", "--yes").strip() == '"ais://cli-rm" destroyed'
    assert "ais://cli-rm" not in cli_server.ok("ls").split()


# ------------------------------------------------------------------------------------------ objects


def test_put_file_then_ls_shows_size_and_total(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-put")
    _write(tmp_path / "four-k.bin", 4096)
    output = cli_server.ok("put", str(tmp_path / "four-k.bin"), "ais://cli-put/data/four-k.bin")
    assert "ais://cli-put/data/four-k.bin" in output
    listing = cli_server.ok("ls", "ais://cli-put")
    assert listing.splitlines()[0].split() == ["NAME", "SIZE"]
    assert _rows(listing) == {"data/four-k.bin": ["4.00KiB"]}
    assert listing.strip().splitlines()[-1] == "Total: 1 object, 4.00KiB"


def test_put_file_without_name_uses_the_file_name(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-put-default")
    _write(tmp_path / "plain.txt", 10)
    cli_server.ok("put", str(tmp_path / "plain.txt"), "ais://cli-put-default")
    assert _rows(cli_server.ok("ls", "ais://cli-put-default")) == {"plain.txt": ["10B"]}


def test_put_directory_uploads_files_with_sizes_and_content(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-dir")
    source = tmp_path / "tree"
    contents = {
        "a.bin": _write(source / "a.bin", 1000, 1),
        "b.bin": _write(source / "b.bin", 2048, 2),
        "sub/c.bin": _write(source / "sub" / "c.bin", 5000, 3),
        "sub/deeper/d.bin": _write(source / "sub" / "deeper" / "d.bin", 0, 4),
    }
    # 1. without --recursive only the top level goes, and the skip is announced
    flat = cli_server.run("put", str(source), "ais://cli-dir/flat")
    assert flat.returncode == 0, flat.stderr
    assert "--recursive" in flat.stderr.decode()
    assert set(_rows(cli_server.ok("ls", "ais://cli-dir", "--prefix", "flat/"))) == {
        "flat/a.bin",
        "flat/b.bin",
    }
    # 2. with --recursive the whole tree, named by relative path under the prefix
    output = cli_server.ok("put", str(source), "ais://cli-dir/tree", "--recursive", "--concurrency", "3")
    assert "PUT 4 objects" in output
    rows = _rows(cli_server.ok("ls", "ais://cli-dir/tree/"))
    assert rows == {
        "tree/a.bin": ["1000B"],
        "tree/b.bin": ["2.00KiB"],
        "tree/sub/c.bin": ["4.88KiB"],
        "tree/sub/deeper/d.bin": ["0B"],
    }
    for name, content in contents.items():
        fetched = cli_server.run("get", f"ais://cli-dir/tree/{name}", "-")
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout == content, name


def test_put_directory_progress_goes_to_stderr(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-progress")
    for index in range(5):
        _write(tmp_path / "files" / f"f{index}", 3000, index)
    result = cli_server.run("put", str(tmp_path / "files"), "ais://cli-progress", "--progress")
    assert result.returncode == 0, result.stderr
    meter = result.stderr.decode()
    assert "\r" in meter and "5/5 files" in meter and "/s" in meter
    assert "\r" not in result.stdout.decode()


def test_put_stdin(cli_server: CliServer) -> None:
    cli_server.ok("create", "ais://cli-stdin")
    result = cli_server.run("put", "-", "ais://cli-stdin/from-pipe", stdin=b"piped bytes\n")
    assert result.returncode == 0, result.stderr
    assert cli_server.run("get", "ais://cli-stdin/from-pipe", "-").stdout == b"piped bytes\n"


def test_get_is_byte_exact_to_file_dir_and_stdout(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-get")
    content = _write(tmp_path / "src" / "big.bin", 3 * 1024 * 1024 + 17, 7)
    cli_server.ok("put", str(tmp_path / "src" / "big.bin"), "ais://cli-get/nested/big.bin")
    # to a named file
    output = cli_server.ok("get", "ais://cli-get/nested/big.bin", str(tmp_path / "out.bin"))
    assert "3.00MiB" in output
    assert (tmp_path / "out.bin").read_bytes() == content
    # to a directory, and by default to the current directory: the object's base name
    (tmp_path / "into").mkdir()
    cli_server.ok("get", "ais://cli-get/nested/big.bin", str(tmp_path / "into"))
    assert (tmp_path / "into" / "big.bin").read_bytes() == content
    (tmp_path / "cwd").mkdir()
    cli_server.ok("get", "ais://cli-get/nested/big.bin", cwd=tmp_path / "cwd")
    assert (tmp_path / "cwd" / "big.bin").read_bytes() == content
    # to stdout, nothing else on it
    piped = cli_server.run("get", "ais://cli-get/nested/big.bin", "-")
    assert piped.returncode == 0 and piped.stdout == content
    # no temporary files left behind
    assert sorted(path.name for path in (tmp_path / "cwd").iterdir()) == ["big.bin"]


def test_get_missing_object_fails_and_writes_nothing(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-get-missing")
    result = cli_server.run("get", "ais://cli-get-missing/nope.bin", cwd=tmp_path)
    assert result.returncode == 1
    assert "ais://cli-get-missing/nope.bin" in result.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_object_rm(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-objrm")
    _write(tmp_path / "x", 10)
    cli_server.ok("put", str(tmp_path / "x"), "ais://cli-objrm/one")
    cli_server.ok("put", str(tmp_path / "x"), "ais://cli-objrm/two")
    assert (
        cli_server.ok("object", "rm", "ais://cli-objrm/one").strip() == 'deleted "one" from ais://cli-objrm'
    )
    assert set(_rows(cli_server.ok("ls", "ais://cli-objrm"))) == {"two"}
    # a missing one is reported, the others still go
    result = cli_server.run("object", "rm", "ais://cli-objrm/ghost", "ais://cli-objrm/two")
    assert result.returncode == 1
    assert "ais://cli-objrm/ghost" in result.stderr.decode()
    assert "No objects in ais://cli-objrm" in cli_server.ok("ls", "ais://cli-objrm")


# -------------------------------------------------------------------------------------------- listing


def test_ls_pages_through_everything(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-pages")
    for index in range(25):
        _write(tmp_path / "many" / f"obj-{index:03d}", index)
    cli_server.ok("put", str(tmp_path / "many"), "ais://cli-pages")
    listing = cli_server.ok("ls", "ais://cli-pages", "--page-size", "4")
    assert sorted(_rows(listing)) == [f"obj-{index:03d}" for index in range(25)]
    assert listing.strip().splitlines()[-1] == f"Total: 25 objects, {sum(range(25))}B"
    limited = cli_server.ok("ls", "ais://cli-pages", "--page-size", "4", "--limit", "10")
    assert len(_rows(limited)) == 10
    assert "--limit 10" in limited.strip().splitlines()[-1]


def test_ls_props_columns_and_prefix(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-cols")
    _write(tmp_path / "f", 100)
    cli_server.ok("put", str(tmp_path / "f"), "ais://cli-cols/keep/f")
    cli_server.ok("put", str(tmp_path / "f"), "ais://cli-cols/skip/f")
    listing = cli_server.ok(
        "ls", "ais://cli-cols", "--prefix", "keep/", "--props", "name,size,version,checksum"
    )
    assert listing.splitlines()[0].split() == ["NAME", "SIZE", "VERSION", "CHECKSUM"]
    rows = _rows(listing)
    assert list(rows) == ["keep/f"]
    assert rows["keep/f"][0] == "100B"


def test_ls_no_recursion_shows_directories(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-dirs")
    _write(tmp_path / "f", 1)
    for name in ("top", "a/one", "a/two", "b/c/three"):
        cli_server.ok("put", str(tmp_path / "f"), f"ais://cli-dirs/{name}")
    rows = _rows(cli_server.ok("ls", "ais://cli-dirs", "--no-recursion"))
    assert rows == {"a/": ["-"], "b/": ["-"], "top": ["1B"]}


def test_ls_summary_counts_objects(cli_server: CliServer, tmp_path: Path) -> None:
    cli_server.ok("create", "ais://cli-summary")
    _write(tmp_path / "f", 2048)
    cli_server.ok("put", str(tmp_path / "f"), "ais://cli-summary/one")
    cli_server.ok("put", str(tmp_path / "f"), "ais://cli-summary/two")
    listing = cli_server.ok("ls", "--summary")
    assert listing.splitlines()[0].split() == ["NAME", "OBJECTS", "TOTAL", "SIZE"]
    assert _rows(listing)["ais://cli-summary"] == ["2", "4.00KiB"]


# ------------------------------------------------------------------------------------------- cluster


def test_show_cluster_lists_the_node(cli_server: CliServer) -> None:
    output = cli_server.ok("show", "cluster")
    header, node = output.splitlines()[:2]
    assert header.split()[:3] == ["NODE", "ROLE", "ENDPOINT"]
    assert cli_server.endpoint in node.split()
    assert "target" in node and "[primary]" in node
    assert "Targets:" in output


def test_config_show_table_section_and_json(cli_server: CliServer) -> None:
    table = cli_server.ok("config", "show")
    assert table.splitlines()[0].split() == ["PROPERTY", "VALUE"]
    assert any(line.startswith("checksum.type ") for line in table.splitlines())
    checksum = json.loads(cli_server.ok("config", "show", "checksum", "--json"))
    assert "type" in checksum
    missing = cli_server.run("config", "show", "no-such-section")
    assert missing.returncode == 1 and "no-such-section" in missing.stderr.decode()


# -------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args",
    [
        ("ls", "ais://cli-missing"),
        ("bucket", "props", "show", "ais://cli-missing"),
        ("bucket", "props", "set", "ais://cli-missing", "mirror.enabled=true"),
        ("bucket", "rm", "ais://cli-missing", "--yes"),
        ("get", "ais://cli-missing/obj", "-"),
        ("object", "rm", "ais://cli-missing/obj"),
    ],
)
def test_missing_bucket_is_a_fast_one_line_error(cli_server: CliServer, args: tuple[str, ...]) -> None:
    started = time.monotonic()
    result = cli_server.run(*args)
    elapsed = time.monotonic() - started
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "ais://cli-missing" in stderr
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert elapsed < FAST_ERROR_SECONDS


def test_missing_bucket_message_names_the_bucket(cli_server: CliServer) -> None:
    result = cli_server.run("ls", "ais://cli-missing")
    assert result.stderr.decode().strip() == 'Error: bucket "ais://cli-missing" does not exist'


def test_put_into_missing_bucket_fails(cli_server: CliServer, tmp_path: Path) -> None:
    _write(tmp_path / "f", 10)
    result = cli_server.run("put", str(tmp_path / "f"), "ais://cli-missing/f")
    assert result.returncode == 1
    assert "ais://cli-missing" in result.stderr.decode()


def test_unreachable_endpoint_fails_fast(cli_server: CliServer) -> None:
    started = time.monotonic()
    result = cli_server.run("ls", endpoint=f"http://127.0.0.1:{free_port()}")
    assert time.monotonic() - started < FAST_ERROR_SECONDS
    assert result.returncode == 1
    assert result.stderr.decode().startswith("Error: cannot reach http://127.0.0.1:")
    assert "Traceback" not in result.stderr.decode()


def test_endpoint_flag_wins_over_environment(cli_server: CliServer) -> None:
    result = cli_server.run("ls", "--endpoint", cli_server.endpoint, endpoint="http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr


def test_usage_errors_exit_2(cli_server: CliServer) -> None:
    for args in (
        ("get", "ais://only-bucket"),
        ("ls", "oc://elsewhere"),
        ("ls", "ais://b", "--props", "nope"),
    ):
        result = cli_server.run(*args)
        assert result.returncode == 2, args
        assert result.stderr.decode().startswith("Error: "), args
