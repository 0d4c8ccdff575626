"""`start --daemon` from the launching side: rotate logs, spawn, wait, report.

The command returns only when it knows the outcome: exit 0 after `egg-ready` with the
URL and master pid, or exit 1 after printing the stderr log's tail and stopping whatever
was started, so a failed start never leaves half a cluster running.
"""

from __future__ import annotations

import collections
import os
import pwd
import signal
from typing import TYPE_CHECKING, BinaryIO

import click

from eggscripts.errors import PREFIX, EggScriptsError, StartFailed
from eggscripts.finding import procs
from eggscripts.launching import detach, early_start, logrotate, startwait
from eggscripts.launching.launch import Plan
from eggscripts.launching.progress import Progress
from runtime.contract.framing import FrameReader
from runtime.contract.option_defs import DEFAULT_PORT
from runtime.contract.safe_open import UnsafePath, make_dirs

if TYPE_CHECKING:
    import psutil

TAIL_LINES = 100
# A failed start's master gets this long to stop its children before it is killed.
CLEANUP_TIMEOUT = 15.0


def run(
    plan: Plan,
    stdout_path: str,
    stderr_path: str,
    timeout_ms: int,
    ignore_stderr: bool,
) -> None:
    out, err = _open_logs(stdout_path, stderr_path, _children_account(plan))
    progress = Progress(plan.title, plan.options["workers"])
    click.echo(
        f"{PREFIX} starting {plan.title} in the background (logs: {stdout_path}, {stderr_path})"
    )
    # The baseline is taken before the daemon exists, so even its very first write counts.
    # With --ignore-stderr the log is still watched, only to report it (egg-scripts does).
    watched = startwait.StderrWatch(stderr_path)
    stderr = None if ignore_stderr else watched
    try:
        keep = [plan.lock_fd] if plan.lock_fd is not None else []
        logs = (out, err)
        read_fd = early_start.hand_daemon(plan.argv, plan.env, logs, plan.lock_fd)
        if read_fd is None:  # no early-started daemon: spawn one now
            read_fd = detach.spawn(plan.argv, plan.env, out, err, keep)
    finally:
        out.close()
        err.close()
    reader = FrameReader(read_fd)
    outcome = startwait.Outcome()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        startwait.watch(reader, progress, timeout_ms, stderr, outcome)
    except KeyboardInterrupt:
        outcome.ready = None
        outcome.reason = "interrupted"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reader.close()
        progress.finish()
    if outcome.ready is not None:
        pid = outcome.ready.get("pid", outcome.master_pid)
        url = outcome.ready.get("url") or _url(plan)
        click.echo(f"{PREFIX} {plan.title} started on {url} (master pid {pid})")
        if ignore_stderr and watched.grew():
            _report_ignored_stderr(stderr_path)
        return
    _fail(plan, outcome, stderr_path)


def _report_ignored_stderr(stderr_path: str) -> None:
    """--ignore-stderr: the start succeeds, but what went wrong is shown, as egg-scripts
    shows it (`Start got error, see <path>`), instead of vanishing into the log."""

    _echo_tail(stderr_path, "got error when starting (ignored: --ignore-stderr); ")
    click.echo(f"{PREFIX} Start got error, see {stderr_path}", err=True)


def _echo_tail(stderr_path: str, intro: str = "") -> None:
    """The last lines of the stderr log, on our stderr, under one header line."""
    tail = _tail(stderr_path)
    if not tail:
        return
    lines = "the last line" if len(tail) == 1 else f"the last {len(tail)} lines"
    click.echo(f"{PREFIX} {intro}{lines} of {stderr_path}:", err=True)
    for line in tail:
        click.echo(line, err=True)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP while waiting (a CI job timing out, a closed terminal) must not
    leave a half-started cluster behind: treat them like Ctrl-C."""
    raise KeyboardInterrupt


def _children_account(plan: Plan) -> tuple[int, int] | None:
    """(uid, gid) of `--user` when this start runs as root, else None."""
    user = plan.options.get("user")
    if not user or os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, ValueError):
        return None  # the runtime refuses an unknown account with its own message
    return entry.pw_uid, entry.pw_gid


def _open_logs(
    stdout_path: str, stderr_path: str, owner: tuple[int, int] | None = None
) -> tuple[BinaryIO, BinaryIO]:
    """Rotate, then open both logs for appending; errors surface here, in the foreground.
    As root with `--user`, their directories are checked first: no link the app user can
    change is followed, neither by the rotation nor by the open (runtime/contract/safe_open.py)."""
    try:
        for path in dict.fromkeys((stdout_path, stderr_path)):
            make_dirs(os.path.dirname(os.path.abspath(path)), owner, by_app=False)
            logrotate.rotate(path)
        out = logrotate.open_private(stdout_path, owner)  # handed to the daemon
        err = out if stderr_path == stdout_path else logrotate.open_private(stderr_path, owner)
    except UnsafePath as exc:
        raise EggScriptsError(f"cannot open log file: {exc.strerror}") from None
    except OSError as exc:
        raise EggScriptsError(f"cannot open log file {exc.filename}: {exc.strerror}") from None
    if err is out:
        # One file object must not be closed twice; give stderr its own descriptor.
        err = os.fdopen(os.dup(out.fileno()), "ab")
    return out, err


def _url(plan: Plan) -> str:
    host = plan.options["hostname"] or "0.0.0.0"
    return f"http://{host}:{plan.options['port'] or DEFAULT_PORT}"


def _fail(plan: Plan, outcome: startwait.Outcome, stderr_path: str) -> None:
    def echo(text: str) -> None:
        click.echo(text, err=True)

    echo(f"{PREFIX} {plan.title} failed to start: {outcome.reason}")
    _echo_tail(stderr_path)
    master = None
    if outcome.master_pid is not None:
        master = procs.process(outcome.master_pid, outcome.master_started)
    masters = [master] if master is not None and not procs.is_gone(master) else []

    # Only what this start created: its master, then the processes of the title in the
    # master's session (the daemon's own: setsid). A session id outlives the master and
    # is never recycled while one member lives, so orphaned children are found too; others
    # found by title may be another start's cluster and are never touched.
    def created() -> list[psutil.Process]:
        found = procs.find(plan.title)
        sid = outcome.master_session
        return [cp.proc for cp in found if sid and procs.session_of(cp.pid) == sid]

    from eggscripts.launching import shutdown  # only a failed start stops anything

    result = shutdown.stop(masters, leftovers=created, timeout=CLEANUP_TIMEOUT)
    pids = result.stopped + result.killed
    if pids:
        echo(f"{PREFIX} stopped what was started (pids {', '.join(map(str, sorted(pids)))})")
    raise StartFailed(f"{plan.title} was not started", outcome.exit_code)


def _tail(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in collections.deque(fh, maxlen=TAIL_LINES)]
    except OSError:
        return []
