"""`eggscripts dev`: run the app in the foreground and reload it when its files change.

egg-bin dev and `uvicorn --reload` restart the server on a change, so a broken edit leaves
it down until the error is fixed. Here a change is a rolling reload (the one `eggscripts
reload` asks for, docs/CLI.md): the new code must boot before the old code leaves, so a
broken edit prints its one line and the last good code keeps serving.

The master stays what it always is, one single-threaded loop: this process runs it as a
child in its own session (so Ctrl-C reaches this process only, and the master gets exactly
one SIGINT from us), watches the files itself (dev_watch.py) and asks for each reload over
the control channel, printing the outcome.
"""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import subprocess
import time
from types import MappingProxyType
from typing import Any

import click
from click.core import ParameterSource

from eggscripts.client import control_client
from eggscripts.cmd import start
from eggscripts.dev import dev_watch
from eggscripts.errors import PREFIX, EggScriptsError
from eggscripts.launching.launch import Plan
from eggscripts.options import app_target
from eggscripts.options import registry as options
from eggscripts.options.start_options import StartOptions
from runtime.contract import handoff
from runtime.contract.control import ControlAction
from runtime.contract.framing import FrameReader

DAEMON_ONLY = ("daemon", "stdout", "stderr", "timeout", "ignore_stderr", "user", "group")
DEV_DEFAULTS = {"env": "local", "workers": "1"}  # shown in --help; applied in `adjust`
DEV: tuple[Any, ...] = tuple(
    dataclasses.replace(spec, default_text=DEV_DEFAULTS[spec.name])
    if spec.name in DEV_DEFAULTS
    else spec
    for spec in options.START
    if spec.name not in DAEMON_ONLY
)
# What `start` would use for the options dev does not offer.
FIXED = {
    "daemon": False,
    "ignore_stderr": False,
    "user": None,
    "group": None,
    "timeout": options.TIMEOUT.default,
}
ASKED = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
# The master's exit statuses that an edit may cure: 3 an app worker failed to boot, 4 the
# app failed to load, 5 the agent failed to start (docs/CLI.md, exit statuses).
CODE_FAILURES = (3, 4, 5)
# A reload of a small app takes well under a second; a wedged one is given up on.
RELOAD_LIMIT = 120.0
# After Ctrl-C the master stops gracefully; past this, a second SIGINT forces it.
STOP_LIMIT = 30.0


@click.command(
    "dev",
    short_help="Run the app in the foreground, reloading it when its files change.",
    params=[*options.click_params(DEV), app_target.base_dir_argument()],
    epilog="Examples: `eggscripts dev` (the app in the current directory); "
    "`eggscripts dev --port=8080 examples/showcase`; `eggscripts dev shop.main:app`.",
)
@click.pass_context
def command(ctx: click.Context, /, base_dir: str, **_: Any) -> None:
    """Run a cluster in the foreground for development, with --env local and one app
    worker (unless --env/EGG_SERVER_ENV or --workers/EGG_WORKERS say otherwise; the
    pyproject.toml values of these two are for deployments and are not used here), its
    logs on the terminal.

    The app's files are watched (app/, config/, lib/, plugins/, app.py, agent.py, the
    --framework directory, the package of a module:attr app, .env, pyproject.toml; not
    logs/, run/, virtualenvs or caches). After a change, the agent and then the app
    workers are replaced one at a time, as `eggscripts reload` does (the agent keeps
    running when only files it never loads changed: app/ but app/extend/agent.py, app.py,
    the package of a module:attr app that has no agent.py): the new code answers
    once it has booted, and an edit that does not boot (a syntax error, a failing import
    or Boot hook) prints one line with the file and line while the last good code keeps
    serving. The next edit that boots serves again. If the app's code cannot start at all
    (exit status 3, 4 or 5 of `start`), the next change starts it again.

    Ctrl-C (or SIGTERM) stops the cluster gracefully; a second Ctrl-C forces it. Exit
    status: the master's after Ctrl-C (0 when it stopped gracefully, or when it was not
    running), 2 bad usage, 1 other errors (the port is taken, a cluster of that title
    already runs).
    """
    values, plan = start.prepare(ctx, base_dir, DEV, lambda v: _dev_defaults(ctx, v))
    watcher = dev_watch.Watcher(
        dev_watch.watched_paths(plan.base_dir, values["app"], values.framework), plan.base_dir
    )
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = Session(plan, watcher, values["app"]).run()
    finally:
        watcher.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    ctx.exit(code)


def _dev_defaults(ctx: click.Context, values: StartOptions) -> StartOptions:
    env = values.env if ctx.get_parameter_source("env") in ASKED else "local"
    workers = values.workers if ctx.get_parameter_source("workers") in ASKED else 1
    given = MappingProxyType({**FIXED, **values.given})
    return dataclasses.replace(values, env=env, workers=workers, given=given)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM and SIGHUP (the terminal closed) stop the cluster like Ctrl-C."""
    raise KeyboardInterrupt


class Session:
    """One `dev` run: the master as a child, started again after it stops by itself once
    something changes, until Ctrl-C."""

    def __init__(self, plan: Plan, watcher: dev_watch.Watcher, app: str | None) -> None:
        self.plan = plan
        self.app = app
        self.watcher = watcher
        self.master: subprocess.Popen[bytes] | None = None

    def run(self) -> int:
        try:
            while True:
                code = self.serve()
                if code not in CODE_FAILURES:
                    return code  # not the app's code (the port is taken, ...): no edit helps
                echo(
                    f"{self.plan.title} stopped (exit status {code}); "
                    "waiting for a change to start it again (Ctrl-C quits)"
                )
                self.wait_for_change()
        except KeyboardInterrupt:
            return self.stop()

    def serve(self) -> int:
        """Start the master; reload it on every change until it exits; its status."""
        master = self.launch()
        if self.watcher.idle():
            self.watcher.start()  # while the master boots; changes from now on count
        if self.wait_ready(master):
            while master.poll() is None:
                changed = self.watcher.wait()
                if changed and master.poll() is None:
                    self.reload(changed)
        return master.wait()

    def launch(self) -> subprocess.Popen[bytes]:
        read_fd, write_fd = os.pipe()
        keep = [write_fd] if self.plan.lock_fd is None else [write_fd, self.plan.lock_fd]
        try:
            self.master = subprocess.Popen(
                self.plan.argv(ready_fd=write_fd),
                # A .pyc records its source's mtime in whole seconds and its size: a second
                # save within the same second, same size, would be served from the first
                # one's .pyc. Written by no reload, none can be stale.
                env={**self.plan.env, "PYTHONDONTWRITEBYTECODE": "1"},
                cwd=handoff.START_DIR,  # the runtime enters BASE_DIR itself
                pass_fds=keep,
                start_new_session=True,
            )
        except OSError as exc:
            os.close(read_fd)
            raise EggScriptsError(f"cannot run {self.plan.python}: {exc.strerror}") from None
        finally:
            os.close(write_fd)
        self.ready = FrameReader(read_fd)
        return self.master

    def wait_ready(self, master: subprocess.Popen[bytes]) -> bool:
        """Until `egg-ready` (True) or the master's end (False); the master prints its own
        progress and errors on the terminal."""
        try:
            while True:
                select.select([self.ready.fd], [], [], dev_watch.POLL_MS / 1000)
                for frame in self.ready.read():
                    if frame.get("action") == "egg-ready":
                        return True
                if self.ready.eof:
                    return False
        finally:
            self.ready.close()

    def reload(self, changed: list[str]) -> None:
        what = dev_watch.describe(changed, self.plan.base_dir)
        began = time.monotonic()
        try:
            agent = dev_watch.agent_loads(changed, self.plan.base_dir, self.app)
            request = {"wait": True, "agent": agent}
            control_client.call(self.plan.title, ControlAction.RELOAD, request, RELOAD_LIMIT)
        except control_client.ControlFailed as exc:
            echo(f"{what} changed; {_failure(exc)}", err=True)
        except EggScriptsError as exc:
            echo(f"{what} changed; reload failed: {exc.message}", err=True)
        else:
            echo(f"{what} changed; reloaded in {time.monotonic() - began:.2f}s")

    def wait_for_change(self) -> None:
        while not self.watcher.wait():
            pass

    def stop(self) -> int:
        """One SIGINT (the master's Ctrl-C: a graceful stop); another Ctrl-C, or
        STOP_LIMIT, sends the second one, which the master takes as "force"."""
        master = self.master
        if master is None or master.poll() is not None:
            return 0  # it had stopped by itself, and said why then
        master.send_signal(signal.SIGINT)
        try:
            return master.wait(STOP_LIMIT)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            if master.poll() is None:
                master.send_signal(signal.SIGINT)
            return master.wait()


def _failure(exc: control_client.ControlFailed) -> str:
    """The master's one line, shortened: where the edit broke, and what still serves."""
    message = exc.message.removesuffix("; the old workers keep serving")
    if not exc.data.get("replaced"):
        return f"the last good code keeps serving: {message}"
    return f"reload failed: {message}"


def echo(text: str, err: bool = False) -> None:
    click.echo(f"{PREFIX} {text}", err=err)
