"""Man pages (issue 6): generated from the click tree, checked in, complete, renderable."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from eggscripts import manpage, markdown_ref
from eggscripts.__main__ import cli
from tests.cli_helpers import cli_env, run_cli
from tests.helpers import ROOT

MAN = ROOT / "man"
PAGES = {
    None: "eggscripts.1",
    "start": "eggscripts-start.1",
    "dev": "eggscripts-dev.1",
    "stop": "eggscripts-stop.1",
    "status": "eggscripts-status.1",
    "reload": "eggscripts-reload.1",
    "restart": "eggscripts-restart.1",
    "scale": "eggscripts-scale.1",
    "completion": "eggscripts-completion.1",
    "check": "eggscripts-check.1",
    "logs": "eggscripts-logs.1",
    "systemd": "eggscripts-systemd.1",
}
FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def help_flags(command: str | None, home: Path) -> set[str]:
    args = [command, "--help"] if command else ["--help"]
    out = run_cli(*args, env=cli_env(home)).stdout
    options = out.split("Options:")[1].split("Commands:")[0]
    # Only the flag column: the text of the help may mention other flags.
    return {m for line in options.splitlines() if line.startswith("  -")
            for m in FLAG.findall(line.split("  ")[1])}  # fmt: skip


def unescaped(page: str) -> str:
    return (MAN / page).read_text().replace("\\-", "-").replace("\\e", "\\")


def test_every_command_has_a_page() -> None:
    assert set(PAGES.values()) == set(manpage.render_all(cli()))
    assert sorted(p.name for p in MAN.glob("*.1")) == sorted(PAGES.values())


@pytest.mark.parametrize("command", list(PAGES))
def test_every_help_option_is_in_the_man_page(tmp_path: Path, command: str | None) -> None:
    flags = help_flags(command, tmp_path)
    assert "--help" in flags
    text = unescaped(PAGES[command])
    missing = [flag for flag in flags if not re.search(rf"\\fB{re.escape(flag)}\\fR", text)]
    assert not missing, f"in --help but not in man/{PAGES[command]}: {missing}"


@pytest.mark.parametrize("command", ["start", "stop", "status", "reload", "scale"])
def test_every_option_lists_its_default(command: str) -> None:
    blocks = unescaped(PAGES[command]).split(".SH OPTIONS")[1].split(".SH ")[0].split(".TP")
    for block in blocks[1:]:
        if "--help" not in block:
            assert "Default: " in block, block


def test_start_page_shows_registry_defaults() -> None:
    text = unescaped("eggscripts-start.1")
    for expected in ("Default: egg-server-<app name>.", "Default: 300000.",
                     "Default: the app's config/env file, else prod.",
                     "Default: ~/logs/<title>/master-stderr.log.",
                     "Environment: PORT."):  # fmt: skip
        assert expected in text


def test_checked_in_pages_are_current() -> None:
    """Regenerate with `python scripts/gen_docs.py` when this fails."""
    for name, text in manpage.render_all(cli()).items():
        assert (MAN / name).read_text() == text, f"man/{name} is stale"


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


def test_cli_doc_option_tables_are_current() -> None:
    """docs/CLI.md's option tables come from the same tree (scripts/gen_docs.py)."""
    doc = (ROOT / "docs" / "CLI.md").read_text()
    assert markdown_ref.fill(doc, cli()) == doc
    for command in ("start", "stop", "status", "reload", "scale"):
        assert f"<!-- options:{command} -->" in doc
