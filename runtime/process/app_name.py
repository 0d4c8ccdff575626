"""What the runtime needs to know about an app before any of its code runs: its name.

The name comes from `[project] name` in BASE_DIR/pyproject.toml, else the
directory name; reading TOML runs no app code, so the master may do it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_pyproject(base_dir: str) -> dict[str, Any]:
    path = os.path.join(base_dir, "pyproject.toml")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def app_name(base_dir: str) -> str:
    name = read_pyproject(base_dir).get("project", {}).get("name")
    return str(name) if name else os.path.basename(os.path.normpath(base_dir))
