"""`module:attr` -> the application object, the way uvicorn and gunicorn name one.

BASE_DIR goes first on `sys.path` (so `pkg.main:app` is the project's own `pkg`, not an
installed one of the same name). Every failure is a one-line StartupError naming the target
and, for errors raised by the app's own code, the file and line (like a broken controller).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from runtime.process.errors import StartupError, describe_exception


def import_target(target: str, base_dir: str, factory: bool = False) -> Any:
    module_name, _, attr = target.partition(":")
    if sys.path[:1] != [base_dir]:
        sys.path.insert(0, base_dir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise StartupError(
                f"--app {target}: no module named {exc.name!r} (looked in {base_dir} and "
                "the installed packages)"
            ) from None
        raise StartupError(f"--app {target}: {describe_exception(exc, base_dir)}") from exc
    except Exception as exc:
        raise StartupError(f"--app {target}: {describe_exception(exc, base_dir)}") from exc
    app: Any = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise StartupError(
                f"--app {target}: {module.__file__} has no attribute {attr!r}"
            ) from None
    if factory:
        if not callable(app):
            raise StartupError(f"--app {target} --factory: {attr} is not callable")
        try:
            app = app()
        except Exception as exc:
            raise StartupError(
                f"--app {target} --factory: {describe_exception(exc, base_dir)}"
            ) from exc
    if not callable(app):
        raise StartupError(
            f"--app {target}: {attr} is a {type(app).__name__}, not an ASGI or WSGI "
            "application (pass --factory if it is a function returning one)"
        )
    return app
