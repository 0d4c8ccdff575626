"""The master's timed checks once the cluster is ready (gunicorn's `murder_workers`, egg's
health check), kept out of the loop so `loop.py` stays the lifecycle.

- Stuck children (`StaleWatch`), every quarter of `worker_timeout`: a serving child that sent
  nothing (its heartbeat, runtime/worker/heartbeat.py) for the timeout is SIGKILLed and
  replaced. Silence only counts while the master was awake to hear it: after the master was
  paused (SIGSTOP, Ctrl-Z, `docker pause`), the children kept beating into their sockets and
  the master's clock jumped, so pending messages are read first and the pause is forgiven.
- egg-cluster's production health check: a master alive with nothing to serve must exit. A
  cluster whose workers all fail to boot keeps reforking them with backoff, and a master
  that stays up hides that from every supervisor: systemd, pm2 or Kubernetes only restart
  what exits. So, outside `local`/`unittest`, no agent or no app worker at `HEALTH_LIMIT`
  checks in a row, `health_interval` apart, ends the cluster with exit 1.

A child booting past the startup timeout is the pool's to kill (runtime/master/lifecycle/pool.py).
Every check stops by itself once the cluster is no longer ready (closing).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterable

from runtime.master.children.children import Children, OnMessage
from runtime.master.children.handle import ChildHandle
from runtime.master.children.states import ChildState
from runtime.master.lifecycle.timers import Timers
from runtime.process.cluster_options import ClusterOptions

HEALTH_LIMIT = 3
# The master kills this long after the timeout, so the worker's own stack dump comes first.
DUMP_GRACE = 0.25


class StaleWatch:
    def __init__(self, timeout_ms: int, log: logging.Logger) -> None:
        self.timeout = timeout_ms / 1000
        self.log = log
        self.awake_since = float("-inf")  # the master's last resume after a pause

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    @property
    def interval(self) -> float:
        """How often to check: a quarter of the timeout, at least once a second."""
        return min(self.timeout / 4, 1.0)

    def master_resumed(self, now: float) -> None:
        """The loop noticed it had not run for a while: nobody was listening meanwhile."""
        self.awake_since = now

    def stale(self, children: Iterable[ChildHandle], now: float) -> list[ChildHandle]:
        out = []
        for handle in children:
            if handle.state is not ChildState.SERVING:
                continue  # booting (beats start after boot), or on its way out already
            silent = now - max(handle.last_seen, self.awake_since)
            if silent > self.timeout + DUMP_GRACE:
                out.append(handle)
        return out

    def check(self, children: Iterable[ChildHandle], now: float) -> None:
        for handle in self.stale(children, now):
            self.log.error(
                "%s sent no heartbeat for %.1fs: %s; killing it and starting a replacement",
                handle.label,
                now - handle.last_seen,
                why_silent(handle.pid),
            )
            handle.change_state(ChildState.KILLED)
            handle.signal(signal.SIGKILL)


def why_silent(pid: int) -> str:
    """What the log may honestly say: faulthandler's dump (runtime/worker/heartbeat.py) runs
    in the worker, so a stopped process (SIGSTOP, a debugger) has dumped nothing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        state = b"?"
    if state in (b"T", b"t"):
        return "the process is stopped (SIGSTOP or a debugger), so it dumped nothing"
    if state == b"?":
        return "its event loop is blocked or the process is stopped"
    return "its event loop is blocked (its Python stacks, dumped by faulthandler, are on stderr)"


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
        on_message: OnMessage,
    ) -> None:
        self.options = options
        self.children = children
        self.timers = timers
        self.log = log
        self.ready = ready
        self.give_up = give_up
        self.on_message = on_message
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
            self.children.read_pending(self.on_message)  # heartbeats may wait unread
            self.stale.check(self.children.all(), self.timers.clock())
        return self.ready()

    def check_health(self) -> bool:
        if not self.ready():
            return False
        agent = self.children.agent
        agents = 1 if agent is not None and agent.state is not ChildState.STOPPING else 0
        workers = len(self.children.pool())
        if self.health.failed(agents, workers):
            self.log.error(
                "%d agent and %d app worker(s) alive for %d checks in a row: exiting so that "
                "a supervisor can restart the cluster", agents, workers, self.health.limit
            )  # fmt: skip
            self.give_up("cluster unhealthy")
            return False
        return True
