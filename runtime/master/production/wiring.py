"""The master's side of production supervision (docs/DEPLOY.md), wired to the
loop: systemd notifications, the `--health-port` server, the systemd watchdog timer, the
`--shutdown-delay` before a drain, SIGUSR1 log reopening and the orphans app code leaves.

`Supervision` (runtime/master/production/supervision.py) knows the protocols; this class reads the
cluster state and is called at the lifecycle events the loop already has, so the loop
gains one-line calls and no protocol knowledge. Everything here is driven by
the master's selector and timers: no thread.

Shutdown delay: the first SIGTERM (or SIGQUIT) moves the cluster to DRAINING (`/readyz`
503, `STOPPING=1`) and keeps every worker serving for `--shutdown-delay` ms, so
Kubernetes removes the pod from its endpoints before anything stops accepting
(kubernetes #67592); then the normal graceful stop begins. A second SIGTERM, or a
SIGINT (Ctrl-C is a person waiting, not a load balancer), drains at once.
"""

from __future__ import annotations

import selectors
import signal

from runtime.contract.exitcodes import ExitCode
from runtime.contract.payloads import WorkerStats
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.states import ASKED_TO_LEAVE, ChildState, Phase
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.ops import MasterOps
from runtime.master.lifecycle.timers import Timer, Timers
from runtime.master.production.metrics import WorkerSample
from runtime.master.production.orphans import Orphans
from runtime.master.production.supervision import Supervision
from runtime.process.rss import rss_bytes


class Production:
    def __init__(
        self,
        state: ClusterState,
        children: Children,
        timers: Timers,
        ops: MasterOps,
        real: bool = True,
    ) -> None:
        """`real`: children are real processes (never scan a test runner's for orphans)."""
        self.state = state
        self.children = children
        self.timers = timers
        self.ops = ops
        self.sup: Supervision | None = None
        self.delay: Timer | None = None  # pending end of the shutdown delay
        kill = children.spawner.kill
        self.orphans = Orphans(kill, timers, state.log, enabled=real)

    def begin(self, selector: selectors.BaseSelector) -> str | None:
        """Before the agent is spawned (its environment must no longer carry
        `NOTIFY_SOCKET`/`WATCHDOG_*`): the notifier, the health server and the watchdog
        timer. Returns why the start must fail (health port in use), else None."""
        from runtime.process.errors import StartupError

        o = self.state.options
        phase = lambda: str(self.state.phase)  # noqa: E731
        self.sup = Supervision(o.title, o.shutdown_delay, clock=self.timers.clock, phase=phase)
        self.orphans.become_subreaper()
        # A new master of an upgrade speaks to systemd once the old one made it the main
        # pid (`took_over`); before that its messages would be the old master's to send.
        self.sup.notifier.held = o.handover_fd is not None
        self.selector = selector
        if o.health_port is not None:
            try:
                self.sup.serve_health(o.health_host, o.health_port, self.samples, o.health_fd)
            except StartupError as exc:
                return str(exc)
            if not self.sup.notifier.held:  # a new master answers probes once it owns
                self.register_health()
        interval = self.sup.watchdog_interval
        if interval is not None:
            self.sup.watchdog()
            self.timers.every(interval, self.watchdog)
        return None

    def watchdog(self) -> bool:
        """WATCHDOG=1 from the loop itself: a stuck loop stops it, and systemd acts."""
        if self.sup is not None:
            self.sup.watchdog()
        return self.sup is not None

    # -- lifecycle events ------------------------------------------------------------------
    def agent_started(self) -> None:
        if self.sup is not None:
            self.sup.agent_started()

    def worker_started(self) -> None:
        if self.sup is not None:
            serving = self.children.serving()
            reload = self.state.reload
            if reload is not None:  # k/N: on the new code
                serving = [h for h in serving if h.generation >= reload.generation]
            self.sup.worker_started(len(serving), self.state.target_workers)

    def ready(self) -> None:
        if self.sup is not None:
            self.sup.ready(len(self.children.serving()), self.state.url)

    def reload_started(self) -> None:
        if self.sup is not None:
            self.sup.reload_started()

    def reload_finished(self, ok: bool) -> None:
        if self.sup is not None and self.state.phase is Phase.READY:
            self.sup.reload_finished(len(self.children.serving()), self.state.url, ok)

    def child_exited(self, handle: ChildHandle) -> None:
        """A child was reaped. One that did not leave on purpose (killed, crashed) could
        not terminate the processes its app code started: they are orphans now, ours."""
        if handle.sigkilled or handle.exited_from not in ASKED_TO_LEAVE:
            self.orphans.terminate(self.children.by_pid, self.state.options.kill_app_timeout)

    # -- stopping --------------------------------------------------------------------------
    def delay_stop(self) -> bool:
        """SIGTERM: True when the drain waits for `--shutdown-delay` (the cluster is
        DRAINING: not ready, still serving); False: drain now."""
        s = self.state
        if self.sup is None or s.phase not in (Phase.READY, Phase.RELOADING):
            return False
        if not self.sup.shutdown_delay:
            return False
        s.move_to(Phase.DRAINING)
        seconds = self.sup.stop_requested()
        s.log.info("stop requested: not ready, serving %gs more before draining", seconds)
        self.delay = self.timers.call_later(seconds, self.delay_over)
        return True

    def delay_over(self) -> None:
        self.delay = None
        self.ops.begin_close(ExitCode.OK, "shutdown delay over")

    def closing(self) -> None:
        """The drain begins (after the delay, or at once)."""
        if self.delay is not None:
            self.delay.cancel()
            self.delay = None
        if self.sup is not None:
            if not self.sup.stopping:
                self.sup.stop_requested()
            self.sup.closing()

    # -- an upgrade (runtime/master/lifecycle/upgrade.py) ------------------------------------------
    def successor_env(self) -> dict[str, str]:
        """What the new master needs to speak to systemd once it is the main pid."""
        return self.sup.notifier.environ() if self.sup is not None else {}

    def spare(self, pid: int) -> None:
        """The new master is our child (we are a subreaper) but no orphan of app code."""
        self.orphans.spared.add(pid)

    def upgrade_started(self) -> None:
        """`RELOADING=1` (systemd shows the unit reloading); `READY=1` follows from the
        new master, or from us again if it failed (`ready`)."""
        if self.sup is not None:
            self.sup.notifier.reloading("upgrading: a new master is starting")

    def register_health(self, register: bool = True) -> None:
        assert self.sup is not None
        for obj, events, data in self.sup.registrations():
            if register:
                self.selector.register(obj, events, data)
            else:
                self.selector.unregister(obj)

    def health_fd(self) -> int | None:
        health = self.sup.health if self.sup is not None else None
        return health.listener.fileno() if health is not None else None

    def took_over(self) -> None:
        """A new master now owns the cluster: `READY=1` as systemd's main pid, and the
        health probes are its to answer."""
        if self.sup is not None:
            self.sup.notifier.held = False
            self.register_health()
        self.ready()

    def hand_over(self, pid: int) -> None:
        """`MAINPID=` the new master, then silence: our drain is no longer the service's."""
        if self.sup is not None:
            self.sup.notifier.main_pid(pid)
            self.sup.notifier.close()
            if self.sup.health is not None:  # the new master answers the probes now
                self.register_health(False)
                self.sup.health.close()
                self.sup.health = None

    # -- SIGUSR1 ---------------------------------------------------------------------------
    def reopen_logs(self) -> None:
        """logrotate moved the files: reopen the master's, then every child's (each child
        reopens its own on SIGUSR1, runtime/worker/base.py)."""
        from runtime.process.log_setup import reopen

        o = self.state.options
        reopen(o.stdout_log, o.stderr_log)
        for handle in self.children.all():
            # A booting child may not have its handler yet (SIGUSR1's default kills);
            # it opens its files after the move anyway.
            if handle.state is not ChildState.BOOTING:
                handle.signal(signal.SIGUSR1)
        self.state.log.info("reopened the log files (SIGUSR1), and asked every child to")

    # -- what the probes read --------------------------------------------------------------
    def samples(self) -> list[WorkerSample]:
        children = self.children
        if self.sup is not None:
            agent = children.agent
            self.sup.agent_up = agent is not None and agent.state is ChildState.SERVING
        now = self.timers.clock()
        out = []
        for h in children.all():
            if h.state is not ChildState.SERVING:
                continue
            stats = h.stats if isinstance(h.stats, dict) else {}
            http = h.kind.pooled  # the agent serves no HTTP: no request numbers
            out.append(
                WorkerSample(
                    id=h.id,
                    role=str(h.role),
                    pid=h.pid,
                    requests=int(stats.get("requests") or 0) if http else None,
                    in_flight=int(stats.get("in_flight") or 0) if http else None,
                    restarts=dict(children.restart_causes.get((str(h.role), h.id), {})),
                    rss_bytes=rss_bytes(h.pid),
                    heartbeat_age=max(0.0, now - h.last_seen),
                    saturated=_saturated(stats) if http else None,
                )
            )
        return out

    def fds(self) -> list[int]:
        return self.sup.fds() if self.sup is not None else []

    def close(self) -> None:
        if self.delay is not None:
            self.delay.cancel()
        self.orphans.finish(self.children.by_pid)
        if self.sup is not None:
            self.sup.close()


def _saturated(stats: WorkerStats) -> bool | None:
    """A WSGI worker's `saturated` flag; None for a worker without a thread pool."""
    value = stats.get("saturated")
    return None if value is None else bool(value)
