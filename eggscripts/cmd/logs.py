"""`eggscripts logs [--title=T] [-f] [-n N] [BASE_DIR]`: a cluster's log files (pm2 logs).

Where the logs are is asked of the running cluster itself, not guessed: the files its
processes hold open for writing (/proc/<pid>/fd, via psutil) are exactly its log files,
wherever `logger.dir`, `--stdout` or `--stderr` put them, whatever version started it,
and without any state file to go stale. A cluster that is not running shows the files
at the default places (docs/CLI.md, "Where the logs are"), if any are there; the
directories named after the app only for the app's own default title, so a mistyped
title never shows another cluster's logs.
"""

from __future__ import annotations

import os
from typing import Any

import click

from eggscripts.client import targets
from eggscripts.errors import PREFIX, EggScriptsError
from eggscripts.finding import procs
from eggscripts.logfiles import logtail
from eggscripts.options import app_settings
from eggscripts.options import registry as options

ORDER = ("master-stdout.log", "master-stderr.log", "master.log", "egg-agent.log")


@click.command(
    "logs",
    short_help="Show (and follow) the log files of a cluster.",
    params=[*options.click_params(options.LOGS), options.base_dir_argument()],
    epilog="Examples: `eggscripts logs -f --title=egg-server-shop`; `eggscripts logs -n 100`.",
)
@click.pass_context
def command(ctx: click.Context, /, base_dir: str, **_: Any) -> None:
    """Print the last lines of every log file of a cluster, then with -f keep printing
    what is written to them (logrotate moving a file is followed).

    The files are found from the running cluster's processes: the daemon's --stdout and
    --stderr logs and the app's logs (master.log, egg-agent.log, <app>-web.log,
    common-error.log) wherever logger.dir put them. Without --title: the one cluster
    started from BASE_DIR when it is given, else the app in the current directory. When
    the cluster is not running, the files at the default places are shown; none at all
    is an error (exit 1) that lists the titles running.
    """
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, options.LOGS, app)
    try:
        title = targets.one_title(ctx, values["title"], app, "logs")
    except targets.NothingInDir:
        title = app.default_title  # the last logs of the app in that directory
    paths = running_files(title)
    if not paths:
        paths = default_files(title, app)
        if not paths:
            raise EggScriptsError(
                f"no log files found for {title}: it is not running and has no logs "
                f"({targets.running_list()})"
            )
        click.echo(f"{PREFIX} {title} is not running; showing its last logs", err=True)
    for path in paths:
        click.echo(f"==> {path} <==")
        for line in logtail.last_lines(path, values["lines"]):
            click.echo(line)
    if values["follow"]:
        shown = [paths[-1]]

        def emit(path: str, lines: list[str]) -> None:
            if shown[0] != path:
                click.echo(f"==> {path} <==")
                shown[0] = path
            for line in lines:
                click.echo(line)

        logtail.follow(paths, emit)


def running_files(title: str) -> list[str]:
    """Log files the processes of a running cluster write to, in a reading order."""
    import psutil

    found: set[str] = set()
    for cp in procs.find(title):
        try:
            files = cp.proc.open_files()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for f in files:
            stdio = cp.info.role == "master" and f.fd in (1, 2)  # --stdout/--stderr, any name
            writing = getattr(f, "mode", "w") in ("w", "a", "r+", "a+")
            if stdio or (f.path.endswith(".log") and writing):
                found.add(f.path)
    return sort_files(found)


def default_files(title: str, app: app_settings.AppInfo) -> list[str]:
    home = os.path.expanduser("~")
    dirs = [os.path.join(home, "logs", title), os.path.join(app.base_dir, "logs", title)]
    if title == app.default_title:  # the app here: its logs are under its name
        dirs += [os.path.join(home, "logs", app.name), os.path.join(app.base_dir, "logs", app.name)]
    found: set[str] = set()
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        found.update(os.path.join(directory, n) for n in names if n.endswith(".log"))
    return sort_files(found)


def sort_files(paths: set[str]) -> list[str]:
    """Daemon logs, master, agent, app workers, then common-error.log (errors last)."""

    def key(path: str) -> tuple[int, str]:
        name = os.path.basename(path)
        if name in ORDER:
            return ORDER.index(name), path
        return (len(ORDER) + 1 if name == "common-error.log" else len(ORDER)), path

    return sorted(paths, key=key)
