"""Rolling reload (`eggscripts reload`, SIGHUP): new code in, no request dropped.

Peers get this wrong in ways users have filed: gunicorn stops old workers without waiting
for the new ones, granian sleeps a fixed time, uvicorn waits at most 5 s and reports
nothing. Here each swap is gated on the new worker's own `app-start`, capacity never drops
below N, and the outcome is reported to whoever asked:

1. the agent is replaced first: the old one is stopped (its leader endpoint is the
   master's socket, so followers reconnect to the same path); the pool
   (runtime/master/lifecycle/pool.py) starts a new one, which must say `agent-start`. A request
   with `agent=False` (what `eggscripts dev` sends when only files the agent never loads
   changed) keeps a running agent and goes straight to step 2: the agent's boot is most
   of a small app's reload;
2. then, one at a time: fork one extra worker of the new generation (the pool counts it:
   `surging`); once it serves, the oldest worker of the old generation is told to leave
   (LEAVING: it stops accepting, drains, runs `before_close`, exits; not replaced);
3. the first new worker is the canary: if it cannot boot (a load error, an exit before
   `app-start`, the startup timeout), it is stopped, no old worker is touched, and the
   reload fails with its one-line error; a later failure stops the roll where it is and
   says how many workers run the new code. A reload that fails or times out kills the
   child it was waiting for, so the pool goes back to exactly the target.

New workers load the app from BASE_DIR as given, so a BASE_DIR that is a symlink
(`/srv/app/current` -> `releases/42`) switched before the reload serves the new release.
The master's own code is not reloaded. `stop` during a reload wins (`abort`).
"""

from __future__ import annotations

import enum
import os
import signal

from runtime.contract.exitcodes import ExitCode
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.states import IN_POOL, ChildState
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.graceful_stop import stop
from runtime.master.lifecycle.ops import MasterOps, ReloadReport, Report
from runtime.master.lifecycle.timers import Timer, Timers

S = ChildState


class Step(enum.Enum):
    AGENT = "agent"  # waiting for the new agent's agent-start
    WORKERS = "workers"  # swapping app workers one at a time
    DRAINING = "draining"  # every worker swapped; waiting for the old ones to exit


class RollingReload:
    def __init__(
        self,
        state: ClusterState,
        ops: MasterOps,
        children: Children,
        timers: Timers,
        report: Report | None = None,
        timeout_ms: int | None = None,
        agent: bool = True,
    ) -> None:
        self.state = state
        self.ops = ops
        self.children = children
        self.timers = timers
        self.timeout_ms = timeout_ms
        self.overall: Timer | None = None
        self.report: Report = report or (lambda _event, _data: None)
        self.generation = children.next_generation()
        self.total = state.target_workers
        self.replaced = 0
        self.step = Step.AGENT
        self.with_agent = agent
        self.current: ChildHandle | None = None  # the new app worker being waited for
        self.retiring: ChildHandle | None = None  # the old worker it will take over from
        self.agent_kill: Timer | None = None
        self.done = False
        self.release = os.path.realpath(state.options.base_dir)

    # -- driving -------------------------------------------------------------------------
    def begin(self) -> None:
        if self.timeout_ms:
            self.overall = self.timers.call_later(self.timeout_ms / 1000, self.overdue)
        agent = self.children.agent
        keep = not self.with_agent and agent is not None and agent.state is S.SERVING
        self.state.log.info(
            "reload: rolling %d app workers (%s) onto %s",
            self.total,
            "the agent keeps running" if keep else "and the agent",
            self.release,
        )
        if keep:
            self.step = Step.WORKERS
            self.next_worker()
        elif agent is not None and agent.state is not S.KILLED:
            stop(agent)  # once it exited, the pool starts the new one
            timeout = self.state.options.kill_agent_timeout / 1000
            self.agent_kill = self.timers.call_later(timeout, lambda: agent.signal(signal.SIGKILL))

    def surging(self) -> bool:
        """True while the pool holds one extra worker for this reload."""
        return self.current is not None and self.current.state in IN_POOL

    def awaits(self, handle: ChildHandle) -> bool:
        """The new child this reload waits for: any new agent, then `current`."""
        if self.step is Step.AGENT:
            return not handle.kind.pooled and handle.generation >= self.generation
        return handle is self.current

    def started(self, handle: ChildHandle) -> None:
        """`agent-start` / `app-start` from any child; only ours advances the roll."""
        if self.done or not self.awaits(handle):
            return
        self.current = None
        if self.step is Step.AGENT:
            self.step = Step.WORKERS
            if self.agent_kill is not None:
                self.agent_kill.cancel()
            self.report("progress", {"agent": handle.pid, "replaced": 0, "total": self.total})
        else:
            self.retire_one()
            self.replaced += 1
            self.report(
                "progress", {"pid": handle.pid, "replaced": self.replaced, "total": self.total}
            )
        self.next_worker()

    def next_worker(self) -> None:
        if not self.old_workers():
            self.step = Step.DRAINING
            self.child_exited()  # done once the last old worker has drained and exited
            return
        self.retiring = self.next_to_retire()
        newest = self.children.newest
        # The new worker takes the old one's id: worker ids stay 1..N across reloads.
        if not self.ops.fork_app(self.retiring.id) or self.children.newest is newest:
            self.fail("could not fork a new app worker")
            return
        self.current = self.children.newest

    def child_exited(self) -> None:
        """An app worker exited: the roll is done when no old worker is left at all (not
        merely told to leave: until it exits it may still answer a request)."""
        if self.step is Step.DRAINING and not any(
            h.generation < self.generation for h in self.children.apps()
        ):
            self.finish()

    def old_workers(self) -> list[ChildHandle]:
        return [h for h in self.children.pool() if h.generation < self.generation]

    def next_to_retire(self) -> ChildHandle:
        """A booting old one first, else the oldest (only called while old ones remain)."""
        return min(self.old_workers(), key=lambda h: (h.state is S.SERVING, h.spawned_at))

    def retire_one(self) -> None:
        handle = self.retiring
        if handle is None or handle not in self.old_workers():  # it died meanwhile
            handle = self.next_to_retire() if self.old_workers() else None
        self.retiring = None
        if handle is not None:
            handle.change_state(S.LEAVING)
            handle.signal(signal.SIGTERM)  # stop accepting, drain, before_close, exit

    # -- failures ------------------------------------------------------------------------
    def overdue(self) -> None:
        self.fail(f"reload did not finish within {self.timeout_ms} ms (--timeout)")

    def boot_timed_out(self, handle: ChildHandle) -> bool:
        """The pool found `handle` booting past the startup timeout: True when it was ours
        (then killed, and the reload fails)."""
        ms = self.state.options.startup_timeout
        why = f"did not start within {ms} ms (startup timeout)"
        return self.boot_failed(handle, why, ExitCode.WORKER_BOOT_ERROR, signal.SIGKILL)

    def boot_failed(
        self,
        handle: ChildHandle,
        why: str,
        code: int = ExitCode.WORKER_BOOT_ERROR,
        sig: int = signal.SIGTERM,
    ) -> bool:
        """A new child failed to boot: True when it was ours (the roll then fails with
        `code`: 4 its code failed to load, 3 it died or did not start in time)."""
        if self.done or not self.awaits(handle):
            return False
        self.current = None
        self.abandon(handle, sig)
        self.fail(f"the new {handle.what} failed to start: {why}", code)
        return True

    def abandon(self, handle: ChildHandle, sig: int) -> None:
        """Stop a new child this reload started and no longer wants. An app worker's exit
        is then expected; an agent's is a death, restarted with backoff."""
        if handle.state not in IN_POOL:
            return
        if handle.kind.pooled:
            stop(handle, sig)
        else:
            handle.change_state(S.KILLED)
            handle.signal(sig)

    def fail(self, error: str, code: int = ExitCode.ERROR) -> None:
        if self.done:
            return
        waited = self.current
        if waited is None and self.step is Step.AGENT:
            agent = self.children.agent
            waited = agent if agent is not None and self.awaits(agent) else None
        if waited is not None:  # the reload kills what it started
            self.current = None
            self.abandon(waited, signal.SIGKILL)
        if self.step is Step.WORKERS and self.replaced:
            error += f"; {self.replaced} of {self.total} workers run the new code"
        elif self.step is not Step.DRAINING:
            error += "; the old workers keep serving"
        self.state.log.error("reload failed: %s", error)
        self.end(
            {"ok": False, "error": error, "exit": code, "replaced": self.replaced,
             "total": self.total}
        )  # fmt: skip

    def abort(self, why: str) -> None:
        """`stop` during a reload wins."""
        if not self.done:
            self.end(
                {"ok": False, "error": f"reload interrupted: {why}", "replaced": self.replaced}
            )

    def finish(self) -> None:
        self.state.release_dir = self.release
        pids = [h.pid for h in self.children.pool()]
        agent = self.children.agent.pid if self.children.agent else None
        self.state.log.info("reload: done, app workers %s, agent %s", pids, agent)
        self.end({"ok": True, "pids": pids, "agent": agent, "replaced": self.replaced,
                  "total": self.total, "release": self.release})  # fmt: skip

    def end(self, data: ReloadReport) -> None:
        self.done = True
        for timer in (self.overall, self.agent_kill):
            if timer is not None:
                timer.cancel()
        self.ops.reload_ended(bool(data.get("ok")))
        self.report("done", data)
