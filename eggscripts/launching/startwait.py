"""Waiting for a daemonized cluster to become ready: egg-scripts' checkStatus, fixed.

The watcher fails the start as soon as it knows:
- the ready channel hits EOF without `egg-ready` (the master died or said `startup-error`);
- the stderr log grows (unless `--ignore-stderr`), polled every 50 ms, and checked once
  more when `egg-ready` arrives, so output written just before ready is never missed
  (egg-scripts polls once a second and lets a fast-booting broken app through); the
  master's `startup-error` that usually follows such output within milliseconds is still
  awaited briefly, so the exit status is the master's (4: the app failed to load) rather
  than a plain 1;
- `--timeout` passes (kept even with `--ignore-stderr`, unlike egg-scripts).
"""

from __future__ import annotations

import dataclasses
import os
import select
import time
from typing import Any

from eggscripts.finding import procs
from eggscripts.launching.progress import Progress
from runtime.contract import readychannel
from runtime.contract.framing import FrameReader, ProtocolError

STDERR_POLL = 0.05
# When the stderr log grows, how long the ready channel may still bring the master's own
# `startup-error`: a failing worker writes its error to the log just before the master
# says why and with which exit status (3, 4, 5), and that status is the truth.
ERROR_GRACE = 0.5


@dataclasses.dataclass
class Outcome:
    ready: dict[str, Any] | None = None
    reason: str | None = None
    master_pid: int | None = None
    # When the master started (procs.start_ticks): identifies it for the cleanup after a
    # failed start without importing psutil on the way to a successful one.
    master_started: int | None = None
    # The master's exit status for a failed start, when it said one (3, 4 or 5).
    exit_code: int = 1
    # The daemon's session (it called setsid): what a failed start's cleanup may stop.
    master_session: int | None = None


class StderrWatch:
    """Has the stderr log received anything since the start began?"""

    def __init__(self, path: str) -> None:
        self.path = path
        self.baseline = self._size()

    def _size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def grew(self) -> bool:
        return self._size() > self.baseline


def stderr_reason(path: str) -> str:
    return (
        f"the cluster wrote to its stderr log {path} "
        "(--ignore-stderr starts it anyway; Python warnings go to the app logs, not there)"
    )


def watch(
    reader: FrameReader,
    progress: Progress,
    timeout_ms: int,
    stderr: StderrWatch | None,
    outcome: Outcome,
) -> Outcome:
    """Block until ready or failed, filling `outcome` as messages arrive (the caller keeps
    it, so an interrupted wait still knows the master's pid); `stderr` None means
    `--ignore-stderr`."""
    deadline = progress.started + timeout_ms / 1000
    while True:
        now = time.monotonic()
        if stderr is not None and stderr.grew():
            if not _startup_error(reader, outcome, progress):
                outcome.reason = stderr_reason(stderr.path)
            return outcome
        if now >= deadline:
            outcome.reason = f"not ready after the {timeout_ms} ms timeout (--timeout)"
            return outcome
        wait = max(0.0, min(STDERR_POLL, deadline - now, progress.next_tick() - now))
        readable, _, _ = select.select([reader.fd], [], [], wait)
        if readable:
            try:
                messages = reader.read()
            except ProtocolError as exc:
                outcome.reason = f"the cluster broke the ready channel: {exc}"
                return outcome
            for message in messages:
                if _handle(message, outcome, progress):
                    if outcome.ready is not None and stderr is not None and stderr.grew():
                        outcome.ready = None
                        outcome.reason = stderr_reason(stderr.path)
                    return outcome
            if reader.eof:
                outcome.reason = outcome.reason or "the cluster exited before it was ready"
                return outcome
        progress.tick(time.monotonic())


def _startup_error(reader: FrameReader, outcome: Outcome, progress: Progress) -> bool:
    """After the stderr log grew: True if the master says `startup-error` within
    `ERROR_GRACE` (its reason and exit status then stand), False if it says anything
    else that ends the wait, closes the channel, or stays silent."""
    deadline = time.monotonic() + ERROR_GRACE
    while not reader.eof:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([reader.fd], [], [], wait)[0]:
            return False
        try:
            messages = reader.read()
        except ProtocolError:
            return False
        for message in messages:
            if _handle(message, outcome, progress):
                outcome.ready = None
                return message.get("action") == "startup-error"
    return False


def _handle(message: dict[str, Any], outcome: Outcome, progress: Progress) -> bool:
    """Apply one ready-channel message; True when the wait is over (ready or failed)."""
    action = message.get("action")
    data = message.get("data")
    if not isinstance(data, dict):
        data = {}
    if action == readychannel.SPAWNED and isinstance(data.get("pid"), int):
        outcome.master_pid = data["pid"]
        outcome.master_started = procs.start_ticks(data["pid"])
        outcome.master_session = procs.session_of(data["pid"])
    elif action == "agent-start":
        progress.agent_started()
    elif action == "app-start":
        total = data.get("total", progress.total)
        progress.app_started(int(data.get("ready", progress.ready + 1)), int(total))
    elif action == "egg-ready":
        outcome.ready = data
        return True
    elif action == "startup-error":
        outcome.reason = str(data.get("message") or "startup error")
        code = data.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 1 <= code <= 5:
            outcome.exit_code = code
        return True
    return False
