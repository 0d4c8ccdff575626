"""Small lies and gaps of the CLI (issue 20, item 14), each checked on its own: the cases
with no process started (the others are in tests/process/eggscripts/test_cli_small.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eggscripts.options import env_check
from runtime.master.production.listener import url_host


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
