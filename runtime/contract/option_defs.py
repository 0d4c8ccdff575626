"""`start`'s options, declared once: name, type, default, bounds, help.

Both sides derive from these definitions: the CLI its click options, `--help`, man pages,
completions, docs/CLI.md tables and `[tool.eggscripts]` keys (`eggscripts/options/registry.py`);
the runtime the defaults and the checks of `ClusterOptions`
(`runtime/process/cluster_options.py`), the JSON the CLI hands to `runtime.start_cluster`
(docs/INTERNALS.md §1). A default or a bound is written here and nowhere else;
tests/process/eggscripts/test_option_contract.py compares every place that shows one.

Every one is also read from the environment variable `EGGSCRIPTS_<NAME>` (`ENV_PREFIX`),
after the command line and before pyproject.toml; `envvar` names an older egg variable
(PORT, EGG_WORKERS, EGG_SERVER_ENV) that ranks below it (docs/CLI.md, "Environment").

`key` is the option's name in that JSON (and its `ClusterOptions` field); an empty key
marks an option only the CLI uses (`--daemon`) or one it maps by hand (`--https-key` and
`--https-cert` become `https`, `--health-port` becomes `health_host`/`health_port`).
"""

from __future__ import annotations

from typing import Any

from runtime.contract.app_option_defs import APP_AND_HTTP
from runtime.contract.optiondef import OptionDef

ENV_PREFIX = "EGGSCRIPTS_"
DEFAULT_PORT = 7001  # when neither an option nor the app config's cluster.listen.port says
DEFAULT_WORKER_TIMEOUT = 30_000  # ms; 0 (off) in the local and unittest environments


# ---- which cluster, where ------------------------------------------------------------------
TITLE = OptionDef(
    "title",
    "Process title of the cluster (letters, digits, '.', '_', '-'); "
    "`stop` and `ps` find the cluster by it.",
    default_text="egg-server-<app name>",
)
PORT = OptionDef(
    "port",
    "HTTP port to listen on.",
    int,
    minimum=1,
    maximum=65535,
    aliases=("-p",),
    envvar="PORT",
    default_text=f"app config cluster.listen.port, else {DEFAULT_PORT}",
    metavar="PORT",
)
HOSTNAME = OptionDef(
    "hostname", "Address to bind.", default_text="0.0.0.0 (all interfaces)", metavar="HOST"
)
WORKERS = OptionDef(
    "workers",
    "Number of app worker processes (at most 16 per CPU, and one per 40 MiB of memory; "
    "`scale` has the same bound).",
    int,
    minimum=1,
    aliases=("-c", "--cluster"),
    envvar="EGG_WORKERS",
    default_text="number of CPUs",
    metavar="N",
)
ENV = OptionDef(
    "env",
    "Server environment, exported to the cluster as EGG_SERVER_ENV (surrounding blanks "
    "are trimmed).",
    envvar="EGG_SERVER_ENV",
    default_text="the app's config/env file, else prod",
    metavar="NAME",
)
ENV_FILE = OptionDef(
    "env_file",
    "Read environment variables from this dotenv file (KEY=value lines) before the other "
    "options: they reach every process of the cluster and may set EGGSCRIPTS_<OPTION>; "
    "variables already in the environment win.",
    metavar="PATH",
    in_pyproject=False,
    key="",
)
FRAMEWORK = OptionDef(
    "framework",
    "Framework package (import name, or a directory relative to BASE_DIR).",
    default_text="built-in",
)
# ---- daemon ----------------------------------------------------------------------------------
DAEMON = OptionDef("daemon", "Run the cluster in the background (detached).", bool, False, key="")
STDOUT = OptionDef(
    "stdout",
    "Daemon: file receiving the cluster's stdout (rotated first if not empty).",
    default_text="~/logs/<title>/master-stdout.log",
    metavar="PATH",
    key="stdout_log",
)
STDERR = OptionDef(
    "stderr",
    "Daemon: file receiving the cluster's stderr; any output there fails the start.",
    default_text="~/logs/<title>/master-stderr.log",
    metavar="PATH",
    key="stderr_log",
)
TIMEOUT = OptionDef(
    "timeout",
    "Daemon: give up (and stop what was started) if the cluster is not ready after this "
    "many milliseconds.",
    int,
    300_000,
    minimum=1,
    metavar="MS",
    unit="ms",
    key="startup_timeout",
)
IGNORE_STDERR = OptionDef(
    "ignore_stderr",
    "Daemon: do not fail the start when the stderr log receives output.",
    bool,
    False,
    key="",
)
HTTPS_KEY = OptionDef(
    "https_key",
    "Serve HTTPS with this private key file (needs --https-cert).",
    metavar="PATH",
    key="",
)
HTTPS_CERT = OptionDef(
    "https_cert",
    "Serve HTTPS with this certificate file (needs --https-key).",
    metavar="PATH",
    key="",
)
REQUIRE = OptionDef(
    "require",
    "Import this module (or ./file.py, relative to BASE_DIR) in every process before the "
    "app loads. Repeatable.",
    multiple=True,
    default=(),
)
PYTHON = OptionDef(
    "python",
    "Interpreter running the cluster, e.g. the app's virtualenv (eggscripts must be "
    "installed there).",
    default_text="the interpreter running eggscripts",
    metavar="PATH",
    key="",
)
WORKER_TIMEOUT = OptionDef(
    "worker_timeout",
    "Kill and replace an app worker (or the agent) whose event loop sent no heartbeat for "
    "this many milliseconds (blocked by synchronous code); its Python stacks are dumped to "
    "stderr first (a stopped process dumps nothing, and the log says so). Time the master "
    "itself was paused does not count. 0 turns this off.",
    int,
    minimum=0,
    default_text=f"{DEFAULT_WORKER_TIMEOUT}; 0 (off) with --env local or unittest",
    metavar="MS",
    unit="ms",
)
USER = OptionDef(
    "user",
    "Run the agent and app workers as this user (name or uid), switched right after the "
    "port is bound; the master stays root. Needs root.",
    default_text="the user running start",
    metavar="USER",
)
GROUP = OptionDef(
    "group",
    "Run the agent and app workers with this group (name or gid). Needs root.",
    default_text="the --user's primary group",
    metavar="GROUP",
)
LOG_LEVEL = OptionDef(
    "log_level",
    "Lowest level logged by the master, the agent and the app workers (files and console; "
    "the access log is info).",
    choices=("debug", "info", "warning", "error", "critical"),
    default="info",
    metavar="LEVEL",
)
UDS = OptionDef(
    "uds",
    "Listen on this Unix socket instead of TCP (uvicorn's --uds; the command-line form of "
    "the app config's cluster.listen.path). Relative paths are relative to BASE_DIR.",
    default_text="TCP (--port)",
    metavar="PATH",
)
# ---- production integration (docs/DEPLOY.md) -------------------------------------------------
SHUTDOWN_DELAY = OptionDef(
    "shutdown_delay",
    "After SIGTERM, keep serving this many milliseconds while /readyz reports not ready "
    "(so a load balancer or Kubernetes stops routing here first), then drain.",
    int,
    0,
    minimum=0,
    metavar="MS",
    unit="ms",
)
GRACE_PERIOD = OptionDef(
    "grace_period",
    "Seconds the supervisor waits after SIGTERM before SIGKILL (Kubernetes' "
    "terminationGracePeriodSeconds, systemd's TimeoutStopSec); the start is refused when "
    "--shutdown-delay plus the drain timeouts cannot fit in it.",
    int,
    30,
    minimum=1,
    metavar="S",
    unit="s",
)
GRACEFUL_TIMEOUT = OptionDef(
    "graceful_timeout",
    "On a stop, seconds each app worker may take to finish its open requests and run the "
    "app's shutdown before it is killed (gunicorn's --graceful-timeout); counted in "
    "--grace-period.",
    float,
    5.0,
    minimum=0,
    min_open=True,
    metavar="S",
    unit="s",
)
HEALTH_PORT = OptionDef(
    "health_port",
    "Serve /livez, /readyz and /metrics (Prometheus) from the master on this port; "
    "loopback unless a host is given (`0.0.0.0:9000` for Kubernetes probes).",
    default_text="off",
    metavar="[HOST:]PORT",
    key="",
)
LOG_FORMAT = OptionDef(
    "log_format",
    "Format of the log files: `text` lines, or `json` (one object per line: time, level, "
    "pid, role, worker, logger, message, exception).",
    choices=("text", "json"),
    default="text",
    metavar="FORMAT",
)
# ---- recycling app workers (docs/DEPLOY.md, "Recycling workers") ---------------------------
MAX_REQUESTS = OptionDef(
    "max_requests",
    "Replace an app worker once it has served this many requests (gunicorn's "
    "--max-requests): its replacement accepts before it leaves, one worker at a time. "
    "0 turns this off.",
    int, 0, minimum=0, metavar="N",
)  # fmt: skip
MAX_REQUESTS_JITTER = OptionDef(
    "max_requests_jitter",
    "Add randint(0, J) to each worker's --max-requests, so workers started together are "
    "not all replaced together (gunicorn's --max-requests-jitter).",
    int, 0, minimum=0, metavar="J",
)  # fmt: skip
MAX_WORKER_MEMORY = OptionDef(
    "max_worker_memory",
    "Replace an app worker whose resident memory exceeds this many MiB (pm2's "
    "max_memory_restart), the same way as --max-requests. 0 turns this off.",
    int, 0, minimum=0, metavar="MIB",
)  # fmt: skip
CLUSTER: tuple[OptionDef, ...] = (
    TITLE, PORT, HOSTNAME, WORKERS, ENV, ENV_FILE, FRAMEWORK, DAEMON, STDOUT, STDERR, TIMEOUT,
    IGNORE_STDERR, HTTPS_KEY, HTTPS_CERT, REQUIRE, PYTHON, WORKER_TIMEOUT, USER, GROUP,
    SHUTDOWN_DELAY, GRACE_PERIOD, HEALTH_PORT, LOG_FORMAT,
)  # fmt: skip
RECYCLING: tuple[OptionDef, ...] = (MAX_REQUESTS, MAX_REQUESTS_JITTER, MAX_WORKER_MEMORY)
PROCESSES: tuple[OptionDef, ...] = (GRACEFUL_TIMEOUT, LOG_LEVEL, UDS)
# Sent in the runtime's JSON only when not at their default (which the runtime shares), so
# the JSON stays as short as the command line that produced it.
SENT_WHEN_SET: tuple[OptionDef, ...] = (*RECYCLING, *PROCESSES, *APP_AND_HTTP)
START: tuple[OptionDef, ...] = (*CLUSTER, *SENT_WHEN_SET)
BY_KEY: dict[str, OptionDef] = {d.key: d for d in START if d.key}


def default(key: str) -> Any:
    """The default of the option whose JSON key is `key` (for `ClusterOptions` fields)."""
    return BY_KEY[key].default
