"""Man pages (issue 6): generated from the click tree, checked in, complete, renderable."""

from __future__ import annotations

import re

import pytest

from eggscripts.__main__ import cli
from eggscripts.docgen import manpage, markdown_ref
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


def unescaped(page: str) -> str:
    return (MAN / page).read_text().replace("\\-", "-").replace("\\e", "\\")


def test_every_command_has_a_page() -> None:
    assert set(PAGES.values()) == set(manpage.render_all(cli()))
    assert sorted(p.name for p in MAN.glob("*.1")) == sorted(PAGES.values())


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


def test_cli_doc_option_tables_are_current() -> None:
    """docs/CLI.md's option tables come from the same tree (scripts/gen_docs.py)."""
    doc = (ROOT / "docs" / "CLI.md").read_text()
    assert markdown_ref.fill(doc, cli()) == doc
    for command in ("start", "stop", "status", "reload", "scale"):
        assert f"<!-- options:{command} -->" in doc
