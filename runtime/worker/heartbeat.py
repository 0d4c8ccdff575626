"""Catching app workers whose event loop is stuck (gunicorn's worker timeout, fixed).

A worker whose loop is blocked by synchronous app code (a `time.sleep`, a CPU-bound loop,
a lock that never comes) still holds its accepted connections and, with a shared
listening socket, keeps taking new ones it will never answer. Its channel stays open, so
nothing else notices. So the loop itself proves it is alive: once the app has booted,
`beat()` sends a `heartbeat` to the master every `timeout / 2`, from the loop, and the
master's `StaleWatch` SIGKILLs a started worker it has not heard from for `timeout`; the
normal refork replaces it. Boot is not watched: a long synchronous boot (loading a model)
is legitimate, and the startup timeout bounds the first one.

gunicorn then only logs "WORKER TIMEOUT" and leaves the user guessing what blocked. Here
each beat also re-arms `faulthandler.dump_traceback_later(timeout)`: its watchdog thread
runs in C, so when the loop stops beating it still writes every thread's Python stack to
stderr, the moment the timeout passes and just before the master's kill.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from runtime.ipc.framing import Action
from runtime.master.handle import ChildHandle

if TYPE_CHECKING:  # the master imports this module and never needs asyncio
    import asyncio

# The master kills this long after the timeout, so the worker's own dump comes first.
DUMP_GRACE = 0.25
# Longest time between beats (s): the `status` counters they carry are at most this old.
STATS_INTERVAL = 5.0


def beat(
    loop: asyncio.AbstractEventLoop,
    send: Callable[..., Any],
    timeout_ms: int,
    stats: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Worker side: heartbeat now and every `timeout / 2` (at most `STATS_INTERVAL`) while
    the loop runs, carrying `stats()` (what `eggscripts status` shows: requests served, in
    flight), so the counters are never older than that. With the timeout off, beats still
    carry the stats, without the dump."""
    timeout = timeout_ms / 1000
    interval = min(timeout / 2, STATS_INTERVAL) if timeout > 0 else STATS_INTERVAL

    def tick() -> None:
        if timeout > 0:
            faulthandler.dump_traceback_later(timeout, file=sys.stderr)
        send(Action.HEARTBEAT.value, stats() if stats is not None else None)
        loop.call_later(interval, tick)

    tick()


class StaleWatch:
    """Master side: kill the workers that missed their heartbeat."""

    def __init__(self, timeout_ms: int, log: logging.Logger) -> None:
        self.timeout = timeout_ms / 1000
        self.log = log

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    @property
    def interval(self) -> float:
        """How often to check: a quarter of the timeout, at least once a second."""
        return min(self.timeout / 4, 1.0)

    def check(self, workers: Iterable[ChildHandle], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for handle in workers:
            if not handle.started or handle.stopping or handle.disconnected or handle.sigkilled:
                continue  # booting (beats start after boot), or on its way out already
            silent = now - handle.last_seen
            if silent > self.timeout + DUMP_GRACE:
                self.log.error(
                    "%s sent no heartbeat for %.1fs: its event loop is blocked (its Python "
                    "stacks are on stderr); killing it and starting a replacement",
                    handle.label,
                    silent,
                )
                handle.kill(signal.SIGKILL)
