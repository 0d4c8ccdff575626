"""The cluster options: parsed once from the JSON the CLI hands to `runtime.start_cluster`,
validated, then passed down read-only (no module-level globals).

The JSON keys are the contract of docs/INTERNALS.md §1; an unknown key is an error so a
CLI/runtime version mismatch fails loudly instead of silently dropping an option. The
fields that are `start` options take their default and their checks from the option
definitions the CLI derives its options from (runtime/contract/option_defs.py): a
default or a bound is written there only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from runtime.contract import capacity, option_defs
from runtime.contract.option_defs import DEFAULT_WORKER_TIMEOUT, default
from runtime.contract.titles import check_title
from runtime.process.errors import OptionsError

__all__ = ["ClusterOptions", "HttpsOptions"]
# Kept from the grace period for the final SIGKILLs and the master's own exit.
STOP_MARGIN = 1_000


@dataclasses.dataclass(frozen=True)
class HttpsOptions:
    key: str
    cert: str


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    base_dir: str
    title: str
    name: str | None = None  # app name; the master fills it from pyproject.toml if absent
    port: int | None = default("port")
    hostname: str | None = default("hostname")
    workers: int = 1  # the CLI always says (its default is computed: the CPU count)
    env: str = "prod"  # the CLI always says (its default is computed: config/env, else prod)
    framework: str | None = default("framework")
    https: HttpsOptions | None = None
    require: tuple[str, ...] = default("require")
    ready_fd: int | None = None
    # The title lock `eggscripts start` took for this cluster (runtime/contract/locks.py).
    lock_fd: int | None = None
    startup_timeout: int = default("startup_timeout")
    # Tunables with egg-cluster's defaults (milliseconds / counts).
    # ms an app worker told to stop may drain before SIGKILL; -1: from `graceful_timeout`
    # (--graceful-timeout, seconds), the form the CLI sends.
    kill_app_timeout: int = -1
    graceful_timeout: float = default("graceful_timeout")
    kill_agent_timeout: int = 5_000
    refork_limit: int = 60
    refork_duration: int = 60_000
    agent_restart_delay: int = 1_000
    health_interval: int = 10_000  # runtime/master/lifecycle/watchdogs.py; production envs only
    # An app worker whose event loop sends no heartbeat for this long (ms) is killed and
    # replaced (gunicorn's worker timeout); 0 turns the watch off; None: `heartbeat_timeout`.
    worker_timeout: int | None = default("worker_timeout")
    # Recycling (runtime/master/lifecycle/recycle.py): replace an app worker once it served
    # max_requests + randint(0, max_requests_jitter) requests, or once its RSS exceeds
    # max_worker_memory MiB; 0 turns each off.
    max_requests: int = default("max_requests")
    max_requests_jitter: int = default("max_requests_jitter")
    max_worker_memory: int = default("max_worker_memory")
    # Account the agent and app workers switch to after fork/spawn (runtime/process/privileges.py).
    user: str | None = default("user")
    group: str | None = default("group")
    # Production integration (docs/DEPLOY.md).
    shutdown_delay: int = default("shutdown_delay")  # ms not ready but serving after SIGTERM
    grace_period: int = default("grace_period")  # s the supervisor allows for a stop
    health_port: int | None = None  # /livez /readyz /metrics on the master; None = off
    health_host: str = "127.0.0.1"
    log_format: str = default("log_format")  # "text" | "json" (runtime/process/log_setup.py)
    log_level: str = default("log_level")  # the root logger's level in every process
    # A Unix socket to listen on instead of TCP (--uds); the app config's
    # cluster.listen.path otherwise (runtime/master/lifecycle/startup.py).
    uds: str | None = default("uds")
    # Daemon mode: the files fds 1 and 2 point at, reopened on SIGUSR1 after logrotate.
    stdout_log: str | None = None
    stderr_log: str | None = None
    # Filled by the master from the agent's `agent-start` (the app config's `logger.dir`
    # and `rundir`), so forked app workers log where the agent and the master do.
    log_dir: str | None = None
    run_dir: str | None = None
    # The control socket's path (`status`, `scale`, `reload`), chosen by the CLI; its
    # directory must exist, be ours and mode 700. None: no control channel.
    control_path: str | None = None
    # Set only by an upgrading master for its successor (runtime/master/lifecycle/upgrade.py): the
    # listening socket and the control socket handed down (inherited fds, never a second
    # bind), and the pipe whose end of file says the old master let go of the cluster.
    listen_fd: int | None = None
    control_fd: int | None = None
    handover_fd: int | None = None
    health_fd: int | None = None  # the `--health-port` listening socket, handed down too
    # The application served by the app workers: an egg-style app directory when `app` is
    # None, else an ASGI/WSGI callable named `module:attr` (BASE_DIR on sys.path).
    app: str | None = default("app")
    factory: bool = default("factory")
    interface: str = default("interface")  # auto | asgi | wsgi
    lifespan: str = default("lifespan")  # auto | on | off
    threads: int = default("threads")  # WSGI: size of each worker's thread pool
    # HTTP server settings for every kind of app (runtime/worker/http_server.py).
    root_path: str = default("root_path")
    proxy_headers: bool = default("proxy_headers")
    forwarded_allow_ips: str = default("forwarded_allow_ips")
    access_log: bool = default("access_log")
    keep_alive: float = default("keep_alive")  # s: idle connection (before and between)
    backlog: int = default("backlog")
    limit_concurrency: int | None = default("limit_concurrency")
    max_body: int | None = default("max_body")  # bytes; None = no server-wide cap
    max_header_size: int = default("max_header_size")  # request line + headers, else 431
    max_headers: int = default("max_headers")  # header fields per request, else 431
    header_timeout: float = default("header_timeout")  # s from first byte to last header
    body_timeout: float = default("body_timeout")  # s without a byte of a request body
    server_header: bool = default("server_header")
    date_header: bool = default("date_header")

    def __post_init__(self) -> None:
        if self.kill_app_timeout < 0:
            ms = round(self.graceful_timeout * 1000) if _is_number(self.graceful_timeout) else 0
            object.__setattr__(self, "kill_app_timeout", ms)

    def _validate_defined(self) -> None:
        """Every field that is a `start` option, checked by its definition."""
        for defn in option_defs.START:
            if defn.key in _FIELDS and defn.key != "title":
                problem = defn.problem(getattr(self, defn.key))
                if problem is not None:
                    raise OptionsError(problem)
        if self.root_path and not self.root_path.startswith("/"):
            raise OptionsError(f"root_path must start with '/', got {self.root_path!r}")

    @property
    def bind_host(self) -> str:
        return self.hostname or "0.0.0.0"

    @property
    def refork(self) -> bool:
        """egg-cluster reforks dead workers except in local/unittest, where a crash should
        be seen by the developer rather than papered over."""
        return self.env not in ("local", "unittest")

    @property
    def heartbeat_timeout(self) -> int:
        """The worker timeout in effect (ms, 0 = off). Off by default in local/unittest, like
        reforking: a developer paused in a debugger must not have the worker killed."""
        if self.worker_timeout is not None:
            return self.worker_timeout
        return DEFAULT_WORKER_TIMEOUT if self.refork else 0

    def as_started(self) -> dict[str, Any]:
        """The JSON keys this cluster was started with, minus what belongs to one launch
        (the ready channel, the title lock) or what the master filled in itself (the log
        and run directories the agent reported): `restart` launches a copy from it."""
        raw = dataclasses.asdict(self)
        for key in ("ready_fd", "lock_fd", "log_dir", "run_dir"):
            raw.pop(key)
        return raw

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ClusterOptions:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise OptionsError(f"cluster options are not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise OptionsError("cluster options must be a JSON object")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ClusterOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise OptionsError(f"unknown cluster option(s): {', '.join(unknown)}")
        missing = [k for k in ("base_dir", "title") if not raw.get(k)]
        if missing:
            raise OptionsError(f"missing cluster option(s): {', '.join(missing)}")
        values = dict(raw)
        https = values.get("https")
        if https is not None:
            if not isinstance(https, dict) or not https.get("key") or not https.get("cert"):
                raise OptionsError('"https" needs both "key" and "cert"')
            values["https"] = HttpsOptions(key=str(https["key"]), cert=str(https["cert"]))
        values["require"] = tuple(values.get("require") or ())
        opts = cls(**values)
        opts.validate()
        return opts

    def validate(self) -> None:
        if not os.path.isabs(self.base_dir) or not os.path.isdir(self.base_dir):
            raise OptionsError(f"app directory not found: {self.base_dir}")
        problem = check_title(self.title)
        if problem is not None:
            raise OptionsError(problem)
        self._validate_defined()
        if self.workers is None:
            raise OptionsError("workers must be an integer >= 1, got None")
        problem = capacity.workers_problem(self.workers)  # the bound of start and scale
        if problem is not None:
            raise OptionsError(problem)
        if not self.env:
            raise OptionsError("env must not be empty")
        for name in ("user", "group"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise OptionsError(f"{name} must be a non-empty string, got {value!r}")
        path = self.control_path
        if path is not None and (not isinstance(path, str) or not os.path.isabs(path)):
            raise OptionsError(f"control_path must be an absolute path, got {path!r}")
        if path is not None and len(os.fsencode(path)) >= 108:  # sun_path, with its NUL
            raise OptionsError(f"control_path is too long for a Unix socket: {path}")
        if self.https:
            for path in (self.https.key, self.https.cert):
                if not os.path.isfile(path):
                    raise OptionsError(f"HTTPS file not found: {path}")
        self.validate_production()

    def validate_production(self) -> None:
        port = self.health_port
        if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
            raise OptionsError(f"health_port must be between 0 and 65535, got {port!r}")
        self.check_grace_period()

    def check_grace_period(self) -> None:
        """A stop that outlasts the supervisor's kill timeout gets SIGKILLed mid-request and
        orphans workers (gunicorn PR #1106): refuse such a configuration at start."""
        parts = [
            (f"--shutdown-delay {self.shutdown_delay} ms", self.shutdown_delay),
            (f"app drain (--graceful-timeout) {self.kill_app_timeout} ms", self.kill_app_timeout),
            (f"agent stop (kill_agent_timeout) {self.kill_agent_timeout} ms",
             self.kill_agent_timeout),
            (f"{STOP_MARGIN} ms to exit", STOP_MARGIN),
        ]  # fmt: skip
        total = sum(ms for _, ms in parts)
        if total > self.grace_period * 1000:
            named = " + ".join(text for text, ms in parts if ms)
            raise OptionsError(
                f"{named} = {total} ms does not fit --grace-period {self.grace_period} s: "
                "lower --shutdown-delay or raise --grace-period (and the supervisor's "
                "terminationGracePeriodSeconds / TimeoutStopSec)"
            )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_FIELDS = frozenset(f.name for f in dataclasses.fields(ClusterOptions))
