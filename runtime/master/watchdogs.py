"""The master's timed checks once the cluster is ready (gunicorn's `murder_workers`, egg's
health check), kept out of the loop so `master.py` stays the lifecycle.

- Blocked app workers: `heartbeat.StaleWatch`, every quarter of `worker_timeout`.
- egg-cluster's production health check: a master alive with nothing to serve must exit. A
  cluster whose workers all fail to boot (a database down at import, a broken deploy) keeps
  reforking them with backoff, and a master that stays up hides that from every supervisor:
  systemd, pm2 or Kubernetes only restart what exits. So, outside `local`/`unittest`, no
  agent or no app worker at `HEALTH_LIMIT` checks in a row, `health_interval` apart, ends
  the cluster with exit 1 (egg: "exit to avoid unknown state").
- A restarted agent gets the startup timeout to start, like the first one (egg: no bound).

Every check stops by itself once the cluster is no longer ready (closing).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from runtime.master.children import Children
from runtime.master.handle import ChildHandle
from runtime.master.timers import Timers
from runtime.options import ClusterOptions
from runtime.worker.heartbeat import StaleWatch

HEALTH_LIMIT = 3


class HealthCheck:
    def __init__(self, limit: int = HEALTH_LIMIT) -> None:
        self.limit = limit
        self.strikes = 0

    def failed(self, agents: int, workers: int) -> bool:
        """One check; True once the cluster has been empty-handed `limit` times in a row."""
        if agents and workers:
            self.strikes = 0
            return False
        self.strikes += 1
        return self.strikes >= self.limit


class Watchdogs:
    def __init__(
        self,
        options: ClusterOptions,
        children: Children,
        timers: Timers,
        log: logging.Logger,
        ready: Callable[[], bool],
        give_up: Callable[[str], None],
    ) -> None:
        self.options = options
        self.children = children
        self.timers = timers
        self.log = log
        self.ready = ready
        self.give_up = give_up
        self.stale = StaleWatch(options.heartbeat_timeout, log)
        self.health = HealthCheck()

    def start(self) -> None:
        """At ready: before it, the startup timeout is the only deadline."""
        if self.stale.enabled:
            self.timers.every(self.stale.interval, self.murder_stale)
        if self.options.refork:  # production envs, as egg's isProduction
            self.timers.every(self.options.health_interval / 1000, self.check_health)

    def murder_stale(self) -> bool:
        if self.ready():
            self.stale.check(self.children.apps())
        return self.ready()

    def check_health(self) -> bool:
        if not self.ready():
            return False
        agents = 1 if self.children.agent is not None else 0
        workers = sum(1 for h in self.children.apps() if not h.disconnected)
        if self.health.failed(agents, workers):
            self.log.error(
                "%d agent and %d app worker(s) alive for %d checks in a row: exiting so that "
                "a supervisor can restart the cluster", agents, workers, self.health.limit
            )  # fmt: skip
            self.give_up("cluster unhealthy")
            return False
        return True

    def agent_restarted(self, handle: ChildHandle) -> None:
        self.timers.call_later(self.options.startup_timeout / 1000, lambda: self.overdue(handle))

    def overdue(self, handle: ChildHandle) -> None:
        alive = self.children.by_pid.get(handle.pid) is handle
        if alive and not handle.started and self.ready():
            ms = self.options.startup_timeout
            self.log.error("%s did not start within %d ms; killing it", handle.label, ms)
            handle.kill(signal.SIGKILL)  # its exit schedules the next restart
