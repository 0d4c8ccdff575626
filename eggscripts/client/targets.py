"""Which cluster a command acts on when the user did not say: never "all of them".

`stop`, `status`, `reload`, `scale` and `logs` read it the same way (docs/CLI.md, "Which
cluster a command acts on"): `--title` (or `[tool.eggscripts] title`) first; else, when
BASE_DIR is given on the command line, the clusters started from that directory (the
`--base-dir=` of their process titles, symlinks resolved on both sides); else the default
title of the app in the current directory, exactly what `start` would have used there.
Outside an app they refuse with one line (exit 2) instead of guessing: egg-scripts' `stop`
without a title stopped every cluster of the user, other CI jobs' included.
"""

from __future__ import annotations

import os
import pwd

import click
from click.core import ParameterSource

from eggscripts.errors import ConfigError, EggScriptsError
from eggscripts.finding import procs
from eggscripts.options.app_settings import AppInfo

APP_MARKERS = ("pyproject.toml", "app", "config")


class NoTarget(ConfigError):
    """No --title and no app here: usage error, exit 2, one line."""


class NothingInDir(EggScriptsError):
    """No cluster runs from the BASE_DIR asked for: exit 3, like a title not running."""

    exit_code = 3


def explicit_dir(ctx: click.Context, title: str | None) -> str | None:
    """The BASE_DIR to find clusters by: given on the command line and no title set."""
    if title or ctx.get_parameter_source("base_dir") != ParameterSource.COMMANDLINE:
        return None
    base_dir: str = ctx.params["base_dir"]
    return base_dir


def titles_in(base_dir: str) -> list[str]:
    """Titles of the clusters started from `base_dir` (resolved paths compared)."""
    return sorted(set(procs.titles(procs.find(roles=("master",), base_dir=base_dir))))


def not_running_in_line(base_dir: str) -> str:
    real = os.path.realpath(base_dir)
    where = real if real == base_dir else f"{real} (resolved from {base_dir})"
    return f"no running cluster found for {where} ({running_list()})"


def one_title(ctx: click.Context, title: str | None, app: AppInfo, command: str) -> str:
    """The one cluster `reload`/`scale` act on: --title, else the one cluster started
    from an explicit BASE_DIR (none: exit 3; several: exit 2 naming them), else the
    default title of the app here."""
    directory = explicit_dir(ctx, title)
    if directory is None:
        return title_for(title, app, command)
    found = titles_in(directory)
    if not found:
        raise NothingInDir(not_running_in_line(directory))
    if len(found) > 1:
        raise click.UsageError(
            f"{len(found)} clusters run from {directory}: {', '.join(found)}; "
            f"give --title=TITLE, e.g. eggscripts {command} --title={found[0]}"
        )
    return found[0]


def is_app(base_dir: str) -> bool:
    return any(os.path.exists(os.path.join(base_dir, marker)) for marker in APP_MARKERS)


def title_for(title: str | None, app: AppInfo, command: str, all_hint: bool = False) -> str:
    """`title` (from --title or [tool.eggscripts]) or the default title of the app here."""
    if title:
        return title
    if is_app(app.base_dir):
        return app.default_title
    alternative = " or --all" if all_hint else ""
    raise NoTarget(
        f"no app in {app.base_dir} (no pyproject.toml, app/ or config/) to take a title "
        f"from: give --title=TITLE{alternative}, e.g. eggscripts {command} --title=TITLE"
    )


def not_running_line(title: str) -> str:
    """Nothing runs under `title`: say so, and what does run (a typo shows at once)."""
    return f"no running cluster found with title {title} ({running_list()})"


def running_list() -> str:
    """`running: a, b` or `no cluster is running`: what a "not found" line adds."""
    running = procs.running_titles()
    return f"running: {', '.join(running)}" if running else "no cluster is running"


def user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
