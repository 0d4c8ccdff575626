"""Small lies and gaps of the CLI (issue 20, item 14), each checked on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import cli_env, make_app, run_cli


def test_no_arguments_print_the_help_and_succeed(tmp_path: Path) -> None:
    result = run_cli(env=cli_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: eggscripts [OPTIONS] COMMAND [ARGS]...")


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("start", "--reload"), "use `eggscripts reload`; to restart on file changes run"),
        (("stop", "--pid=42"), "clusters are found by their title: --title=TITLE"),
    ],
)
def test_options_from_other_tools_point_at_the_real_equivalent(
    tmp_path: Path, args: tuple[str, ...], hint: str
) -> None:
    result = run_cli(*args, env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert hint in result.stderr
    assert "Did you mean" not in result.stderr


@pytest.mark.parametrize("command", ["start", "dev", "check", "systemd"])
def test_usage_names_both_forms_where_both_are_accepted(tmp_path: Path, command: str) -> None:
    result = run_cli(command, "--help", env=cli_env(tmp_path))
    assert f"Usage: eggscripts {command} [OPTIONS] [BASE_DIR | MODULE:ATTR]" in result.stdout


def test_an_empty_env_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    result = run_cli("start", "--env=", str(app), env=cli_env(tmp_path))
    assert result.returncode == 2
    assert "Invalid value for '--env': empty" in result.stderr
