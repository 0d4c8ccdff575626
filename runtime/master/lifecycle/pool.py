"""The pool reconciles instead of remembering (gunicorn's `manage_workers`): on every loop
pass `maintain()` compares the children with what is wanted (one agent, `target_workers`
app workers plus the reload's one extra, no child booting past the startup timeout) and
spawns, forks, retires or kills to converge. Timers only wake the loop up; no callback
carries a fork.

A death only updates what is wanted: before ready it fails the start; after it, a death the
master did not ask for (crash, SIGKILL of a stuck child) goes through the kind's refork
policy (`ReforkPolicy`: egg's limit plus backoff), which either delays the next spawn or
gives the slot up. An agent is restarted after `agent_restart_delay`, with backoff when
agents keep dying young. A spawn or fork that fails (EAGAIN under a pids limit) is a failed
boot: logged, retried with backoff, and the surviving workers keep serving.
"""

from __future__ import annotations

import signal

from runtime.contract.capacity import workers_problem
from runtime.contract.exitcodes import ExitCode, describe_status
from runtime.contract.payloads import Disconnect
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.kinds import Refork
from runtime.master.children.refork import ReforkPolicy
from runtime.master.children.states import ASKED_TO_LEAVE, IN_POOL, ChildState, Phase
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.graceful_stop import stop
from runtime.master.lifecycle.ops import MasterOps
from runtime.master.lifecycle.recycle import Recycler
from runtime.master.lifecycle.timers import Timers

S = ChildState
# An agent that dies sooner than this after it started counts as a failed boot.
AGENT_SHORT_LIFE = 10.0


class Pool:
    def __init__(
        self, state: ClusterState, ops: MasterOps, children: Children, timers: Timers
    ) -> None:
        self.state = state
        self.ops = ops
        self.children = children
        self.timers = timers
        o, clock = state.options, timers.clock
        limit, duration = o.refork_limit, o.refork_duration / 1000
        self.apps = ReforkPolicy(limit, duration, o.refork, o.env, clock=clock)
        self.agents = ReforkPolicy(
            limit, duration, True, o.env, o.agent_restart_delay / 1000, clock
        )
        self.apps_not_before = 0.0  # refork backoff: no fork before this time
        self.agent_not_before = 0.0
        self.apps_given_up = 0  # slots the refork policy refused to fill again
        self.agent_given_up = False
        self.recycler = Recycler(state, ops, children, timers)

    # -- what is wanted ------------------------------------------------------------------
    def wanted_apps(self) -> int:
        """`target_workers`, less the slots given up, plus the extra worker of a reload or
        of a recycling (runtime/master/lifecycle/recycle.py)."""
        reload = self.state.reload
        surge = 1 if reload is not None and reload.surging() else 0
        surge += 1 if self.recycler.surging() else 0
        return max(0, self.state.target_workers - self.apps_given_up) + surge

    def maintain(self) -> None:
        """One reconciling step (every loop pass, once the cluster is running)."""
        if not self.state.phase.running:
            return
        now = self.timers.clock()
        self.kill_overdue(now)
        self.keep_agent(now)
        self.keep_apps(now)
        self.recycler.maintain(now)

    def kill_overdue(self, now: float) -> None:
        """A child booting past the startup timeout is killed (a reload's canary fails its
        reload); its exit is then accounted for like any death."""
        ms = self.state.options.startup_timeout
        for handle in self.children.all():
            if handle.state is not S.BOOTING or now - handle.spawned_at <= ms / 1000:
                continue
            reload = self.state.reload
            if reload is not None and reload.boot_timed_out(handle):
                continue
            self.state.log.error("%s did not start within %d ms; killing it", handle.label, ms)
            handle.change_state(S.KILLED)
            handle.signal(signal.SIGKILL)

    def keep_agent(self, now: float) -> None:
        if self.children.agent is not None or self.agent_given_up or now < self.agent_not_before:
            return
        if self.ops.spawn_agent():
            return
        delay = self.spawn_failed(self.agents)
        if delay is None:
            self.agent_given_up = True
        else:
            self.agent_not_before = now + delay

    def keep_apps(self, now: float) -> None:
        """A KILLED worker still counts: its exit frees its worker id for its successor."""
        pool = self.children.pool()
        have = len(pool) + len(self.children.apps_in(S.KILLED))
        wanted = self.wanted_apps()
        if have > wanted:
            self.retire_surplus(pool, have - wanted)
            return
        if now < self.apps_not_before:
            return
        for _ in range(wanted - have):
            if self.ops.fork_app():
                continue
            delay = self.spawn_failed(self.apps)
            if delay is None:
                self.gave_up_a_worker()
            else:
                self.apps_not_before = now + delay
            return

    def retire_surplus(self, pool: list[ChildHandle], count: int) -> None:
        """Drain the surplus: booting first, then the old code's, then the newest (STOPPING:
        their exits are not replaced). Never the worker a reload is waiting for."""
        reload = self.state.reload
        current = reload.current if reload is not None else None
        generation = self.children.generation
        candidates = sorted(
            (h for h in pool if h is not current),
            key=lambda h: (h.state is S.SERVING, h.generation >= generation, -h.id),
        )
        for handle in candidates[:count]:
            stop(handle)

    def spawn_failed(self, policy: ReforkPolicy) -> float | None:
        """A spawn that failed (fork EAGAIN) is a failed boot: the seconds to back off, or
        None when the policy gives up."""
        policy.boot_failures += 1
        delay, why_not = policy.plan()
        if delay is None:
            self.state.log.error("%s; giving up", why_not)
            return None
        delay = max(delay, 0.1)
        self.state.log.warning("trying again in %.1fs", delay)
        self.wake_in(delay)
        return delay

    def gave_up_a_worker(self) -> None:
        self.apps_given_up += 1
        if not self.children.pool():
            self.ops.begin_close(ExitCode.ERROR, "no app worker left")

    def wake_in(self, delay: float) -> None:
        """Only wakes the loop: the next pass's `maintain` does the work."""
        self.timers.call_later(delay, lambda: None)

    # -- the pool's size -----------------------------------------------------------------
    def scale_by_signal(self, name: str, delta: int) -> None:
        """SIGTTIN/SIGTTOU: one worker more or less, within the bound `start --workers` and
        `scale` have: past it, one line and nothing changes (a loop of `kill -TTIN` cannot
        fork bomb)."""
        if self.state.phase not in (Phase.READY, Phase.RELOADING):
            return
        wanted = self.state.target_workers + delta
        problem = workers_problem(wanted)
        if problem is not None:
            self.state.log.warning("%s refused: %s", name, problem)
            return
        self.scale_to(wanted)

    def scale_to(self, count: int) -> None:
        """`scale`, SIGTTIN/SIGTTOU: a new target (at least one); `maintain` forks the
        missing workers or drains the surplus. Slots given up count again."""
        count = max(1, count)
        self.state.log.info("scaling to %d app workers (from %d)", count, self.state.target_workers)
        self.state.target_workers = count
        self.apps_given_up = 0

    def new_chances(self) -> None:
        """A reload brings new code: slots and an agent the policy gave up on, and any
        backoff, get a fresh try with it."""
        self.apps_given_up = 0
        self.agent_given_up = False
        self.apps_not_before = self.agent_not_before = 0.0

    # -- deaths --------------------------------------------------------------------------
    def on_exit(self, handle: ChildHandle, status: int) -> None:
        s = self.state
        how = describe_status(status, handle.sigkilled)
        expected = handle.exited_from in ASKED_TO_LEAVE
        if s.phase.closing or expected:
            s.log.info("%s exited (%s)", handle.label, how)
            self.ops.check_closed()
            if s.phase.running and handle.kind.pooled:
                self.ops.send_pids()
        elif s.reload is not None and s.reload.boot_failed(handle, how):
            s.log.error("%s died before it started (%s)", handle.label, how)
        elif self.recycler.boot_failed(handle, how):
            pass  # logged; the worker it was to replace keeps serving
        elif s.phase.starting:
            if handle.startup_error is None:  # else its own message failed the start
                text = f"{handle.what} exited before it started ({how})"
                self.ops.fail_start(text, handle.kind.boot_failure_exit)
        else:
            self.children.note_restart(handle, how)
            self.children.send(
                self.children.members(), handle.kind.exit_action, {"pid": handle.pid}
            )
            if handle.kind.refork is Refork.RESTART:
                self.agent_died(handle, how)
            else:
                s.log.error("%s died (%s)", handle.label, how)
                self.ops.send_pids()
                self.app_died(handle)
        if s.reload is not None and handle.kind.pooled:
            s.reload.child_exited()

    def on_disconnect(self, handle: ChildHandle, data: Disconnect) -> None:
        """A faulted worker leaves the pool: replaced now, not again at its exit."""
        if self.state.phase.running and handle.state in IN_POOL:
            handle.change_state(S.LEAVING)
            self.state.log.error("%s disconnected after an uncaught error", handle.label)
            self.children.note_restart(handle, "uncaught error")
            self.app_died(handle)

    def app_started(self) -> None:
        self.apps.boot_failures = 0

    def app_died(self, handle: ChildHandle) -> None:
        if handle.started_at is None:
            self.apps.boot_failures += 1
        delay, why_not = self.apps.plan()
        if delay is None:
            self.state.log.error("%s; not replacing %s", why_not, handle.label)
            self.gave_up_a_worker()
            return
        if delay:
            self.state.log.warning("replacing %s in %.1fs", handle.label, delay)
            self.wake_in(delay)
        self.apps_not_before = max(self.apps_not_before, self.timers.clock() + delay)

    def agent_died(self, handle: ChildHandle, how: str) -> None:
        """One line says the death and when the agent comes back (egg's wording)."""
        now = self.timers.clock()
        started = handle.started_at
        if started is None or now - started < AGENT_SHORT_LIFE:
            self.agents.boot_failures += 1
        else:
            self.agents.boot_failures = 0
        delay, why_not = self.agents.plan()
        if delay is None:
            self.state.log.error("%s died (%s); %s, not restarting it", handle.label, how, why_not)
            self.agent_given_up = True
            return
        self.state.log.error("%s died (%s), restart after %gs", handle.label, how, delay)
        self.agent_not_before = now + delay
        self.wake_in(delay)
