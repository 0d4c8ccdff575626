"""`--require`: modules (or `.py` files, relative to BASE_DIR) imported in every child
before the app loads, like egg-scripts' `--require`."""

from __future__ import annotations

import importlib
import os

from runtime.process.errors import StartupError, describe_exception
from runtime.process.module_files import load_module_file


def import_requires(requires: tuple[str, ...], base_dir: str) -> None:
    """`--require`: a module name, or a path to a .py file (relative to BASE_DIR)."""
    for item in requires:
        try:
            if item.endswith(".py") or os.sep in item:
                path = item if os.path.isabs(item) else os.path.join(base_dir, item)
                if not os.path.isfile(path):
                    raise StartupError(f"--require: file not found: {path}")
                name = "_eggscripts_require_" + os.path.splitext(os.path.basename(path))[0]
                load_module_file(path, name)
            else:
                importlib.import_module(item)
        except StartupError:
            raise
        except ModuleNotFoundError as exc:
            if exc.name == item:
                raise StartupError(f"--require: no module named {item!r}") from None
            raise StartupError(f"--require {item}: {describe_exception(exc, base_dir)}") from exc
        except Exception as exc:
            raise StartupError(f"--require {item}: {describe_exception(exc, base_dir)}") from exc
