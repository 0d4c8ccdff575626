"""Stopping clusters: signal the masters, wait for them, then sweep what is left.

The master stops its own children gracefully, so it is signalled first and given the
whole timeout; only after it is gone are agent/app processes of the same title looked
for: a sweep while the master still runs would race its own graceful stop and kill
workers it is draining. The wait returns the moment the processes are gone: egg-scripts
sleeps a fixed 5 s here although its clusters are gone after ~350 ms.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from eggscripts.finding import procs

if TYPE_CHECKING:
    import psutil

LEFTOVER_GRACE = 1.0


@dataclasses.dataclass
class StopResult:
    stopped: list[int] = dataclasses.field(default_factory=list)  # exited after SIGTERM
    killed: list[int] = dataclasses.field(default_factory=list)  # needed SIGKILL
    denied: list[int] = dataclasses.field(default_factory=list)  # could not be signalled
    elapsed: float = 0.0


def stop(
    masters: list[psutil.Process],
    leftovers: Callable[[], list[psutil.Process]],
    timeout: float,
    grace: float = LEFTOVER_GRACE,
) -> StopResult:
    """SIGTERM `masters`, wait up to `timeout` s, SIGKILL masters still alive; then
    SIGTERM what `leftovers()` finds and SIGKILL it after `grace` s."""
    started = time.monotonic()
    result = StopResult()
    signalled = _send(masters, signal.SIGTERM, result)
    gone, alive = procs.wait_gone(signalled, timeout)
    result.stopped += [p.pid for p in gone]
    if alive:
        killed = _send(alive, signal.SIGKILL, result)
        procs.wait_gone(killed, 5.0)
        result.killed += [p.pid for p in killed]
    rest = leftovers()
    if rest:
        signalled = _send(rest, signal.SIGTERM, result)
        gone, alive = procs.wait_gone(signalled, grace)
        result.stopped += [p.pid for p in gone]
        killed = _send(alive, signal.SIGKILL, result)
        procs.wait_gone(killed, 5.0)
        result.killed += [p.pid for p in killed]
    result.elapsed = time.monotonic() - started
    return result


def _send(targets: list[psutil.Process], sig: int, result: StopResult) -> list[psutil.Process]:
    import psutil

    hit = []
    for proc in targets:
        try:
            proc.send_signal(sig)
            hit.append(proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.AccessDenied:
            result.denied.append(proc.pid)
    return hit
