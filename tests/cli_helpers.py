"""Helpers for the CLI tests: run the installed `eggscripts` console script as users do.

Every run gets `$HOME` pointed at a temporary directory (default daemon logs go to
`~/logs`) and an environment without PORT/EGG_WORKERS/EGG_SERVER_ENV, unless a test sets
them on purpose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import FIXTURES

EGGSCRIPTS = str(Path(sys.executable).parent / "eggscripts")
FAKE_RUNTIME = FIXTURES / "cli_fake_runtime" / "fake_runtime.py"
_DEFAULT_ENV_VARS = ("PORT", "EGG_WORKERS", "EGG_SERVER_ENV", "EGGSCRIPTS_DEBUG")


def cli_env(home: Path | str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DEFAULT_ENV_VARS}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: dict[str, str],
    cwd: Path | str | None = None,
    timeout: float = 30.0,
    stdin: Any = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EGGSCRIPTS, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=stdin,
    )


def fake_python(directory: Path) -> str:
    """An executable usable as `--python`: it runs the scripted fake runtime."""
    path = directory / "fake-python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_RUNTIME}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def make_app(directory: Path, name: str | None = None, tool: str = "") -> Path:
    """An app directory with a pyproject.toml (`tool` is the [tool.eggscripts] body)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    if name:
        lines += ["[project]", f'name = "{name}"', ""]
    if tool:
        lines += ["[tool.eggscripts]", tool]
    (directory / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return directory


def cluster_json(report_file: Path) -> dict[str, Any]:
    """The options JSON the fake runtime received (the last argv element)."""
    data = json.loads(report_file.read_text())
    return json.loads(data["argv"][-1])
