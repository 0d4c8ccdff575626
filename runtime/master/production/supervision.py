"""What the master tells whoever supervises it: systemd (`$NOTIFY_SOCKET`) and the
orchestrator's probes (`--health-port`), behind one set of lifecycle events.

The master loop calls one method per event it already has (agent started, a worker
started, ready, reload begun/done, stop requested) and registers what `registrations()`
returns in its selector; everything else (the sd_notify wording, EXTEND_TIMEOUT_USEC
while a slow boot progresses, the state `/readyz` and `/metrics` report, the shutdown
delay) lives here, so the loop gains a handful of one-line calls and no protocol
knowledge. No thread: the watchdog is a timer the loop runs (`watchdog_interval`), the
health server is driven by the loop's selector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from runtime.master.production.metrics import ClusterSnapshot, WorkerSample
from runtime.master.production.notify import Notifier

# After each sign of boot progress, ask systemd for this much more time: a boot that keeps
# making progress is never killed by TimeoutStartSec, one that stalls still is.
PROGRESS_WINDOW = 30.0


class Supervision:
    def __init__(
        self,
        title: str,
        shutdown_delay_ms: int = 0,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        phase: Callable[[], str] | None = None,
    ) -> None:
        """`phase`: the master's cluster phase (`str(Phase)`), which `/readyz`, `/metrics`
        and the notifications then follow; without it this object keeps its own."""
        self.title = title
        self.shutdown_delay = shutdown_delay_ms / 1000
        self.notifier = notifier if notifier is not None else Notifier.from_environ()
        self.clock = clock
        self.started_at = clock()
        self.phase = phase
        self._state = "starting"
        self.reloads = 0
        self.agent_up = False
        self.health: Any = None  # runtime.master.production.health.HealthServer once started

    @property
    def state(self) -> str:
        """starting / ready / reloading / upgrading / draining / closing (the metrics' names)."""
        if self.phase is None:
            return self._state
        shown = self.phase()
        return "closing" if shown in ("stopping", "stopped") else shown

    @state.setter
    def state(self, value: str) -> None:
        self._state = value

    @property
    def stopping(self) -> bool:
        """STOPPING=1 was sent (a stop was requested)."""
        return self._state in ("draining", "closing")

    # -- optional health server ------------------------------------------------------------
    def serve_health(
        self,
        host: str,
        port: int,
        workers: Callable[[], Iterable[WorkerSample]],
        fd: int | None = None,
    ) -> None:
        """Start the `--health-port` server (raises StartupError: port in use...); `fd`:
        its listening socket, handed down by an upgrading master."""
        from runtime.master.production.health import HealthServer
        from runtime.master.production.listener import handed_listener

        sock = handed_listener(fd) if fd is not None else None
        snapshot = lambda: self.snapshot(workers())  # noqa: E731
        self.health = HealthServer(host, port, snapshot, self.clock, sock)

    def registrations(self) -> list[tuple[Any, int, Any]]:
        """(file object, events, data) for the master's selector; the master loop calls
        `data.on_event(mask)` for them, as for any non-child registration."""
        if self.health is None:
            return []
        return [(obj, events, self.health) for obj, events in self.health.registrations()]

    def fds(self) -> list[int]:
        """Master-only fds a forked worker must close."""
        fds = [] if self.health is None else self.health.fds()
        fd = self.notifier.fileno()
        return fds if fd is None else [*fds, fd]

    # -- lifecycle events, in the order they happen -------------------------------------------
    def agent_started(self) -> None:
        self.agent_up = True
        if self.state == "starting":
            self._progress("agent started")

    def agent_exited(self) -> None:
        self.agent_up = False

    def worker_started(self, ready: int, total: int) -> None:
        if self.state == "starting":
            self._progress(f"{ready}/{total} workers ready")
        elif self.state == "reloading":
            self.notifier.status(f"reloading: {ready}/{total} workers on the new code")

    def ready(self, total: int, url: str) -> None:
        """Every app worker accepts: READY=1 (the first time and after a reload)."""
        self.state = "ready"
        self.notifier.ready(f"{total} workers serving on {url}")

    def reload_started(self) -> None:
        self.state = "reloading"
        self.notifier.reloading("reloading")

    def reload_finished(self, total: int, url: str, ok: bool = True) -> None:
        self.reloads += int(ok)
        self.ready(total, url)

    def stop_requested(self) -> float:
        """SIGTERM: report not-ready at once; returns the seconds to keep serving before
        the drain starts (`--shutdown-delay`), for the master's timer."""
        self.state = "draining"
        if self.shutdown_delay:
            self.notifier.stopping(f"draining in {self.shutdown_delay:g}s (shutdown delay)")
        else:
            self.notifier.stopping("draining")
        return self.shutdown_delay

    def closing(self) -> None:
        """The drain itself begins (after the delay): workers stop accepting."""
        self.state = "closing"
        self.notifier.status("stopping workers")

    # -- watchdog -----------------------------------------------------------------------
    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between `watchdog()` calls (half of `$WATCHDOG_USEC`), None when off."""
        return self.notifier.watchdog_interval

    def watchdog(self) -> None:
        self.notifier.watchdog()

    # -- probes ---------------------------------------------------------------------------
    def snapshot(self, workers: Iterable[WorkerSample]) -> ClusterSnapshot:
        return ClusterSnapshot(
            title=self.title,
            state=self.state,
            uptime=self.clock() - self.started_at,
            workers=tuple(workers),
            reloads=self.reloads,
            agent_up=self.agent_up,
            draining=self.state in ("draining", "closing"),
        )

    def close(self) -> None:
        if self.health is not None:
            self.health.close()
            self.health = None
        self.notifier.close()

    def _progress(self, text: str) -> None:
        self.notifier.extend_timeout(PROGRESS_WINDOW, status=text)
