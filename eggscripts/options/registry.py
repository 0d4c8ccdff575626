"""The option registry: every command-line option is declared once, here or, for `start`,
in the contract (`runtime/contract/option_defs.py`, which the runtime reads too).

gunicorn-style: a frozen `OptionSpec` carries the name, flags, type, default, environment
variable and help of one option. The click options, the `[tool.eggscripts]` keys, the man
pages and the shell completions are all derived from these specs (uvicorn repeats each
option five times and they drift; we never write a name twice).

Precedence is resolved in `resolve()`: command line > environment > pyproject > default.
Click only knows the first two; the click default of every option is None so that
`Context.get_parameter_source()` tells us whether the user said anything.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import click
from click.core import ParameterSource

from eggscripts.errors import PREFIX, ConfigError
from eggscripts.options import env_file
from eggscripts.options.app_options import APP_SPECS, HTTP_SPECS
from eggscripts.options.app_settings import TOOL_TABLE, AppInfo
from eggscripts.options.option_spec import OptionSpec, duration
from eggscripts.options.param_types import (
    HostPortType,
    ModuleOrPathType,
    ParamType,
    PathType,
    PythonType,
    RunningTitleType,
    TitleType,
)
from runtime.contract import option_defs

# ---- start: derived from the contract's definitions -----------------------------------------

_TYPES: dict[str, ParamType] = {
    "title": TitleType(),
    "framework": ModuleOrPathType(),
    "stdout": PathType(dir_okay=False),
    "stderr": PathType(dir_okay=False),
    "https_key": PathType(exists=True, dir_okay=False),
    "https_cert": PathType(exists=True, dir_okay=False),
    "require": ModuleOrPathType(),
    "python": PythonType(),
    "health_port": HostPortType(),
}
_BY_NAME = {
    d.name: OptionSpec.derive(d, _TYPES.get(d.name))
    for d in (*option_defs.CLUSTER, *option_defs.RECYCLING, *option_defs.PROCESSES)
}
_BY_NAME["env_file"] = dataclasses.replace(_BY_NAME["env_file"], eager=env_file.load)
START: tuple[OptionSpec, ...] = (*_BY_NAME.values(), *APP_SPECS, *HTTP_SPECS)
# The ones other commands share or vary.
TITLE, TIMEOUT = _BY_NAME["title"], _BY_NAME["timeout"]
ENV, FRAMEWORK, REQUIRE, PYTHON = (_BY_NAME[n] for n in ("env", "framework", "require", "python"))

# ---- commands acting on a running cluster --------------------------------------------------

RUNNING_TITLE = dataclasses.replace(
    TITLE,
    help="The cluster to act on, by its exact title (completes running titles).",
    type=RunningTitleType(),
    default_text="the title of the app in BASE_DIR ([tool.eggscripts] title, else "
    "egg-server-<app name>)",
)
ALL = OptionSpec(
    "all",
    "Every cluster of the current user (instead of one --title).",
    is_flag=True,
    default=False,
    in_pyproject=False,
)

STOP: tuple[OptionSpec, ...] = (
    dataclasses.replace(RUNNING_TITLE, help="Stop only the cluster with exactly this title."),
    dataclasses.replace(
        ALL,
        help="Stop every cluster of the current user (egg-scripts' old default; on a "
        "shared host that includes other jobs' clusters).",
    ),
    dataclasses.replace(
        TIMEOUT,
        help="Milliseconds to wait for the masters to exit before killing what is left.",
        default=30_000,
        prefixed_envvar=None,
        type=duration("ms"),
    ),
)

LOGS: tuple[OptionSpec, ...] = (
    dataclasses.replace(
        RUNNING_TITLE, help="Show the logs of the cluster with exactly this title."
    ),
    OptionSpec(
        "lines",
        "Print the last N lines of each file (0: none).",
        metavar="N",
        aliases=("-n",),
        default=15,
        type=click.IntRange(min=0),
        in_pyproject=False,
    ),
    OptionSpec(
        "follow",
        "Keep printing new lines as they are written (Ctrl-C stops).",
        aliases=("-f",),
        is_flag=True,
        default=False,
        in_pyproject=False,
    ),
)

STATUS: tuple[OptionSpec, ...] = (
    dataclasses.replace(RUNNING_TITLE, help="Show the cluster with exactly this title."),
    dataclasses.replace(ALL, help="Show every running cluster of the current user."),
    OptionSpec(
        "json",
        "Print JSON (the schema in docs/CLI.md) instead of the table.",
        is_flag=True,
        default=False,
        in_pyproject=False,
    ),
)

RELOAD: tuple[OptionSpec, ...] = (
    RUNNING_TITLE,
    OptionSpec(
        "timeout",
        "Give up the roll if it has not finished after this many milliseconds (the workers "
        "already replaced keep the new code, the others the old).",
        type=duration("ms"),
        default_text="each new worker gets the cluster's startup timeout",
        metavar="MS",
        in_pyproject=False,
    ),
    OptionSpec(
        "no_wait",
        "Only ask for the reload and return; do not wait for the roll to finish.",
        is_flag=True,
        default=False,
        in_pyproject=False,
    ),
    OptionSpec(
        "upgrade",
        "Replace the master too, to run the eggscripts installed now: a new master takes "
        "over the listening socket (no second bind), boots its agent and workers, then the "
        "old master drains and exits. If the new master cannot start, the old one keeps "
        "serving. Same as SIGUSR2 to the master.",
        is_flag=True,
        default=False,
        in_pyproject=False,
    ),
)

SCALE: tuple[OptionSpec, ...] = (
    RUNNING_TITLE,
    OptionSpec(
        "timeout",
        "Milliseconds to wait until the cluster has the new count of serving workers.",
        type=duration("ms"),
        default=30_000,
        metavar="MS",
        in_pyproject=False,
    ),
)

RESTART: tuple[OptionSpec, ...] = (
    dataclasses.replace(RUNNING_TITLE, help="Restart the cluster with exactly this title."),
    dataclasses.replace(
        STOP[2],
        help="Milliseconds to wait for the old master to exit before killing what is left.",
        in_pyproject=False,
    ),
    dataclasses.replace(
        _BY_NAME["ignore_stderr"],
        help="Do not fail the new start when its stderr log receives output.",
        in_pyproject=False,
        prefixed_envvar=None,
    ),
    dataclasses.replace(
        _BY_NAME["env_file"],
        help="Read this dotenv file into the new cluster's environment (the options stay "
        "those of the running master; variables already set win).",
        prefixed_envvar=None,
    ),
)

KNOWN_KEYS = frozenset(
    spec.key for spec in (*START, *STOP, *STATUS, *RELOAD, *SCALE, *LOGS) if spec.in_pyproject
)


def click_params(specs: Sequence[OptionSpec]) -> list[click.Parameter]:
    return [spec.to_click() for spec in specs]


def base_dir_argument() -> click.Argument:
    """BASE_DIR, shared by every command that reads an app's pyproject.toml."""
    return click.Argument(
        ["base_dir"],
        required=False,
        default=".",
        type=PathType(exists=True, file_okay=False),
    )


def resolve(ctx: click.Context, specs: Sequence[OptionSpec], app: AppInfo) -> dict[str, Any]:
    """The effective value of every spec: command line > environment > pyproject > default.

    Values from pyproject go through the same click type as the command line, so they are
    validated the same way; relative paths there are relative to BASE_DIR, not the cwd.
    """
    warn_unknown_keys(app)
    params = {p.name: p for p in ctx.command.params}
    values: dict[str, Any] = {}
    for spec in specs:
        source = ctx.get_parameter_source(spec.name)
        if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            values[spec.name] = ctx.params[spec.name]
        elif spec.in_pyproject and _tool_key(app, spec) is not None:
            values[spec.name] = _from_pyproject(ctx, params[spec.name], spec, app)
        elif spec.default is None:
            values[spec.name] = None
        else:
            # Defaults go through the type too: `~/logs/...` is expanded from $HOME here.
            values[spec.name] = params[spec.name].type_cast_value(ctx, spec.default)
    return values


def _tool_key(app: AppInfo, spec: OptionSpec) -> str | None:
    for key in (spec.key, spec.name):
        if key in app.tool:
            return key
    return None


def _from_pyproject(
    ctx: click.Context, param: click.Parameter, spec: OptionSpec, app: AppInfo
) -> Any:
    key = _tool_key(app, spec)
    assert key is not None
    raw = app.tool[key]
    if spec.multiple and not isinstance(raw, list):
        raw = [raw]
    if isinstance(param.type, click.Path):
        raw = os.path.join(app.base_dir, os.path.expanduser(str(raw)))
    try:
        return param.type_cast_value(ctx, raw)
    except click.BadParameter as exc:
        raise ConfigError(f"invalid {app.origin(key)}: {exc.message}") from None


def warn_unknown_keys(app: AppInfo) -> None:
    """A typo such as `worker = 4` would otherwise be silently ignored."""
    for key in sorted(set(app.tool) - KNOWN_KEYS - {k.replace("-", "_") for k in KNOWN_KEYS}):
        click.echo(
            f"{PREFIX} warning: unknown key {key!r} in [{TOOL_TABLE}] of {app.pyproject}",
            err=True,
        )
