"""What the master does when a child dies (egg-cluster's `onAppExit` / `onAgentExit`, with
limits and backoff for both).

Before ready, any death fails the start. After it, a dead app worker that was in the pool
gets exactly one replacement (one that disconnected after a fault was already replaced
when it left the pool; one STOPPING or LEAVING was meant to go), subject to the refork
limit and boot-failure backoff of `ReforkPolicy`. A dead agent is restarted after
`agent_restart_delay`, with the same limit, and backoff when agents keep dying young: an
agent crash loop must not restart it every second forever. A spawn or fork that fails
(EAGAIN under a pids limit) is a failed boot: logged, retried with backoff, and the
surviving workers keep serving.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.exitcodes import ExitCode, describe_status
from runtime.ipc.message import Action
from runtime.master.handle import ChildHandle
from runtime.master.refork import ReforkPolicy
from runtime.master.shutdown import stop
from runtime.master.states import ChildState, Phase
from runtime.master.timers import Timer

if TYPE_CHECKING:
    from runtime.master.loop import Master

S = ChildState
# An agent that dies sooner than this after it started counts as a failed boot.
AGENT_SHORT_LIFE = 10.0


class Replacement:
    def __init__(self, master: Master) -> None:
        self.m = master
        o, clock = master.options, master.clock
        limit, duration = o.refork_limit, o.refork_duration / 1000
        self.apps = ReforkPolicy(limit, duration, o.refork, o.env, clock=clock)
        self.agents = ReforkPolicy(
            limit, duration, True, o.env, o.agent_restart_delay / 1000, clock
        )
        self.pending: list[Timer] = []

    # -- deaths --------------------------------------------------------------------------
    def on_exit(self, handle: ChildHandle, status: int) -> None:
        m = self.m
        how = describe_status(status, handle.sigkilled)
        expected = handle.exited_from in (S.STOPPING, S.LEAVING)
        if m.phase is Phase.CLOSING or expected:
            m.log.info("%s exited (%s)", handle.label, how)
            m.check_closed()
            if m.phase is Phase.READY and not handle.is_agent:
                m.startup.send_pids()
            elif m.reload is not None and handle.is_agent:
                m.reload.agent_exited()
        elif m.reload is not None and m.reload.boot_failed(handle, how):
            m.log.error("%s died before it started (%s)", handle.label, how)
        elif m.phase is not Phase.READY:
            if handle.startup_error is None:  # else its own message failed the start
                what = "agent" if handle.is_agent else f"app worker #{handle.id}"
                code = ExitCode.AGENT_START_ERROR if handle.is_agent else ExitCode.WORKER_BOOT_ERROR
                m.startup.fail(f"{what} (pid {handle.pid}) exited before it started ({how})", code)
        else:
            m.log.error("%s died (%s)", handle.label, how)
            m.children.note_restart(handle, how)
            if handle.is_agent:
                m.children.send(m.children.pool(), Action.AGENT_EXIT, {"pid": handle.pid})
                self.agent_died(handle)
            else:
                m.children.send(m.children.members(), Action.APP_EXIT, {"pid": handle.pid})
                m.startup.send_pids()
                self.app_died(handle)
        if m.reload is not None and not handle.is_agent:
            m.reload.child_exited()
        m.production.child_exited(handle)  # its app code's orphans, if it died unclean

    def on_disconnect(self, handle: ChildHandle, data: Any) -> None:
        """A faulted worker leaves the pool: replace it now, not again at its exit."""
        m = self.m
        if m.phase is Phase.READY and handle.state in (S.BOOTING, S.SERVING):
            handle.change_state(S.LEAVING)
            m.log.error("%s disconnected after an uncaught error", handle.label)
            m.children.note_restart(handle, "uncaught error")
            self.app_died(handle)

    # -- the pool's size -----------------------------------------------------------------
    def scale_to(self, count: int) -> None:
        """`scale`, SIGTTIN/SIGTTOU: fork the missing workers now; drain the surplus, booting
        and newest first (STOPPING: their exits are not replaced)."""
        m = self.m
        count = max(1, count)
        m.log.info("scaling to %d app workers (from %d)", count, m.target_workers)
        m.target_workers = count
        pool = sorted(m.children.pool(), key=lambda h: (h.state is S.SERVING, -h.id))
        for handle in pool[: max(0, len(pool) - count)]:
            stop(handle)
        for _ in range(count - len(pool)):
            m.fork_app()

    # -- plans ---------------------------------------------------------------------------
    def app_started(self) -> None:
        self.apps.boot_failures = 0

    def app_died(self, handle: ChildHandle) -> None:
        if handle.started_at is None:
            self.apps.boot_failures += 1
        delay, why_not = self.apps.plan()
        if delay is None:
            self.m.log.error("%s; not replacing %s", why_not, handle.label)
            if not self.m.children.pool():
                self.m.begin_close(ExitCode.ERROR, "no app worker left")
            return
        if delay:
            self.m.log.warning("replacing %s in %.1fs", handle.label, delay)
        self._later(delay, self._fork)

    def agent_died(self, handle: ChildHandle) -> None:
        started = handle.started_at
        if started is None or self.m.clock() - started < AGENT_SHORT_LIFE:
            self.agents.boot_failures += 1
        else:
            self.agents.boot_failures = 0
        delay, why_not = self.agents.plan()
        if delay is None:
            self.m.log.error("%s; not restarting %s", why_not, handle.label)
            return
        self.m.log.info("restarting the agent in %.1fs", delay)
        self._later(delay, self._spawn_agent)

    def _fork(self) -> None:
        self._retry(self.m.fork_app, self.apps, self._fork)

    def _spawn_agent(self) -> None:
        self._retry(self.m.spawn_agent, self.agents, self._spawn_agent)

    def _retry(
        self, start: Callable[[], bool], policy: ReforkPolicy, again: Callable[[], None]
    ) -> None:
        """A spawn that failed (fork EAGAIN) is a failed boot: back off and try again."""
        if self.m.phase is Phase.CLOSING or start():
            return
        policy.boot_failures += 1
        delay, why_not = policy.plan()
        if delay is None:
            self.m.log.error("%s; giving up", why_not)
        else:
            self.m.log.warning("trying again in %.1fs", delay)
            self._later(max(delay, 0.1), again)

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        self.pending = [t for t in self.pending if not t.cancelled]
        if delay:
            self.pending.append(self.m.timers.call_later(delay, action))
        else:
            action()

    def cancel(self) -> None:
        for timer in self.pending:
            timer.cancel()
        self.pending = []
