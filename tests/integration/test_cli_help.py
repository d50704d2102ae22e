"""``strata ... --help`` works for every command and subcommand, as a person would type it.

``strata get --help`` once died with an argparse AssertionError (a metavar argparse could not wrap), and
nothing noticed because no test asked for help. This walk needs no list kept by hand: it starts at
``strata --help``, follows every ``{a,b,c}`` choice list in each usage line down to the leaves, and runs
each one as ``python -m strata CMD [SUB ...] --help`` in a subprocess, so a new verb is covered the day
it is added. Usage lines are wrapped to the terminal width, and the crash only showed when wrapping, so
the walk runs at a narrow and at the usual width (``COLUMNS`` pins what argparse sees).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHOICES = re.compile(r"\{([\w-]+(?:,[\w-]+)*)\}")
# Verbs the walk must reach; if parsing the help ever stops finding them, the walk is not vacuous.
EXPECTED_COMMANDS = {
    ("serve",),
    ("proxy",),
    ("target",),
    ("cluster", "up"),
    ("cluster", "down"),
    ("get",),
    ("object", "get"),
    ("bucket", "props", "set"),
    ("show", "cluster"),
    ("savings",),
    ("estimate",),
    ("authn",),
    ("auth", "role", "add"),
    ("auth", "show", "jwks"),
    ("prefetch",),
    ("evict",),
    ("blob-download",),
    ("download",),
}


def _help(command: tuple[str, ...], columns: int) -> subprocess.CompletedProcess[str]:
    """``python -m strata COMMAND --help`` with this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "strata", *command, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _subcommands(help_text: str) -> list[str]:
    """The choices of the ``{a,b,c}`` list in the usage part (the text before the first blank line)."""
    usage = help_text.split("\n\n", 1)[0]
    found = CHOICES.search(usage)
    return found.group(1).split(",") if found else []


@pytest.mark.parametrize("columns", [40, 80])
def test_every_command_and_subcommand_prints_help(columns: int) -> None:
    failures: list[str] = []
    visited: set[tuple[str, ...]] = set()
    pending: list[tuple[str, ...]] = [()]
    while pending:
        command = pending.pop()
        visited.add(command)
        result = _help(command, columns)
        shown = " ".join(("strata", *command, "--help"))
        if result.returncode != 0 or "Traceback" in result.stderr or "usage: strata" not in result.stdout:
            failures.append(f"{shown}: exit {result.returncode}\n{result.stderr.strip()[-600:]}")
            continue
        pending.extend((*command, verb) for verb in _subcommands(result.stdout))
    assert not failures, "\n\n".join(failures)
    assert not EXPECTED_COMMANDS - visited, sorted(EXPECTED_COMMANDS - visited)
