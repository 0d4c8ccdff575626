"""The master's side of production supervision (SPEC §11, docs/DEPLOY.md), wired to the
loop: systemd notifications, the `--health-port` server, the systemd watchdog timer, the
`--shutdown-delay` before a drain, SIGUSR1 log reopening and the orphans app code leaves.

`Supervision` (runtime/master/supervision.py) knows the protocols and has no master;
this class knows the master and calls it at the lifecycle events the loop already has,
so the loop gains one-line calls and no protocol knowledge. Everything here is driven by
the master's selector and timers: no thread.

Shutdown delay: the first SIGTERM (or SIGQUIT) marks the cluster draining (`/readyz`
503, `STOPPING=1`) and keeps every worker serving for `--shutdown-delay` ms, so
Kubernetes removes the pod from its endpoints before anything stops accepting
(kubernetes #67592); then the normal graceful stop begins. A second SIGTERM, or a
SIGINT (Ctrl-C is a person waiting, not a load balancer), drains at once.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from runtime.master.metrics import WorkerSample, rss_bytes
from runtime.master.orphans import Orphans
from runtime.master.spawner import ProcessSpawner
from runtime.master.states import ChildState, Phase
from runtime.master.supervision import Supervision
from runtime.master.timers import Timer

if TYPE_CHECKING:
    from runtime.master.handle import ChildHandle
    from runtime.master.loop import Master


class Production:
    def __init__(self, master: Master) -> None:
        self.m = master
        self.sup: Supervision | None = None
        self.delay: Timer | None = None  # pending end of the shutdown delay
        real = isinstance(master.spawner, ProcessSpawner)  # never scan a test runner's kids
        self.orphans = Orphans(master.spawner.kill, master.timers, master.log, enabled=real)

    def begin(self) -> str | None:
        """Before the agent is spawned (its environment must no longer carry
        `NOTIFY_SOCKET`/`WATCHDOG_*`): the notifier, the health server and the watchdog
        timer. Returns why the start must fail (health port in use), else None."""
        from runtime.errors import StartupError

        m = self.m
        self.sup = Supervision(m.options.title, m.options.shutdown_delay, clock=m.clock)
        self.orphans.become_subreaper()
        if m.options.health_port is not None:
            try:
                self.sup.serve_health(m.options.health_host, m.options.health_port, self.samples)
            except StartupError as exc:
                return str(exc)
            for obj, events, data in self.sup.registrations():
                m.selector.register(obj, events, data)
        interval = self.sup.watchdog_interval
        if interval is not None:
            self.sup.watchdog()
            m.timers.every(interval, self.watchdog)
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
        m = self.m
        if self.sup is not None:
            serving = m.children.serving()
            if m.reload is not None:  # k/N: on the new code
                serving = [h for h in serving if h.generation >= m.reload.generation]
            self.sup.worker_started(len(serving), m.target_workers)

    def ready(self) -> None:
        if self.sup is not None:
            self.sup.ready(len(self.m.children.serving()), self.m.url)

    def reload_started(self) -> None:
        if self.sup is not None:
            self.sup.reload_started()

    def reload_finished(self, ok: bool) -> None:
        if self.sup is not None and self.m.phase is Phase.READY:
            self.sup.reload_finished(len(self.m.children.serving()), self.m.url, ok)

    def child_exited(self, handle: ChildHandle) -> None:
        """A child was reaped. One that did not leave on purpose (killed, crashed) could
        not terminate the processes its app code started: they are orphans now, ours."""
        if handle.sigkilled or handle.exited_from not in (ChildState.STOPPING, ChildState.LEAVING):
            self.orphans.terminate(self.m.children.by_pid, self.m.options.kill_app_timeout)

    def state_name(self) -> str:
        """starting / ready / reloading / draining / stopping, for status and health."""
        m = self.m
        if m.phase.value.startswith("starting"):
            return "starting"
        if self.delay is not None:  # --shutdown-delay: still serving, no longer ready
            return "draining"
        if m.reload is not None and m.phase is Phase.READY:
            return "reloading"
        return m.phase.value

    # -- stopping --------------------------------------------------------------------------
    def stop_requested(self) -> None:
        """SIGTERM/SIGQUIT: drain now, or after `--shutdown-delay`."""
        if not self.delay_stop():
            self.m.begin_close(0, "received a stop signal")

    def delay_stop(self) -> bool:
        """SIGTERM: True when the drain waits for `--shutdown-delay` (the cluster reports
        not-ready and keeps serving meanwhile); False: drain now."""
        m = self.m
        if self.sup is None or self.delay is not None or m.phase is not Phase.READY:
            return False
        seconds = self.sup.stop_requested()
        if not seconds:
            return False
        m.log.info("stop requested: not ready, serving %gs more before draining", seconds)
        self.delay = m.timers.call_later(seconds, self.delay_over)
        return True

    def delay_over(self) -> None:
        self.delay = None
        self.m.begin_close(0, "shutdown delay over")

    def closing(self) -> None:
        """The drain begins (after the delay, or at once)."""
        if self.delay is not None:
            self.delay.cancel()
            self.delay = None
        if self.sup is not None:
            if self.sup.state not in ("draining", "closing"):
                self.sup.stop_requested()
            self.sup.closing()

    # -- SIGUSR1 ---------------------------------------------------------------------------
    def reopen_logs(self) -> None:
        """logrotate moved the files: reopen the master's, then every child's (each child
        reopens its own on SIGUSR1, runtime/worker/base.py)."""
        from runtime.logs import reopen

        o = self.m.options
        reopen(o.stdout_log, o.stderr_log)
        for handle in self.m.children.all():
            # A booting child may not have its handler yet (SIGUSR1's default kills);
            # it opens its files after the move anyway.
            if handle.state is not ChildState.BOOTING:
                handle.signal(signal.SIGUSR1)
        self.m.log.info("reopened the log files (SIGUSR1), and asked every child to")

    # -- what the probes read --------------------------------------------------------------
    def samples(self) -> list[WorkerSample]:
        m = self.m
        children = m.children
        if self.sup is not None:
            agent = children.agent
            self.sup.agent_up = agent is not None and agent.state is ChildState.SERVING
        now = m.clock()
        out = []
        for h in children.all():
            if h.state is not ChildState.SERVING:
                continue
            stats = h.stats if isinstance(h.stats, dict) else {}
            http = not h.is_agent  # the agent serves no HTTP: no request numbers
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
                    saturated=stats.get("saturated") if http else None,
                )
            )
        return out

    def fds(self) -> list[int]:
        return self.sup.fds() if self.sup is not None else []

    def close(self) -> None:
        if self.delay is not None:
            self.delay.cancel()
        self.orphans.finish(self.m.children.by_pid)
        if self.sup is not None:
            self.sup.close()
