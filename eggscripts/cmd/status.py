"""`eggscripts status`: what runs, asked from the master itself."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from click.core import ParameterSource

from eggscripts.client import control_client, control_dir, status_view, targets
from eggscripts.errors import PREFIX, EggScriptsError
from eggscripts.finding import procs
from eggscripts.options import app_settings
from eggscripts.options import registry as options
from runtime.contract.control import ControlAction

SCHEMA = 1
NOT_RUNNING = 3  # LSB: "program is not running"


@click.command(
    "status",
    short_help="Show running clusters and their processes.",
    params=[*options.click_params(options.STATUS), options.base_dir_argument()],
    epilog="Examples: `eggscripts status` (the app in the current directory); "
    "`eggscripts status --title=shop --json`; `eggscripts status --all`.",
)
@click.pass_context
def command(ctx: click.Context, /, base_dir: str, **_: Any) -> None:
    """Show a running cluster: its state, URL, directories, version and uptime, and per
    process its role, worker id, pid, state, age, memory, CPU, requests served, restarts
    (with the cause of the last one) and the age of its last heartbeat.

    The cluster is --title, else the clusters started from BASE_DIR when it is given,
    else the app in the current directory; --all shows every cluster of the current
    user. The master answers over its private control socket; other users' clusters are
    never visible. --json prints the documented
    schema (docs/CLI.md). Exit status: 0 when the cluster runs (with --all: when any
    does), 3 when it does not (the LSB convention), 2 outside an app without --title.
    """
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, options.STATUS, app)
    if values["all"]:
        if ctx.get_parameter_source("title") == ParameterSource.COMMANDLINE:
            raise click.UsageError("--title and --all exclude each other")
        titles = procs.running_titles()
    elif (directory := targets.explicit_dir(ctx, values["title"])) is not None:
        titles = targets.titles_in(directory)
        if not titles:
            click.echo(f"{PREFIX} {targets.not_running_in_line(directory)}", err=True)
            ctx.exit(NOT_RUNNING)
    else:
        titles = [targets.title_for(values["title"], app, "status", all_hint=True)]
    clusters, missing = [], []
    for title in titles:
        cluster = describe(title)
        if cluster is None:
            missing.append(title)
        else:
            clusters.append(cluster)
    if values["json"]:
        click.echo(json.dumps({"schema": SCHEMA, "clusters": clusters}, indent=2))
    else:
        for i, cluster in enumerate(clusters):
            if i:
                click.echo("")
            for line in status_view.render(cluster):
                click.echo(line)
    for title in missing:
        click.echo(f"{PREFIX} {targets.not_running_line(title)}", err=values["json"])
    if not titles:
        click.echo(f"{PREFIX} no cluster of user {targets.user_name()} is running", err=True)
    if missing or not clusters:
        ctx.exit(NOT_RUNNING)


def describe(title: str) -> dict[str, Any] | None:
    """The master's own answer; what ps shows when it cannot answer; None if nothing runs."""
    try:
        cluster = control_client.call(title, ControlAction.STATUS)
    except control_dir.UnsafeControlDir:
        raise
    except EggScriptsError:
        found = procs.find(title)
        return from_ps(title, found) if found else None
    if not isinstance(cluster, dict):
        return None
    cluster["source"] = "master"
    return cluster


def from_ps(title: str, found: list[procs.ClusterProcess]) -> dict[str, Any]:
    """A cluster whose master has no control channel (an older eggscripts) or does not
    answer: roles and pids from the process table, the rest unknown (null)."""
    now = time.time()
    rows = []
    master_pid = None
    base_dir = None
    order = {role: i for i, role in enumerate(procs.ROLES)}
    for cp in sorted(found, key=lambda cp: (order[cp.info.role], cp.pid)):
        if cp.info.role == "master":
            master_pid = master_pid or cp.pid
        base_dir = base_dir or cp.info.base_dir
        try:
            age = round(now - cp.proc.create_time(), 3)
            rss = cp.proc.memory_info().rss
        except Exception:  # psutil.Error: gone meanwhile
            age, rss = None, None
        rows.append(
            {"role": cp.info.role, "id": None, "pid": cp.pid, "state": None, "age": age,
             "rss": rss, "cpu": None, "requests": None, "inflight": None, "saturated": None,
             "restarts": None, "last_restart_cause": None, "heartbeat_age": None,
             "release_dir": None}
        )  # fmt: skip
    return {
        "title": title,
        "master_pid": master_pid,
        "state": None,
        "url": None,
        "base_dir": base_dir,
        "processes": rows,
        "source": "ps",
    }
