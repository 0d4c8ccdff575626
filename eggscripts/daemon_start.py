"""`start --daemon` from the launching side: rotate logs, spawn, wait, report (SPEC §4).

The command returns only when it knows the outcome: exit 0 after `egg-ready` with the
URL and master pid, or exit 1 after printing the stderr log's tail and stopping whatever
was started, so a failed start never leaves half a cluster running.
"""

from __future__ import annotations

import collections
import os
import signal
from typing import BinaryIO

import click

from eggscripts import detach, logrotate, procs, startwait
from eggscripts.errors import PREFIX, EggScriptsError, StartFailed
from eggscripts.launch import Plan
from eggscripts.progress import Progress
from eggscripts.readychannel import FrameReader

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
    out, err = _open_logs(stdout_path, stderr_path)
    progress = Progress(plan.title, plan.options["workers"])
    click.echo(
        f"{PREFIX} starting {plan.title} in the background (logs: {stdout_path}, {stderr_path})"
    )
    # The baseline is taken before the daemon exists, so even its very first write counts.
    stderr = None if ignore_stderr else startwait.StderrWatch(stderr_path)
    try:
        read_fd = detach.spawn(plan.argv, plan.env, plan.base_dir, out, err)
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
        return
    _fail(plan, outcome, stderr_path)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP while waiting (a CI job timing out, a closed terminal) must not
    leave a half-started cluster behind: treat them like Ctrl-C."""
    raise KeyboardInterrupt


def _open_logs(stdout_path: str, stderr_path: str) -> tuple[BinaryIO, BinaryIO]:
    """Rotate, then open both logs for appending; errors surface here, in the foreground."""
    try:
        for path in dict.fromkeys((stdout_path, stderr_path)):
            logrotate.rotate(path)
        out = open(stdout_path, "ab")  # noqa: SIM115 - handed to the daemon, closed by run()
        err = out if stderr_path == stdout_path else open(stderr_path, "ab")  # noqa: SIM115
    except OSError as exc:
        raise EggScriptsError(f"cannot open log file {exc.filename}: {exc.strerror}") from None
    if err is out:
        # One file object must not be closed twice; give stderr its own descriptor.
        err = os.fdopen(os.dup(out.fileno()), "ab")
    return out, err


def _url(plan: Plan) -> str:
    host = plan.options["hostname"] or "0.0.0.0"
    return f"http://{host}:{plan.options['port'] or 7001}"


def _fail(plan: Plan, outcome: startwait.Outcome, stderr_path: str) -> None:
    def echo(text: str) -> None:
        click.echo(text, err=True)

    echo(f"{PREFIX} {plan.title} failed to start: {outcome.reason}")
    tail = _tail(stderr_path)
    if tail:
        lines = "the last line" if len(tail) == 1 else f"the last {len(tail)} lines"
        echo(f"{PREFIX} {lines} of {stderr_path}:")
        for line in tail:
            echo(line)
    master = None
    if outcome.master_pid is not None:
        master = procs.process(outcome.master_pid, outcome.master_started)
    masters = [master] if master is not None and not procs.is_gone(master) else []
    from eggscripts import shutdown  # only a failed start stops anything

    result = shutdown.stop(
        masters, leftovers=lambda: procs.find(plan.title), timeout=CLEANUP_TIMEOUT
    )
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
