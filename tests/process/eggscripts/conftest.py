"""Fixtures the daemon tests of this directory share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh $HOME for the CLI: a daemon's logs go under it."""
    path = tmp_path / "home"
    path.mkdir()
    return path
