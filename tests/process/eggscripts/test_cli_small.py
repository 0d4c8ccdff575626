"""Small lies and gaps of the CLI (issue 20, item 14), each checked on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from eggscripts import env_check
from runtime.master.listener import url_host
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


def test_an_env_no_config_file_names_is_one_warning(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for name in ("config.default.py", "config.qa.py"):
        (config / name).write_text("config = {}\n")
    line = env_check.unknown_env_line("prdo", str(tmp_path), None)
    assert line is not None and "\n" not in line
    assert f"env 'prdo' has no config.prdo.* in {config} (envs with a config file: " in line
    assert "default, qa" in line
    assert env_check.unknown_env_line("qa", str(tmp_path), None) is None
    assert env_check.unknown_env_line("prod", str(tmp_path), None) is None  # egg's own
    plugin = tmp_path / "lib" / "plugin" / "p" / "config"
    plugin.mkdir(parents=True)
    (plugin / "config.staging.py").write_text("config = {}\n")
    assert env_check.unknown_env_line("staging", str(tmp_path), None) is None


def test_the_start_line_names_the_address_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOST", raising=False)
    assert url_host("0.0.0.0") == "0.0.0.0"
    assert url_host("::") == "[::]"
    assert url_host("127.0.0.1") == "127.0.0.1"
    monkeypatch.setenv("HOST", "eggs.example")  # egg-cluster's name for a wildcard bind
    assert url_host("0.0.0.0") == "eggs.example"
