"""Per-process logging to the files docs/DEPLOY.md lists, where operators want them.

Every process of a cluster appends to the same directory: `logger.dir` from the app config
(relative to BASE_DIR), else `<BASE_DIR>/logs/<app name>/` in env local/unittest and
`~/logs/<app name>/` otherwise (egg's `app_info.root`), so a deploy that replaces the app
directory keeps its logs; `<title>` replaces `<app name>` for a cluster started with a
title other than the default (`log_dir_under`). Files: `<app name>-web.log` (app
workers), `egg-agent.log`, `master.log`, and `common-error.log` (every ERROR). Files
are 0600, directories 0700.

Where the directory is not known yet (the master before the agent reported the app's
config, the agent before its config is loaded) records wait in a `PendingHandler` and are
written once `redirect()` names the directory, or the default one at exit: nothing logged
during a start is lost or written to the wrong place.

- O_APPEND keeps lines from many processes whole; `WatchedFileHandler` notices a file
  that logrotate moved, and `reopen()` (SIGUSR1, in every process) reopens every file,
  including the daemon's stdout/stderr logs behind fds 1 and 2.
- `--log-format=json`: one JSON object per line (time, level, pid, role, worker, logger,
  message, exception), in the files and on stdout alike (the access log included).
- In the foreground every process also logs to stdout (`console_wanted`).
- Python warnings are captured into the logs (`logging.captureWarnings`): a deprecation
  warning at boot must not fail a daemon start through its stderr check.
- Until `egg-ready`, ERROR records of the agent and app workers also go to stderr (as in
  egg), so `start --daemon` sees a broken boot; `ready()` ends that.
- Logging never kills a process: a handler that cannot write (full disk) says so once per
  process on stderr, not once per line, and a forked child drops the master's handlers
  without flushing them (runtime/process/log_handlers.py).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import pwd
import sys
from collections.abc import Mapping
from typing import Any

from runtime.contract import titles
from runtime.contract.safe_open import UnsafePath, open_file
from runtime.process.errors import StartupError, report
from runtime.process.log_handlers import (
    Console,
    LogFile,
    TextFormatter,
    drop_inherited_handlers,
    make_formatter,
)
from runtime.process.private_files import make_private_dirs, run_as_owner

# Records carrying this attribute (`extra=NO_STDERR`) skip the until-ready stderr copy:
# a child's one-line startup error reaches the user through the master, exactly once.
NO_STDERR = {"eggscripts_no_stderr": True}
# ... and these (`extra=NO_CONSOLE`) stay off the terminal too: a failed start is the one
# line `report()` printed on stderr, not that line again plus the stop that follows.
NO_CONSOLE = {"eggscripts_no_stderr": True, "eggscripts_no_console": True}
PENDING_LIMIT = 10_000


def default_log_dir(base_dir: str, app_name: str, env: str, title: str | None = None) -> str:
    root = real(base_dir) if env in ("local", "unittest") else _home()
    return log_dir_under(root, app_name, title)


def log_dir_under(root: str, app_name: str, title: str | None) -> str:
    """`<root>/logs/<app name>`; a cluster whose title is not the default one
    (`egg-server-<app name>`) logs to `<root>/logs/<title>` instead, so two clusters of
    one app directory (`--title=shop-a`, `--title=shop-b`) never share log files."""
    own = title is not None and title != titles.default_title(app_name)
    return os.path.join(root, "logs", title if own and title else app_name)


def _home() -> str:
    """`~`; in a root master with `--user`, that user's home: the agent (running as that
    user) reports its default there, and the master's lines of a start that never got that
    far go to the same place, not to a root directory it must not write for the app."""
    owner = run_as_owner()
    if owner is not None and owner[0] != 0:
        with contextlib.suppress(KeyError):
            return pwd.getpwuid(owner[0]).pw_dir
    return os.path.expanduser("~")


def real(base_dir: str) -> str:
    """BASE_DIR resolved when the process starts: switching a release symlink (`current`
    -> `releases/43`) must not move a running process's logs into a directory that may
    not exist; processes started by the next reload log under the new target."""
    return os.path.realpath(base_dir)


def resolve_dir(config: Mapping[str, Any], key: str, base_dir: str) -> str | None:
    """An app config path (`logger.dir` as "logger.dir", or `rundir`), absolute; relative
    paths are relative to the real BASE_DIR."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value:
        return None
    return os.path.normpath(os.path.join(real(base_dir), os.path.expanduser(value)))


def config_dirs(
    config: Mapping[str, Any], base_dir: str, app_name: str, env: str, title: str | None = None
) -> dict[str, str]:
    """`{"log_dir", "run_dir"}` the app config asks for (`logger.dir`, `rundir`), with the
    defaults; the agent reports them in `agent-start` so the master and the app workers
    write where the app's own config says."""
    return {
        "log_dir": resolve_dir(config, "logger.dir", base_dir)
        or default_log_dir(base_dir, app_name, env, title),
        "run_dir": resolve_dir(config, "rundir", base_dir) or os.path.join(real(base_dir), "run"),
    }


def adopt_agent_dirs(options: Any, data: Any) -> Any:
    """Master side of `agent-start`: log to the app's directory from now on (with what was
    held back) and remember both dirs in the options the app workers are forked with.
    Raises StartupError when that directory cannot be written."""
    if not isinstance(data, Mapping) or not isinstance(data.get("log_dir"), str):
        return options
    import dataclasses

    redirect(data["log_dir"], strict=True)
    run_dir = data.get("run_dir") if isinstance(data.get("run_dir"), str) else None
    return dataclasses.replace(options, log_dir=data["log_dir"], run_dir=run_dir)


def console_wanted(env: str, foreground: bool) -> bool:
    """In the foreground, in every env, the app's log lines and tracebacks also go to
    stdout (text or JSON, as --log-format says): a developer watches the terminal, and a
    container's log collector (`kubectl logs`, `docker logs`) reads only stdout. A daemon
    has no one watching: its files are the place to look."""
    return foreground


def access_formatter() -> logging.Formatter:
    """The access log on stdout: the bare common-log line in text, one JSON object like
    every other stdout line with --log-format=json (never plain lines among JSON)."""
    if _state.log_format == "json":
        return make_formatter(_state.role, "json", _state.worker_id)
    return logging.Formatter("%(message)s")


def role_file(role: str, app_name: str) -> str:
    return {"master": "master.log", "agent": "egg-agent.log"}.get(role, f"{app_name}-web.log")


class PendingHandler(logging.Handler):
    """Holds records until the log directory is known (`redirect`), else writes them to the
    default directory when the process exits. Only the process that created it does that:
    a forked child inherits a copy of the buffer that is not its own."""

    def __init__(self, default_dir: str) -> None:
        super().__init__()
        self.default_dir = default_dir
        self.records: list[logging.LogRecord] = []
        self.owner = os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < PENDING_LIMIT:
            self.records.append(record)

    def close(self) -> None:
        if os.getpid() == self.owner and _state.pending is self:
            redirect(self.default_dir, quiet=True)  # best effort at exit: said already
        super().close()


class _State:
    """This process's logging setup (one per process, like the root logger it configures)."""

    role = "master"
    app_name = "app"
    worker_id: int | None = None
    log_format = "text"
    directory: str | None = None
    pending: PendingHandler | None = None
    until_ready: logging.Handler | None = None


_state = _State()


def setup_logging(
    role: str,
    base_dir: str,
    app_name: str,
    stdout: bool = False,
    directory: str | None = None,
    *,
    env: str = "local",
    log_format: str = "text",
    worker_id: int | None = None,
    errors_to_stderr: bool = False,
    title: str | None = None,
    level: str = "info",
) -> logging.Logger:
    """Route the root logger to this role's files (or hold records until `redirect` when
    `directory` is None), optionally to stdout (foreground), and, with
    `errors_to_stderr`, ERROR records to stderr until `ready()`.

    Called once per process, and again in a forked child, which drops the master's
    handlers without flushing them (their buffered lines are the master's to write).
    """
    drop_inherited_handlers()
    root = logging.getLogger()
    _state.role, _state.app_name, _state.worker_id = role, app_name, worker_id
    _state.log_format, _state.directory, _state.pending = log_format, None, None
    formatter = make_formatter(role, log_format, worker_id)
    if stdout:
        console = Console(sys.stdout)
        console.addFilter(lambda record: not getattr(record, "eggscripts_no_console", False))
        console.setFormatter(formatter)
        root.addHandler(console)
    _state.until_ready = None
    if errors_to_stderr and not stdout:
        errors = Console(sys.stderr)
        errors.setLevel(logging.ERROR)
        errors.addFilter(lambda record: not getattr(record, "eggscripts_no_stderr", False))
        errors.setFormatter(TextFormatter(role, worker_id))
        root.addHandler(errors)
        _state.until_ready = errors
    root.setLevel(level.upper())  # --log-level
    logging.captureWarnings(True)
    if directory is None:
        _state.pending = PendingHandler(default_log_dir(base_dir, app_name, env, title))
        root.addHandler(_state.pending)
    else:
        redirect(directory)
    return logging.getLogger(f"eggscripts.{role}")


def redirect(directory: str, strict: bool = False, quiet: bool = False) -> str | None:
    """Write this process's logs to `directory` from now on (and what was pending). Returns
    the directory in use; None when it cannot be written (one line on stderr), or with
    `strict` (the master: a cluster never runs with no log files) a StartupError. `quiet`
    (the agent, which reports the directory to the master) leaves saying so to the master,
    so a start fails with one line, not one per process."""
    root = logging.getLogger()
    directory = os.path.abspath(directory)
    if directory == _state.directory:
        return directory
    try:
        make_private_dirs(directory)
        main = LogFile(os.path.join(directory, role_file(_state.role, _state.app_name)))
        errors = LogFile(os.path.join(directory, "common-error.log"))
        main.stream = main._open()  # fail here, not at the first record, when unwritable
    except OSError as exc:
        text = f"cannot write logs to {directory}: {exc.strerror or exc}"
        if strict:
            raise StartupError(text) from None
        if not quiet:
            report(text)
        return None
    formatter = make_formatter(_state.role, _state.log_format, _state.worker_id)
    main.setFormatter(formatter)
    errors.setFormatter(formatter)
    errors.setLevel(logging.ERROR)
    for handler in list(root.handlers):
        if isinstance(handler, LogFile):
            root.removeHandler(handler)
            handler.close()
    root.addHandler(main)
    root.addHandler(errors)
    _state.directory = directory
    pending, _state.pending = _state.pending, None
    if pending is not None:
        root.removeHandler(pending)
        for record in pending.records:
            for handler in (main, errors):
                if record.levelno >= handler.level:
                    handler.handle(record)
        pending.records.clear()
    return directory


def ready() -> None:
    """`egg-ready` arrived: ERROR records stop going to stderr (files only from now on)."""
    if _state.until_ready is not None:
        logging.getLogger().removeHandler(_state.until_ready)
        _state.until_ready = None


def reopen(stdout_path: str | None = None, stderr_path: str | None = None) -> None:
    """Reopen every log file of this process (SIGUSR1 after logrotate moved them away).

    The daemon's stdout/stderr logs are fds 1 and 2, shared by every process of the
    cluster since fork/spawn: each process points its own fds at the new files."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, LogFile):
            handler.reopen()
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        if not path:
            continue
        try:
            sys.stdout.flush() if fd == 1 else sys.stderr.flush()
            new, _ = open_file(path, run_as_owner(), by_app=False)  # named on root's command line
        except UnsafePath as exc:
            report(f"cannot reopen {path}: {exc.strerror}")
            continue
        except (OSError, ValueError):
            continue
        os.dup2(new, fd)
        os.close(new)
