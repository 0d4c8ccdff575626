"""`eggscripts restart`: stop a daemon cluster, then start it again with the options its
master was started with.

Where the options come from: the master's status reply (`start`: the interpreter and the
runtime JSON it was launched with, minus the per-launch descriptors), read over the
control socket before anything is stopped. That is the resolved result of the original
command line, environment, --env-file and pyproject.toml, so the copy does not depend on
the shell `restart` runs in. The process title cannot serve: it holds the title, port and
directory only, and /proc/<pid>/cmdline is overwritten by the title. docs/CLI.md,
`eggscripts restart`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import click

from eggscripts.client import control_client, control_dir, targets
from eggscripts.cmd import stop
from eggscripts.errors import EggScriptsError
from eggscripts.launching import launch, title_lock
from eggscripts.options import app_settings
from eggscripts.options import registry as options
from runtime.contract.control import ControlAction


@click.command(
    "restart",
    short_help="Stop a daemon cluster, then start it with the same options.",
    params=[*options.click_params(options.RESTART), options.base_dir_argument()],
    epilog="Examples: `eggscripts restart --title=shop`; `eggscripts restart` (the app in "
    "the current directory). For no downtime use `eggscripts reload` instead.",
)
@click.pass_context
def command(ctx: click.Context, /, base_dir: str, **_: Any) -> None:
    """Stop the cluster, then start it again as a daemon with the options its master was
    started with (port, workers, env, every start option, log files, interpreter).

    Unlike `reload`, the port is closed in between: connections are refused until the new
    cluster is ready. Use it after upgrading eggscripts or Python, or to apply a change
    only a new master reads. The options are asked from the running master before
    anything is stopped; the new cluster runs with this command's environment. The
    cluster is --title, else the one cluster started from BASE_DIR when it is given,
    else the app in the current directory. A cluster running in the foreground is
    refused (stop it in its terminal). Exit statuses: those of `start --daemon`; 3 not
    running.
    """
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, options.RESTART, app)
    title = targets.one_title(ctx, values["title"], app, "restart")
    plan, logs = _plan(title)
    stop.stop_clusters(title, None, values["timeout"])
    directory = control_dir.place(create=True).directory
    plan = dataclasses.replace(plan, lock_fd=title_lock.take(title, directory))
    from eggscripts.launching import daemon_start

    daemon_start.run(
        plan,
        stdout_path=logs[0],
        stderr_path=logs[1],
        timeout_ms=plan.options["startup_timeout"],
        ignore_stderr=bool(values["ignore_stderr"]),
    )


def _plan(title: str) -> tuple[launch.Plan, tuple[str, str]]:
    """The launch plan of a copy of the running cluster, and its daemon log files."""
    cluster = control_client.call(title, ControlAction.STATUS)
    started = cluster.get("start") if isinstance(cluster, dict) else None
    if not isinstance(started, dict) or not isinstance(started.get("options"), dict):
        raise EggScriptsError(
            f"{title}'s master does not tell its options (an older eggscripts): stop it "
            "and start it again by hand"
        )
    opts = dict(started["options"])
    if not opts.get("stdout_log") or not opts.get("stderr_log"):
        raise click.UsageError(
            f"{title} runs in the foreground: stop it in its terminal (Ctrl-C) and start it "
            "again there, or start it with --daemon"
        )
    # Plan.argv adds the backstop again to what the launcher waits for.
    opts["startup_timeout"] = max(1, int(opts["startup_timeout"]) - launch.BACKSTOP_MS)
    plan = launch.Plan(
        python=str(started.get("python") or sys.executable),
        base_dir=str(opts["base_dir"]),
        title=title,
        options=opts,
        env={**os.environ, "EGG_SERVER_ENV": str(opts["env"])},
    )
    return plan, (str(opts["stdout_log"]), str(opts["stderr_log"]))
