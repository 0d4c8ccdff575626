"""A start option is declared once (runtime/contract/option_defs.py) and every place that
shows or checks it agrees: `start --help`, the man page, the shell completion, the
docs/CLI.md table, and the runtime's `ClusterOptions` (field, default, bound)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest

from eggscripts.__main__ import cli
from eggscripts.cmd import start
from runtime.contract import option_defs
from runtime.contract.optiondef import OptionDef
from runtime.process.cluster_options import ClusterOptions
from runtime.process.errors import OptionsError
from tests.cli_helpers import EGGSCRIPTS, cli_env, run_cli
from tests.helpers import ROOT

DEFS = option_defs.START
IDS = [d.name for d in DEFS]


def flag(defn: OptionDef) -> str:
    return "--" + defn.name.replace("_", "-")


def shown_default(defn: OptionDef) -> str:
    if defn.default_text is not None:
        return defn.default_text
    if defn.is_flag:
        return "on" if defn.default else "off"
    return "none" if defn.default in (None, ()) else str(defn.default)


@pytest.fixture(scope="module")
def help_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = run_cli("start", "--help", env=cli_env(tmp_path_factory.mktemp("home"))).stdout
    out = re.sub(r"-\n\s+", "-", out)  # click wraps lines, also after a hyphen
    return " ".join(out.split())


# How each shipped completion script asks the installed command (click's protocols).
COMPLETION_ENV = {
    "bash": {"COMP_WORDS": "eggscripts start --", "COMP_CWORD": "2"},
    "zsh": {"COMP_WORDS": "eggscripts start --", "COMP_CWORD": "2"},
    "fish": {"COMP_WORDS": "eggscripts start --", "COMP_CWORD": "--"},
}


@pytest.fixture(scope="module")
def completed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What TAB offers after `eggscripts start --`, per shell."""
    home = tmp_path_factory.mktemp("home")
    offered = {}
    for shell, words in COMPLETION_ENV.items():
        env = cli_env(home, _EGGSCRIPTS_COMPLETE=f"{shell}_complete", **words)
        out = subprocess.run([EGGSCRIPTS], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        offered[shell] = out.stdout
    return offered


def man_block(defn: OptionDef) -> str:
    page = (ROOT / "man" / "eggscripts-start.1").read_text().replace("\\-", "-")
    blocks = page.split(".SH OPTIONS")[1].split(".TP")
    return next(b for b in blocks if re.search(rf"\\fB{re.escape(flag(defn))}\\fR", b))


def doc_row(defn: OptionDef) -> str:
    doc = (ROOT / "docs" / "CLI.md").read_text()
    table = doc.split("<!-- options:start -->")[1].split("<!-- /options:start -->")[0]
    return next(row for row in table.splitlines() if f"`{flag(defn)}`" in row)


@pytest.mark.parametrize("defn", DEFS, ids=IDS)
def test_help_shows_the_definition(defn: OptionDef, help_text: str) -> None:
    assert flag(defn) in help_text
    assert " ".join(defn.help.split()) in help_text
    assert f"default: {shown_default(defn)}" in help_text


@pytest.mark.parametrize("defn", DEFS, ids=IDS)
def test_man_page_shows_the_definition(defn: OptionDef) -> None:
    block = " ".join(man_block(defn).split())
    assert f"Default: {shown_default(defn)}." in block
    if defn.kind is int and defn.minimum is not None and not defn.choices:
        assert "Range: " in block and str(int(defn.minimum)) in block.split("Range: ")[1]


@pytest.mark.parametrize("defn", DEFS, ids=IDS)
def test_completion_offers_it(defn: OptionDef, completed: dict[str, str]) -> None:
    for shell, offered in completed.items():
        words = set(re.split(r"[\s,]", offered))
        assert flag(defn) in words, shell


@pytest.mark.parametrize("defn", DEFS, ids=IDS)
def test_cli_doc_table_shows_it(defn: OptionDef) -> None:
    row = doc_row(defn)
    assert f"`{shown_default(defn)}`" in row
    if defn.envvar:
        assert f"`{defn.envvar}`" in row


FIELDS = {f.name: f for f in dataclasses.fields(ClusterOptions)}
KEYED = [d for d in DEFS if d.key]


@pytest.mark.parametrize("defn", KEYED, ids=[d.name for d in KEYED])
def test_cluster_options_field_has_the_definitions_default(defn: OptionDef) -> None:
    assert defn.key in FIELDS, f"{defn.name}: ClusterOptions has no field {defn.key}"
    if defn.default is not None:
        assert FIELDS[defn.key].default == defn.default


BOUNDED = [d for d in DEFS if d.minimum is not None or d.choices]


def _too_small(defn: OptionDef) -> Any:
    if defn.choices:
        return "nonsense"
    assert defn.minimum is not None
    if defn.kind is int:
        return int(defn.minimum) - 1
    return defn.minimum if defn.min_open else defn.minimum - 0.5


@pytest.mark.parametrize("defn", BOUNDED, ids=[d.name for d in BOUNDED])
def test_one_bound_refused_by_both_sides(defn: OptionDef, tmp_path: Path) -> None:
    bad = _too_small(defn)
    root = cli()  # as the parent: click caches the help option a context gives a command
    args = [flag(defn), str(bad), str(tmp_path)]
    with (
        click.Context(root, info_name=root.name, **root.context_settings) as parent,
        pytest.raises(click.BadParameter),
    ):
        start.command.make_context("start", args, parent)
    if defn.key:
        raw = {"base_dir": str(tmp_path), "title": "t", defn.key: bad}
        with pytest.raises(OptionsError, match=re.escape(str(defn.problem(bad)))):
            ClusterOptions.from_dict(raw)


def test_every_start_option_is_a_definition() -> None:
    """No start option is declared by the CLI alone (its default or bound would then be
    written twice)."""
    command = cli().all_commands()["start"]
    names = {p.name for p in command.params if isinstance(p, click.Option)}
    assert names == {d.name for d in DEFS}
