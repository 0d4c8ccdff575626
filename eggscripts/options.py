"""The option registry: every command-line option is declared once, here.

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

from eggscripts.app_options import APP_SPECS, HTTP_SPECS
from eggscripts.app_settings import TOOL_TABLE, AppInfo
from eggscripts.errors import PREFIX, ConfigError
from eggscripts.option_spec import OptionSpec
from eggscripts.recycle_options import RECYCLE_SPECS
from eggscripts.types import (
    HostPortType,
    ModuleOrPathType,
    PathType,
    PythonType,
    RunningTitleType,
    TitleType,
)

# ---- start (SPEC §2.1) and stop (SPEC §2.2) --------------------------------------------

TITLE = OptionSpec(
    "title",
    "Process title of the cluster (letters, digits, '.', '_', '-'); "
    "`stop` and `ps` find the cluster by it.",
    type=TitleType(),
    default_text="egg-server-<app name>",
)
PORT = OptionSpec(
    "port",
    "HTTP port to listen on.",
    type=click.IntRange(1, 65535),
    aliases=("-p",),
    envvar="PORT",
    default_text="app config cluster.listen.port, else 7001",
    metavar="PORT",
)
HOSTNAME = OptionSpec(
    "hostname",
    "Address to bind.",
    default_text="0.0.0.0 (all interfaces)",
    metavar="HOST",
)
WORKERS = OptionSpec(
    "workers",
    "Number of app worker processes (at most 16 per CPU, and one per 40 MiB of memory).",
    type=click.IntRange(min=1),
    aliases=("-c", "--cluster"),
    envvar="EGG_WORKERS",
    default_text="number of CPUs",
    metavar="N",
)
ENV = OptionSpec(
    "env",
    "Server environment, exported to the cluster as EGG_SERVER_ENV (surrounding blanks "
    "are trimmed).",
    envvar="EGG_SERVER_ENV",
    default_text="the app's config/env file, else prod",
    metavar="NAME",
)
FRAMEWORK = OptionSpec(
    "framework",
    "Framework package (import name, or a directory relative to BASE_DIR).",
    type=ModuleOrPathType(),
    default_text="built-in",
)
DAEMON = OptionSpec(
    "daemon", "Run the cluster in the background (detached).", is_flag=True, default=False
)
STDOUT = OptionSpec(
    "stdout",
    "Daemon: file receiving the cluster's stdout (rotated first if not empty).",
    type=PathType(dir_okay=False),
    default_text="~/logs/<title>/master-stdout.log",
    metavar="PATH",
)
STDERR = OptionSpec(
    "stderr",
    "Daemon: file receiving the cluster's stderr; any output there fails the start.",
    type=PathType(dir_okay=False),
    default_text="~/logs/<title>/master-stderr.log",
    metavar="PATH",
)
TIMEOUT = OptionSpec(
    "timeout",
    "Daemon: give up (and stop what was started) if the cluster is not ready after this "
    "many milliseconds.",
    type=click.IntRange(min=1),
    default=300_000,
    metavar="MS",
)
IGNORE_STDERR = OptionSpec(
    "ignore_stderr",
    "Daemon: do not fail the start when the stderr log receives output.",
    is_flag=True,
    default=False,
)
HTTPS_KEY = OptionSpec(
    "https_key",
    "Serve HTTPS with this private key file (needs --https-cert).",
    type=PathType(exists=True, dir_okay=False),
    metavar="PATH",
)
HTTPS_CERT = OptionSpec(
    "https_cert",
    "Serve HTTPS with this certificate file (needs --https-key).",
    type=PathType(exists=True, dir_okay=False),
    metavar="PATH",
)
REQUIRE = OptionSpec(
    "require",
    "Import this module (or ./file.py, relative to BASE_DIR) in every process before the "
    "app loads. Repeatable.",
    type=ModuleOrPathType(),
    multiple=True,
    default=(),
)
PYTHON = OptionSpec(
    "python",
    "Interpreter running the cluster, e.g. the app's virtualenv (eggscripts must be "
    "installed there).",
    type=PythonType(),
    default_text="the interpreter running eggscripts",
    metavar="PATH",
)
WORKER_TIMEOUT = OptionSpec(
    "worker_timeout",
    "Kill and replace an app worker (or the agent) whose event loop sent no heartbeat for "
    "this many milliseconds (blocked by synchronous code); its Python stacks are dumped to "
    "stderr first (a stopped process dumps nothing, and the log says so). Time the master "
    "itself was paused does not count. 0 turns this off.",
    type=click.IntRange(min=0),
    default_text="30000; 0 (off) with --env local or unittest",
    metavar="MS",
)
USER = OptionSpec(
    "user",
    "Run the agent and app workers as this user (name or uid), switched right after the "
    "port is bound; the master stays root. Needs root.",
    default_text="the user running start",
    metavar="USER",
)
GROUP = OptionSpec(
    "group",
    "Run the agent and app workers with this group (name or gid). Needs root.",
    default_text="the --user's primary group",
    metavar="GROUP",
)
# ---- production integration (SPEC §11, docs/DEPLOY.md) ----------------------------------
SHUTDOWN_DELAY = OptionSpec(
    "shutdown_delay",
    "After SIGTERM, keep serving this many milliseconds while /readyz reports not ready "
    "(so a load balancer or Kubernetes stops routing here first), then drain.",
    metavar="MS",
    default=0,
    type=click.IntRange(min=0),
)
GRACE_PERIOD = OptionSpec(
    "grace_period",
    "Seconds the supervisor waits after SIGTERM before SIGKILL (Kubernetes' "
    "terminationGracePeriodSeconds, systemd's TimeoutStopSec); the start is refused when "
    "--shutdown-delay plus the drain timeouts cannot fit in it.",
    metavar="S",
    default=30,
    type=click.IntRange(min=1),
)
HEALTH_PORT = OptionSpec(
    "health_port",
    "Serve /livez, /readyz and /metrics (Prometheus) from the master on this port; "
    "loopback unless a host is given (`0.0.0.0:9000` for Kubernetes probes).",
    type=HostPortType(),
    default_text="off",
    metavar="[HOST:]PORT",
)
LOG_FORMAT = OptionSpec(
    "log_format",
    "Format of the log files: `text` lines, or `json` (one object per line: time, level, "
    "pid, role, worker, logger, message, exception).",
    type=click.Choice(["text", "json"]),
    default="text",
    metavar="FORMAT",
)

START: tuple[OptionSpec, ...] = (
    TITLE, PORT, HOSTNAME, WORKERS, ENV, FRAMEWORK, DAEMON, STDOUT, STDERR, TIMEOUT,
    IGNORE_STDERR, HTTPS_KEY, HTTPS_CERT, REQUIRE, PYTHON, WORKER_TIMEOUT, USER, GROUP,
    SHUTDOWN_DELAY, GRACE_PERIOD, HEALTH_PORT, LOG_FORMAT, *RECYCLE_SPECS,
    *APP_SPECS, *HTTP_SPECS,
)  # fmt: skip

# ---- commands acting on a running cluster (SPEC §2.2, §2.3, §10) ----------------------

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
        type=click.IntRange(min=1),
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
        type=click.IntRange(min=1),
        default=30_000,
        metavar="MS",
        in_pyproject=False,
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
