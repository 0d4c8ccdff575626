"""Catching app workers whose event loop is stuck (gunicorn's worker timeout, fixed).

A worker whose loop is blocked by synchronous app code (a `time.sleep`, a CPU-bound loop,
a lock that never comes) still holds its accepted connections and, with a shared
listening socket, keeps taking new ones it will never answer. Its channel stays open, so
nothing else notices. So the loop itself proves it is alive: once the app has booted,
`beat()` sends a `heartbeat` to the master every `timeout / 2`, from the loop, and the
master's `StaleWatch` (runtime/master/lifecycle/watchdogs.py) SIGKILLs a started worker it has not
heard from for `timeout`; the normal refork replaces it. Boot is not watched: a long
synchronous boot (loading a model) is legitimate, and the startup timeout bounds it.

gunicorn then only logs "WORKER TIMEOUT" and leaves the user guessing what blocked. Here
each beat also re-arms `faulthandler.dump_traceback_later(timeout)`: its watchdog thread
runs in C, so when the loop stops beating it still writes every thread's Python stack to
stderr, the moment the timeout passes and just before the master's kill.
"""

from __future__ import annotations

import contextlib
import faulthandler
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.contract.messages import Action

if TYPE_CHECKING:
    import asyncio

# Longest time between beats (s): the `status` counters they carry are at most this old.
STATS_INTERVAL = 5.0
# How long a change reported with `report_soon` may wait, gathering others with it (s).
REPORT_DELAY = 0.05


def beat(
    loop: asyncio.AbstractEventLoop,
    send: Callable[..., Any],
    timeout_ms: int,
    stats: Callable[[], dict[str, Any]] | None = None,
) -> Callable[[], None]:
    """Worker side: heartbeat now and every `timeout / 2` (at most `STATS_INTERVAL`) while
    the loop runs, carrying `stats()` (what `eggscripts status` shows: requests served, in
    flight), so the counters are never older than that. With the timeout off, beats still
    carry the stats, without the dump.

    Returns `report_soon()`, for a change the master must learn before the next beat (a
    WSGI worker whose threads are all taken, or free again: /readyz depends on it): it
    sends the stats `REPORT_DELAY` later, one message for a burst of changes, read when
    it leaves so the master always ends with the latest state."""
    timeout = timeout_ms / 1000
    interval = min(timeout / 2, STATS_INTERVAL) if timeout > 0 else STATS_INTERVAL
    pending: list[asyncio.TimerHandle] = []

    def current() -> Any:
        return stats() if stats is not None else None

    def tick() -> None:
        if timeout > 0:
            # A new watchdog thread each time: under an exhausted `ulimit -u` there is
            # none to be had, and this beat goes without the dump rather than killing
            # the worker with an uncaught error.
            with contextlib.suppress(RuntimeError):
                faulthandler.dump_traceback_later(timeout, file=sys.stderr)
        send(Action.HEARTBEAT, current())
        loop.call_later(interval, tick)

    def report() -> None:
        pending.clear()
        send(Action.HEARTBEAT, current())

    def report_soon() -> None:
        if not pending:
            pending.append(loop.call_later(REPORT_DELAY, report))

    tick()
    return report_soon
