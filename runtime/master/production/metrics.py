"""What the master knows about its cluster, as a snapshot, and its Prometheus rendering.

Numbers come from the workers' heartbeats and the master's own bookkeeping, so one scrape
of the master covers every worker: no shared multiprocess directory (the prometheus_client
multiprocess mode breaks on worker churn, gunicorn #1417) and a busy worker cannot starve
the probe. The text is produced by prometheus_client's own exposition code
(`generate_latest` over a private registry with one custom collector), never by hand, in
`runtime/master/production/exposition.py`: only a master serving `--health-port` imports it.

Metric names (all `eggscripts_`-prefixed; `worker` is the stable worker id, `role` is
`app` or `agent`):

| metric | type | labels |
|---|---|---|
| `eggscripts_worker_requests_total` | counter | worker, role |
| `eggscripts_worker_in_flight_requests` | gauge | worker, role |
| `eggscripts_worker_restarts_total` | counter | worker, role, cause |
| `eggscripts_worker_resident_memory_bytes` | gauge | worker, role |
| `eggscripts_worker_heartbeat_age_seconds` | gauge | worker, role |
| `eggscripts_worker_pid` | gauge | worker, role |
| `eggscripts_worker_saturated` | gauge | worker, role (WSGI workers: 1 when all threads are busy) |
| `eggscripts_cluster_reloads_total` | counter | |
| `eggscripts_cluster_uptime_seconds` | gauge | |
| `eggscripts_cluster_workers` | gauge | (app workers serving) |
| `eggscripts_cluster_ready` | gauge | (1 when /readyz says ready) |
| `eggscripts_cluster_state` | gauge | state (1 for the current one, 0 for the others) |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from runtime.contract.messages import Role

STATES = ("starting", "ready", "reloading", "upgrading", "draining", "closing")


@dataclasses.dataclass(frozen=True)
class WorkerSample:
    """One child as the master last heard of it."""

    id: int
    role: str = Role.APP  # or Role.AGENT
    pid: int | None = None
    requests: int | None = 0  # served since this process started (reset on restart)
    in_flight: int | None = 0  # None: not an HTTP server (the agent)
    restarts: Mapping[str, int] = dataclasses.field(default_factory=dict)  # cause -> count
    rss_bytes: int | None = None
    heartbeat_age: float | None = None  # seconds since anything came from it
    # WSGI: every `--threads` thread busy (runtime/apptarget/wsgi.py); None: no thread pool.
    saturated: bool | None = None


@dataclasses.dataclass(frozen=True)
class ClusterSnapshot:
    """Everything /livez, /readyz and /metrics answer from; built by the master per probe."""

    title: str
    state: str  # one of STATES
    uptime: float
    workers: tuple[WorkerSample, ...] = ()
    reloads: int = 0
    agent_up: bool = True
    draining: bool = False

    @property
    def serving(self) -> int:
        return sum(1 for w in self.workers if w.role == Role.APP and w.pid is not None)

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason): agent up, at least one app worker serving and able to take a
        request (not every one saturated), not draining."""
        if self.draining or self.state in ("draining", "closing"):
            return False, "draining"
        if self.state == "starting":
            return False, "starting"
        if not self.agent_up:
            return False, "agent down"
        if self.serving == 0:
            return False, "no app worker serving"
        if self.saturated:
            return False, "saturated: every thread of every app worker is busy"
        return True, "ready"

    @property
    def saturated(self) -> bool:
        """No serving app worker can start a request now: each one's WSGI threads are all
        busy. A cluster of ASGI or egg-style workers never is (they have no thread pool)."""
        apps = [w for w in self.workers if w.role == Role.APP and w.pid is not None]
        return bool(apps) and all(w.saturated for w in apps)


Snapshot = Callable[[], ClusterSnapshot]
