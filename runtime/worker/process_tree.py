"""Terminating the processes app code started, when an agent or app worker exits.

App code may start subprocesses (a sidecar, a `subprocess.Popen` it never waits for).
egg-cluster kills each worker's process tree when it stops the worker; without that the
subprocesses outlive the cluster, hold ports and files, and pile up at every refork. So
a worker leaving on purpose (graceful stop, scale down, replacement of a faulted worker)
terminates its descendants last thing before it exits: SIGTERM to all, then SIGKILL to
what is still alive when the kill timeout (counted from the stop request, `stop_requested`)
is nearly over: the master SIGKILLs the worker itself at that timeout, and the
worker must be done with its tree before then. A worker that is SIGKILLed cannot do any
of this; the master deals with those.

Only descendants are touched: the worker's own pid, its parent (the master) and other
workers are never in its tree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

log = logging.getLogger("eggscripts.child")
# The SIGKILL must come before the master's own SIGKILL of this worker.
MARGIN = 0.5
MIN_WAIT = 0.2
_stop_requested_at: float | None = None


def stop_requested() -> None:
    """Note when this worker was asked to stop (the first time only): the kill timeout
    for its subprocesses counts from here, like the master's for the worker."""
    global _stop_requested_at
    if _stop_requested_at is None:
        _stop_requested_at = time.monotonic()


def _children_pids() -> list[int]:
    """Direct children of this process, cheaply, without psutil (Linux: the kernel lists
    them per thread). None found here, the usual case, means nothing to import or scan."""
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return [-1]  # unknown: let psutil look
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as fh:
                pids.extend(int(p) for p in fh.read().split())
        except (OSError, ValueError):
            return [-1]
    return pids


def descendants() -> list[psutil.Process]:
    """Every live descendant of this process (children first)."""
    if not _children_pids():
        return []
    import psutil

    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def terminate_tree(timeout: float) -> list[int]:
    """SIGTERM every descendant, wait until `timeout` seconds after the stop request
    (less a margin), SIGKILL the rest; returns the pids that needed SIGKILL. Never
    raises: it runs on the way out."""
    try:
        procs = descendants()
        if not procs:
            return []
        import psutil

        for proc in procs:
            _signal(proc, signal.SIGTERM)
        started = _stop_requested_at if _stop_requested_at is not None else time.monotonic()
        wait = max(MIN_WAIT, started + timeout - MARGIN - time.monotonic())
        _, alive = psutil.wait_procs(procs, timeout=wait)
        for proc in alive:
            _signal(proc, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=1.0)
        killed = [p.pid for p in alive]
        pids = ", ".join(str(p.pid) for p in procs)
        log.info("terminated %d process(es) started by app code: %s", len(procs), pids)
        if killed:
            log.warning("SIGKILLed process(es) that ignored SIGTERM: %s", killed)
        return killed
    except Exception as exc:  # the exit path must go on whatever happens here
        log.warning("could not terminate processes started by app code: %s", exc)
        return []


def _signal(proc: psutil.Process, sig: int) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        proc.send_signal(sig)
