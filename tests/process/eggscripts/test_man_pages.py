"""Man pages (issue 6): generated from the click tree, checked in, complete, renderable: the
cases with real processes (the others are in tests/unit/eggscripts/test_man_pages.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import cli_env, run_cli
from tests.unit.eggscripts.test_man_pages import FLAG, MAN, PAGES, unescaped


def help_flags(command: str | None, home: Path) -> set[str]:
    args = [command, "--help"] if command else ["--help"]
    out = run_cli(*args, env=cli_env(home)).stdout
    options = out.split("Options:")[1].split("Commands:")[0]
    # Only the flag column: the text of the help may mention other flags.
    return {m for line in options.splitlines() if line.startswith("  -")
            for m in FLAG.findall(line.split("  ")[1])}  # fmt: skip


@pytest.mark.parametrize("command", list(PAGES))
def test_every_help_option_is_in_the_man_page(tmp_path: Path, command: str | None) -> None:
    flags = help_flags(command, tmp_path)
    assert "--help" in flags
    text = unescaped(PAGES[command])
    missing = [flag for flag in flags if not re.search(rf"\\fB{re.escape(flag)}\\fR", text)]
    assert not missing, f"in --help but not in man/{PAGES[command]}: {missing}"


@pytest.mark.parametrize("page", sorted(PAGES.values()))
def test_pages_render_without_warnings(page: str) -> None:
    if not shutil.which("groff") or not shutil.which("man"):
        pytest.skip("man/groff not installed")
    lint = subprocess.run(["groff", "-man", "-ww", "-z", str(MAN / page)],
                          capture_output=True, text=True)  # fmt: skip
    assert (lint.returncode, lint.stderr) == (0, "")
    env = {"MANWIDTH": "200", "PATH": "/usr/bin:/bin", "MANPAGER": "cat"}
    shown = subprocess.run(["man", "-l", str(MAN / page)], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "NAME" in shown.stdout and "SYNOPSIS" in shown.stdout and "OPTIONS" in shown.stdout
