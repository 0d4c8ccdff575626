"""Processes app code started and that lost their parent: adopted, reaped, terminated.

A worker leaving on purpose terminates its own process tree (runtime/worker/
process_tree.py). A worker or agent that is SIGKILLed (worker timeout, kill deadline, the
OOM killer) cannot: its subprocesses are reparented. By default they go to PID 1 (or the
nearest subreaper) and outlive the cluster, holding ports and files. So the master makes
itself a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`, Linux >= 3.4): every orphan of
its process tree becomes its direct child. That gives two things with no scanning of the
whole process table and no pid-reuse race (a child's pid cannot be reused before its
parent, the master, reaps it):

- the master reaps them when they exit, like PID 1 must in a container (`waitpid(-1)` in
  the loop already reaps unknown pids): no zombie piles up;
- any direct child of the master that is not the agent or an app worker is such an
  orphan, so when a child dies without stopping cleanly, and when the cluster stops,
  the master terminates them: SIGTERM, then SIGKILL after the kill timeout (app
  code's subprocesses are part of the worker's tree).

Chosen over tracking trees with psutil at each exit: the tree of a SIGKILLed process is
gone (reparented) by the time the master reaps it, so psutil would have to snapshot every
tree ahead of time, and would still miss what the OOM killer or a `kill -9` left behind.
A process app code deliberately daemonizes while its worker lives is left alone until a
child dies abnormally or the cluster stops; run long-lived helpers as their own service.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable, Container

from runtime.master.lifecycle.timers import Timers

PR_SET_CHILD_SUBREAPER = 36
FINAL_WAIT = 0.5  # s for orphans to exit on SIGTERM when the master itself exits


def direct_children() -> list[int]:
    """Pids of this process's children, from /proc (Linux), without psutil."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with (
                contextlib.suppress(OSError, ValueError),
                open(f"/proc/self/task/{tid}/children") as fh,
            ):
                pids.extend(int(p) for p in fh.read().split())
    return pids


class Orphans:
    def __init__(
        self,
        kill: Callable[[int, int], None],
        timers: Timers,
        log: logging.Logger,
        enabled: bool = True,
        children: Callable[[], list[int]] = direct_children,
    ) -> None:
        self.kill = kill
        self.timers = timers
        self.log = log
        self.enabled = enabled  # off in tests driving the master in-process
        self.children = children
        self.spared: set[int] = set()  # a new master an upgrade started (production.py)

    def become_subreaper(self) -> bool:
        if not self.enabled or os.getpid() == 1:  # PID 1 adopts every orphan anyway
            return os.getpid() == 1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
        except (OSError, AttributeError):
            return False

    def adopted(self, ours: Container[int]) -> list[int]:
        """Direct children that are neither the agent nor an app worker."""
        if not self.enabled:
            return []
        return [pid for pid in self.children() if pid not in ours and pid not in self.spared]

    def terminate(self, ours: Container[int], timeout_ms: int) -> list[int]:
        """SIGTERM every orphan now, SIGKILL those still here after `timeout_ms`."""
        pids = self.adopted(ours)
        if not pids:
            return []
        self.log.warning("terminating %d orphaned process(es) app code started: %s",
                         len(pids), pids)  # fmt: skip
        self._signal(pids, signal.SIGTERM)
        self.timers.call_later(timeout_ms / 1000, lambda: self._kill_left(pids, ours))
        return pids

    def _kill_left(self, pids: list[int], ours: Container[int]) -> None:
        left = [pid for pid in self.adopted(ours) if pid in pids]
        if left:
            self.log.warning("SIGKILL orphaned process(es) that ignored SIGTERM: %s", left)
            self._signal(left, signal.SIGKILL)

    def finish(self, ours: Container[int]) -> None:
        """The master is exiting: nothing it adopted may outlive it (bounded wait)."""
        pids = self.adopted(ours)
        if not pids:
            return
        self._signal(pids, signal.SIGTERM)
        deadline = time.monotonic() + FINAL_WAIT
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if not _reaped(pid)]
            if pids:
                time.sleep(0.02)
        self._signal(pids, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def _signal(self, pids: list[int], sig: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.kill(pid, sig)


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid
