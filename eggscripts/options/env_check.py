"""`--env` checked before a start: an empty one is refused, an unknown one is named.

egg picks `config/config.<env>.*` by the env name, so a mistyped `--env=prdo` starts the
app on `config.default.*` alone, silently. The names egg itself uses (local, unittest,
prod, default) need no file; any other env that no `config.<env>.*` of the app, its
in-app plugins (`lib/plugin/*/config/`) or a framework directory mentions gets one
warning line, and the start goes on (the env may be read by app code only).
"""

from __future__ import annotations

import glob
import os

import click
from click.core import ParameterSource

from eggscripts.errors import PREFIX

KNOWN = ("local", "unittest", "prod", "default")


def refuse_empty(ctx: click.Context) -> None:
    """`--env=` (or blanks) on the command line: a mistake, not "the default env"."""
    given = ctx.params.get("env")
    commandline = ctx.get_parameter_source("env") == ParameterSource.COMMANDLINE
    if commandline and given is not None and not given.strip():
        raise click.BadParameter(
            "empty: name an env (e.g. prod) or leave --env out", ctx, param_hint="'--env'"
        )


def config_dirs(base_dir: str, framework: str | None) -> list[str]:
    dirs = [os.path.join(base_dir, "config")]
    dirs += sorted(glob.glob(os.path.join(glob.escape(base_dir), "lib", "plugin", "*", "config")))
    if framework and os.path.isdir(framework):
        dirs.append(os.path.join(framework, "config"))
    return dirs


def unknown_env_line(env: str, base_dir: str, framework: str | None) -> str | None:
    """One warning line when `env` is neither egg's own nor named by any config file."""
    if env in KNOWN:
        return None
    dirs = config_dirs(base_dir, framework)
    for directory in dirs:
        if glob.glob(os.path.join(glob.escape(directory), f"config.{glob.escape(env)}.*")):
            return None
    named = sorted(
        {
            name.split(".")[1]
            for directory in dirs
            for name in _names(directory)
            if name.startswith("config.") and name.count(".") >= 2
        }
    )
    known = ", ".join(named) if named else "none"
    return (
        f"{PREFIX} warning: env {env!r} has no config.{env}.* in {dirs[0]} (envs with a "
        f"config file: {known}); starting with config.default.* only"
    )


def _names(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def warn_unknown(env: str, base_dir: str, framework: str | None) -> None:
    line = unknown_env_line(env, base_dir, framework)
    if line is not None:
        click.echo(line, err=True)
