"""What `start` serves: an egg-style app directory, or an ASGI/WSGI `module:attr` (docs/ASGI.md).

`eggscripts start [BASE_DIR] --app=pkg.main:app`, `[tool.eggscripts] app = "pkg.main:app"`
or the short form `eggscripts start pkg.main:app` (BASE_DIR is then the current
directory). Without any of them BASE_DIR must look like an egg-style app; a directory that
does not (a typo, a FastAPI project started without --app) fails the start in one line
instead of starting a cluster that answers 404 to everything.
"""

from __future__ import annotations

import os
from typing import Any

import click

from eggscripts.errors import EggScriptsError
from eggscripts.options.param_types import PathType
from runtime.contract.app_option_defs import APP_TARGET_RE
from runtime.contract.exitcodes import ExitCode

# What makes a directory an egg-style app (a framework may bring the rest). `config/`
# counts, as egg starts such a directory: it serves 404s and runs its `require` modules.
APP_MARKERS = ("app/router.py", "app/controller/", "app.py", "agent.py", "config/")
APP_LOAD_ERROR = 4  # the app failed to load (docs/CLI.md, exit statuses)


class NotAnApp(EggScriptsError):
    exit_code = ExitCode.APP_LOAD_ERROR


class ShortTarget(str):
    """A BASE_DIR argument that is really `module:attr` (the short form)."""


class BaseDirOrTarget(PathType):
    """BASE_DIR, or `module:attr` when the argument looks like one and no such directory
    exists (`pkg.main:app` is never a directory name anybody means)."""

    def __init__(self) -> None:
        super().__init__(exists=True, file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = os.fspath(value)
        if isinstance(value, ShortTarget) or (
            APP_TARGET_RE.match(text) and not os.path.isdir(text)
        ):
            return ShortTarget(text)
        return super().convert(value, param, ctx)


METAVAR = "[BASE_DIR | MODULE:ATTR]"


def base_dir_argument() -> click.Argument:
    """BASE_DIR or the short form, shown as such in every usage line that accepts both."""
    return click.Argument(
        ["base_dir"], required=False, default=".", type=BaseDirOrTarget(), metavar=METAVAR
    )


def split(argument: str) -> tuple[str, str | None]:
    """(BASE_DIR, short-form target or None)."""
    if isinstance(argument, ShortTarget):
        return os.getcwd(), str(argument)
    return argument, None


def apply(values: dict[str, Any], short: str | None, base_dir: str) -> None:
    """Fold the short form into `values["app"]`, then refuse a BASE_DIR that is no app."""
    if short is not None:
        if values.get("app") and values["app"] != short:
            raise click.UsageError(f"two applications given: {short} and --app={values['app']}")
        values["app"] = short
    if values.get("app") or values.get("framework"):
        return
    if any(os.path.exists(os.path.join(base_dir, marker)) for marker in APP_MARKERS):
        return
    raise NotAnApp(
        f"{base_dir} is not an app: it has none of {', '.join(APP_MARKERS)}; to serve an "
        "ASGI or WSGI app, name it: --app=module:attr (or `eggscripts start module:attr`)"
    )
