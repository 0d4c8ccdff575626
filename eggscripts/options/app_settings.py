"""What the CLI knows about an app before starting it: its name and `[tool.eggscripts]`.

Only `pyproject.toml` is read (TOML, no code runs), so a broken app can always be stopped
and a start fails with a clear message instead of an import error.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from typing import Any

from eggscripts.errors import ConfigError
from runtime.contract import titles

TOOL_TABLE = "tool.eggscripts"


@dataclasses.dataclass(frozen=True)
class AppInfo:
    base_dir: str
    name: str
    tool: Mapping[str, Any]
    pyproject: str | None

    @property
    def default_title(self) -> str:
        return titles.default_title(self.name)

    def origin(self, key: str) -> str:
        return f"'{key}' in [{TOOL_TABLE}] of {self.pyproject}"


def load(base_dir: str) -> AppInfo:
    """Read BASE_DIR/pyproject.toml; a missing file is fine, a broken one is a usage error
    (silently ignoring it would start the app with settings the user did not ask for)."""
    path = os.path.join(base_dir, "pyproject.toml")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the parser is imported
    except FileNotFoundError:
        return AppInfo(base_dir, os.path.basename(os.path.normpath(base_dir)), {}, None)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    # Imported only when there is something to parse (`stop` in a directory without
    # pyproject.toml never pays for it).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    tool = data.get("tool", {}).get("eggscripts", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"[{TOOL_TABLE}] in {path} must be a table")
    return AppInfo(
        base_dir=base_dir,
        name=str(name) if name else os.path.basename(os.path.normpath(base_dir)),
        tool=tool,
        pyproject=path,
    )


def env_file(base_dir: str) -> str | None:
    """The env named by BASE_DIR/config/env (trimmed), as egg-scripts lets egg read it
    when neither --env nor EGG_SERVER_ENV is given; None when absent or blank."""
    try:
        with open(os.path.join(base_dir, "config", "env"), encoding="utf-8") as fh:
            value = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value or None


def server_env(given: str | None, base_dir: str) -> str:
    """--env (or EGG_SERVER_ENV, or pyproject), trimmed; else the app's `config/env`, else
    `prod`, like egg-scripts (which exports nothing and lets egg read `config/env`)."""
    value = (given or "").strip()
    return value or env_file(base_dir) or "prod"
