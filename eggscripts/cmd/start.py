"""`eggscripts start`: launch a cluster in the foreground or as a daemon."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from eggscripts.client import control_dir
from eggscripts.errors import AlreadyRunning
from eggscripts.finding import procs
from eggscripts.launching import early_start, launch, title_lock
from eggscripts.options import app_target, env_check, start_options
from eggscripts.options import registry as options
from eggscripts.options.option_spec import OptionSpec
from eggscripts.options.param_types import is_path
from eggscripts.options.start_options import StartOptions
from runtime.contract import capacity, paths


@click.command(
    "start",
    short_help="Start a cluster (foreground or --daemon).",
    params=[*options.click_params(options.START), app_target.base_dir_argument()],
    epilog="Examples: `eggscripts start --daemon --port=8080 --title=shop /srv/shop`; "
    "`eggscripts start` (foreground, current directory); "
    "`eggscripts start --daemon --workers=2 pkg.main:app` (an ASGI/WSGI app).",
)
@click.pass_context
def command(ctx: click.Context, /, base_dir: str, **_: Any) -> None:
    """Start a cluster: a master, an agent and --workers app workers on one port.

    BASE_DIR (default: the current directory) is the app: an egg-style app directory, or
    the directory holding an ASGI/WSGI app named with --app=module:attr (FastAPI,
    Starlette, Django, Flask). BASE_DIR may also be `module:attr` itself: the app in the
    current directory. Every option may also be set in
    [tool.eggscripts] of BASE_DIR/pyproject.toml (same names, e.g. `workers = 4`) and in
    the environment as EGGSCRIPTS_<OPTION> (EGGSCRIPTS_WORKERS, EGGSCRIPTS_MAX_REQUESTS).
    The command line wins over EGGSCRIPTS_*, which wins over egg's PORT, EGG_WORKERS and
    EGG_SERVER_ENV, which win over pyproject.toml. --env-file=PATH reads a dotenv file
    into the environment first (variables already set win).

    Without --daemon this process becomes the master: Ctrl-C or SIGTERM stop the cluster
    gracefully and the exit status is the master's. With --daemon the cluster is detached,
    its output goes to the --stdout/--stderr logs, and the command exits 0 once every
    worker is ready, or non-zero (after stopping what it started) if the cluster fails,
    writes to its stderr log, or is not ready within --timeout.

    Exit statuses of a failed start, foreground and --daemon alike: 1 error (port in use,
    stderr output, timeout), 2 bad usage, 3 an app worker failed to boot, 4 the app failed
    to load (import, config, plugin, router, Boot hook), 5 the agent failed to start.
    """
    values, plan = prepare(ctx, base_dir)
    if not values.daemon:
        launch.exec_foreground(plan)
    from eggscripts.launching import daemon_start  # daemon machinery only when daemonizing

    daemon_start.run(
        plan,
        stdout_path=values.stdout,
        stderr_path=values.stderr,
        timeout_ms=values["timeout"],
        ignore_stderr=bool(values["ignore_stderr"]),
    )


def prepare(
    ctx: click.Context,
    argument: str,
    specs: Sequence[OptionSpec] = options.START,
    adjust: Callable[[StartOptions], StartOptions] | None = None,
) -> tuple[StartOptions, launch.Plan]:
    """Resolve and check the options, build the launch plan and take the title lock:
    everything before the cluster is launched, shared with `dev` (eggscripts/cmd/dev.py),
    which declares fewer options (`specs`) and other defaults (`adjust`)."""
    base_dir, short_target = app_target.split(argument)
    env_check.refuse_empty(ctx)
    values = start_options.resolve_start(ctx, base_dir, short_target, specs)
    early_start.expect(values.daemon)  # undo the early start's guess if it was wrong
    if adjust is not None:
        values = adjust(values)
    _check_workers(values.workers)
    _check_run_as(values["user"], values["group"])
    values = dataclasses.replace(values, framework=_framework(values.framework, base_dir))
    _check_files(values)
    if not values["app"]:  # an ASGI/WSGI app reads no config.<env>.* files
        env_check.warn_unknown(values.env, base_dir, values.framework)
    require = [_require(item, base_dir) for item in values["require"]]
    directory = control_dir.place(create=True).directory
    control = paths.socket_path(values.title, directory)
    plan = launch.make_plan(values, base_dir, require, control)
    # The lock first: of two starts at the same instant, one fails here, having launched
    # nothing; then processes of that title left by a cluster that holds no lock.
    plan = dataclasses.replace(plan, lock_fd=title_lock.take(plan.title, directory))
    _refuse_if_running(plan.title)
    return values, plan


def _check_workers(workers: int) -> None:
    problem = capacity.workers_problem(workers)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="'--workers'")


def _check_run_as(user: str | None, group: str | None) -> None:
    """`--user`/`--group` switch the agent and workers to another account after the port
    is bound, which only root can do; the names must exist here and now."""
    if user is None and group is None:
        return
    if os.geteuid() != 0:
        raise click.UsageError(
            f"--user/--group need root (this start runs as uid {os.geteuid()}); start as "
            "root, or leave them out to run as yourself"
        )
    import grp
    import pwd

    for value, lookup, flag in ((user, pwd.getpwnam, "--user"), (group, grp.getgrnam, "--group")):
        if value is not None and not value.isdigit():
            try:
                lookup(value)
            except KeyError:
                msg = f"no such account: {value}"
                raise click.BadParameter(msg, param_hint=f"'{flag}'") from None


def _check_files(values: Mapping[str, Any]) -> None:
    if bool(values["https_key"]) != bool(values["https_cert"]):
        raise click.UsageError("--https-key and --https-cert must be given together")
    if values["daemon"] and values["stdout"] == values["stderr"] and not values["ignore_stderr"]:
        raise click.UsageError(
            "--stdout and --stderr are the same file, so any output would fail the start; "
            "use two files or --ignore-stderr"
        )


def _require(item: str, base_dir: str) -> str:
    """Module names pass through; paths are made absolute against BASE_DIR (not the cwd,
    so a pyproject.toml entry means the same wherever `start` runs) and must exist."""
    if not is_path(item):
        return item
    path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(item)))
    if not os.path.isfile(path):
        raise click.BadParameter(f"{path} does not exist", param_hint="'--require'")
    return path


def _framework(value: str | None, base_dir: str) -> str | None:
    if value is None or not is_path(value):
        return value
    path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
    if not os.path.isdir(path):
        raise click.BadParameter(f"{path} is not a directory", param_hint="'--framework'")
    return path


def _refuse_if_running(title: str) -> None:
    """Two clusters with one title would make `stop --title` hit both; refuse early."""
    running = procs.find(title)
    if running:
        master = next((cp for cp in running if cp.info.role == "master"), running[0])
        raise AlreadyRunning(
            f"a cluster titled {title} is already running ({master.info.role} pid "
            f"{master.pid}); stop it first: eggscripts stop --title={title}"
        )
