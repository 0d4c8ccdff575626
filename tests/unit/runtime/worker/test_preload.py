"""What the master pre-imports depends on the app: PyYAML only for an app with YAML config
(the imports themselves are checked in a fresh interpreter:
tests/process/runtime/test_import_footprint.py)."""

from __future__ import annotations

from pathlib import Path

from runtime.worker.preload import uses_yaml


def test_yaml_is_preloaded_only_for_an_app_with_yaml_config(tmp_path: Path) -> None:
    assert not uses_yaml(str(tmp_path))  # no config directory
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.default.py").write_text("")
    assert not uses_yaml(str(tmp_path))
    (tmp_path / "config" / "config.prod.yml").write_text("")
    assert uses_yaml(str(tmp_path))
