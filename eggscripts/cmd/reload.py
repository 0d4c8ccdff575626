"""`eggscripts reload`: a rolling restart that keeps capacity, and tells the truth (§10).

The roll is the master's work; this command asks for it over the control channel,
shows the progress the master streams (k/N replaced) and ends with the master's verdict:
its final frame's exit status becomes ours.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import click

from eggscripts import __version__
from eggscripts.client import control_client, targets
from eggscripts.errors import PREFIX
from eggscripts.options import app_settings
from eggscripts.options import registry as options
from runtime.contract.control import FINAL, ControlAction, ReloadRequest, Reply

# The master bounds the roll by --timeout; this is how much longer we give it to say so.
ANSWER_GRACE = 10.0


@click.command(
    "reload",
    short_help="Restart the workers one at a time, without downtime.",
    params=[*options.click_params(options.RELOAD), options.base_dir_argument()],
    epilog="Examples: `eggscripts reload` (the app in the current directory); "
    "`eggscripts reload --title=shop --timeout=60000`; `ln -sfn releases/42 current && "
    "eggscripts reload --title=shop`; after `pip install -U eggscripts`: "
    "`eggscripts reload --upgrade --title=shop`.",
)
@click.pass_context
def command(ctx: click.Context, /, base_dir: str, **_: Any) -> None:
    """Replace the agent, then every app worker one at a time, with capacity kept at N.

    For each worker one extra is started; only when it has booted and accepts is an old
    one told to leave (finish in-flight requests, before_close, exit). The first new
    worker is a canary: if it cannot boot, nothing else is replaced, the old workers keep
    serving and the error is printed as one line. A BASE_DIR symlink is resolved again,
    so switching `current` to a new release and reloading serves the new release.
    SIGHUP to the master does the same. With --upgrade the master itself is replaced
    by one running the installed eggscripts, on the same socket (SIGUSR2 does the same).
    The cluster is --title, else the one cluster started from BASE_DIR when it is given,
    else the app in the current directory. Exit status: 0 every worker replaced, the
    master's code (1, 3, 4, ...) when the roll failed or stopped, 2 bad usage, 3 not
    running.
    """
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, options.RELOAD, app)
    title = targets.one_title(ctx, values["title"], app, "reload")
    if values["upgrade"]:
        upgrade(title, values["timeout"], UpgradeView(title, sys.stdout), not values["no_wait"])
        return
    timeout_ms, wait = values["timeout"], not values["no_wait"]
    limit = None if timeout_ms is None or not wait else timeout_ms / 1000 + ANSWER_GRACE
    view = ReloadView(title, sys.stdout)
    with control_client.connect(title) as conn:
        conn.request(ControlAction.RELOAD, ReloadRequest(timeout=timeout_ms, wait=wait))
        try:
            for frame in conn.replies(limit if wait else control_client.CONNECT_TIMEOUT * 2):
                view.show(frame)
        finally:
            view.finish_line()
        view.conclude()


class ReloadView:
    """Turns the master's frames into lines: progress, the version note, the verdict."""

    verb = "reloading"

    def __init__(self, title: str, stream: TextIO) -> None:
        self.title = title
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()
        self.final: dict[str, Any] = {}
        self._drawn = False

    def show(self, frame: dict[str, Any]) -> None:
        action, data = frame.get("action"), frame.get("data")
        data = data if isinstance(data, dict) else {}
        if action == Reply.ACCEPTED:
            self.accepted(data)
        elif action in FINAL:
            self.final = frame
        else:
            self.progress(data)

    def accepted(self, data: dict[str, Any]) -> None:
        version = data.get("version")
        if version and version != __version__:
            self.line(
                f"note: the master of {self.title} runs eggscripts {version} and {__version__} "
                "is installed: reload replaces the workers only; `eggscripts reload --upgrade "
                f"--title={self.title}` replaces the master too, without downtime"
            )

    def progress(self, data: dict[str, Any]) -> None:
        text = data.get("message")
        if not text and data.get("phase") == "agent" and data.get("agent"):
            text = f"agent replaced (pid {data['agent']})"
        if not text and "replaced" in data and "total" in data:
            text = f"{data['replaced']}/{data['total']} replaced"
        if not text:
            return
        elapsed = time.monotonic() - self.started
        if self.live:
            self.stream.write(f"\r\x1b[K{PREFIX} {self.verb} {self.title}: {text} ({elapsed:.1f}s)")
            self.stream.flush()
            self._drawn = True
        else:
            self.line(f"{self.verb} {self.title}: {text}")

    def finish_line(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def line(self, text: str) -> None:
        self.finish_line()
        click.echo(f"{PREFIX} {text}", file=self.stream)

    def conclude(self) -> None:
        """Print the verdict; raise with the master's exit status when it failed."""
        try:
            data = control_client.result(self.final)
        except control_client.ControlFailed as exc:
            done = exc.data.get("replaced")
            total = exc.data.get("total")
            suffix = f" ({done}/{total} workers run the new code)" if done is not None else ""
            raise control_client.ControlFailed(
                f"reload of {self.title} failed: {exc.message}{suffix}", exc.exit_code
            ) from None
        data = data if isinstance(data, dict) else {}
        if data.get("waited") is False:
            self.line(f"reload of {self.title} requested (not waiting for it)")
            return
        elapsed = time.monotonic() - self.started
        parts = []
        if data.get("agent"):
            parts.append(f"agent pid {data['agent']}")
        workers = data.get("workers") or []
        if workers:
            parts.append(f"app pids {', '.join(map(str, workers))}")
        pids = f" ({'; '.join(parts)})" if parts else ""
        where = f"; serving {data['release_dir']}" if data.get("release_dir") else ""
        self.line(f"{self.title} reloaded{pids} in {elapsed:.1f}s{where}")


def upgrade(title: str, timeout_ms: int | None, view: ReloadView, wait: bool = True) -> None:
    """`reload --upgrade`: the master starts its successor and answers once it took over
    (or failed: its one line, its exit status). The master bounds the wait by the
    cluster's startup timeout; `--timeout` bounds how long we wait for that answer;
    `--no-wait` returns once the new master is started."""
    limit = None if timeout_ms is None else timeout_ms / 1000
    with control_client.connect(title) as conn:
        conn.request(ControlAction.UPGRADE, {})
        try:
            for frame in conn.replies(limit):
                view.show(frame)
                if not wait and frame.get("action") == "accepted":
                    view.line(f"upgrade of {title} started (not waiting for it)")
                    return
        finally:
            view.finish_line()
        view.conclude()


class UpgradeView(ReloadView):
    """The same progress lines; the verdict names the old and the new master."""

    verb = "upgrading"
    old: dict[str, Any] = {}  # the accepted frame, replaced (never mutated)

    def accepted(self, data: dict[str, Any]) -> None:
        self.old = data

    def conclude(self) -> None:
        try:
            data = control_client.result(self.final)
        except control_client.ControlFailed as exc:
            why = exc.message
            if not self.old and why.startswith("unknown control action"):
                why = "its master predates `reload --upgrade`: restart it once (stop, start)"
            raise control_client.ControlFailed(
                f"upgrade of {self.title} failed: {why}; the running master keeps serving",
                exc.exit_code,
            ) from None
        data = data if isinstance(data, dict) else {}
        old = self.old
        elapsed = time.monotonic() - self.started
        self.line(
            f"{self.title} upgraded in {elapsed:.1f}s: master pid {data.get('old_pid')} "
            f"(eggscripts {old.get('version')}) -> pid {data.get('pid')} (eggscripts "
            f"{data.get('version')}); the old master drains and exits"
        )
