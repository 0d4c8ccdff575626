"""`eggscripts check [BASE_DIR | module:attr]`: load the app without serving it (for CI)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from eggscripts.cmd.start import _framework, _require
from eggscripts.launching import launch
from eggscripts.options import app_settings
from eggscripts.options import registry as options
from eggscripts.options.app_target import METAVAR
from runtime.contract.app_option_defs import APP_TARGET_RE

CHECK = (options.ENV, options.FRAMEWORK, options.REQUIRE, options.PYTHON)


@click.command(
    "check",
    short_help="Load the app as a worker would, without serving it (CI).",
    params=[
        *options.click_params(CHECK),
        click.Argument(["target"], required=False, default=".", metavar=METAVAR),
    ],
    epilog="Examples: `eggscripts check --env=prod /srv/shop` in CI before a deploy.",
)
@click.pass_context
def command(ctx: click.Context, /, target: str, **_: Any) -> None:
    """Load the app exactly as an app worker would (config, plugins, extends, Boot hooks up
    to did_ready, services, middleware, controllers, router), without binding a port,
    forking, or starting the agent; then run its before_close hooks and exit.

    Prints what was loaded (counts, every route) and exits 0, or prints the one-line error
    a failed start would print for it and exits 1 (2 for bad options). Options come from
    the command line, the environment and [tool.eggscripts] as for `start`. The check runs
    in `python -m runtime.check` under --python, like the cluster would.
    """
    app_target = None
    if APP_TARGET_RE.match(target) and not os.path.isdir(target):
        app_target, target = target, "."  # module:attr, imported from the current directory
    checked = click.Path(exists=True, file_okay=False).convert(target, None, ctx)
    base_dir = os.path.abspath(os.fsdecode(checked))
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, CHECK, app)
    values["env"] = app_settings.server_env(values["env"], base_dir)
    runtime_options: dict[str, Any] = {
        "base_dir": base_dir,
        "title": app.default_title,
        "env": values["env"],
        "framework": _framework(values["framework"], base_dir),
        "require": [_require(item, base_dir) for item in values["require"]],
    }
    if app_target is not None:
        runtime_options["app"] = app_target
    plan = launch.Plan(
        python=values["python"] or sys.executable,
        base_dir=base_dir,
        title=app.default_title,
        options=runtime_options,
        env={**os.environ, "EGG_SERVER_ENV": values["env"]},
        module="runtime.check",
    )
    launch.exec_foreground(plan)
