"""Rolling reload (`eggscripts reload`, SIGHUP): new code in, no request dropped.

Every peer gets this wrong in a way users have filed (PITFALLS "Reload"): gunicorn stops
old workers without waiting for the new ones, granian sleeps a fixed time, uvicorn waits
at most 5 s and reports nothing. Here each swap is gated on the new worker's own
`app-start`, capacity never drops below N, and the outcome is reported to whoever asked:

1. the agent is replaced first: the old one is stopped (its leader endpoint is the
   master's socket, so followers reconnect to the same path), then a new one is started
   and must say `agent-start`;
2. then, one at a time: fork one extra worker of the new generation; once it serves, the
   oldest worker of the old generation is told to leave (LEAVING: it stops accepting,
   drains, runs `before_close`, exits; its exit is not replaced);
3. the first new worker is the canary: if it cannot boot (a load error, an exit before
   `app-start`, the startup timeout), it is stopped, no old worker is touched, and the
   reload fails with its one-line error; a later failure stops the roll where it is and
   says how many workers run the new code.

New workers load the app from BASE_DIR as given, so a BASE_DIR that is a symlink
(`/srv/app/current` -> `releases/42`) switched before the reload serves the new release.
The master's own code is not reloaded. `stop` during a reload wins (`abort`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.master.handle import ChildHandle
from runtime.master.shutdown import stop
from runtime.master.states import ChildState
from runtime.master.timers import Timer

if TYPE_CHECKING:
    from runtime.master.loop import Master

Report = Callable[[str, dict[str, Any]], None]  # ("progress" | "done", data)
S = ChildState


class RollingReload:
    def __init__(
        self, master: Master, report: Report | None = None, timeout_ms: int | None = None
    ) -> None:
        self.m = master
        self.timeout_ms = timeout_ms
        self.overall: Timer | None = None
        self.report = report or (lambda _event, _data: None)
        self.generation = master.children.next_generation()
        self.total = master.target_workers
        self.replaced = 0
        self.step = "agent"
        self.current: ChildHandle | None = None  # the new child being waited for
        self.retiring: ChildHandle | None = None  # the old worker it will take over from
        self.deadline: Timer | None = None
        self.done = False
        self.release = os.path.realpath(master.options.base_dir)

    # -- driving -------------------------------------------------------------------------
    def begin(self) -> None:
        if self.timeout_ms:
            self.overall = self.m.timers.call_later(self.timeout_ms / 1000, self.overdue)
        self.m.log.info(
            "reload: rolling %d app workers (and the agent) onto %s", self.total, self.release
        )
        self.m.production.reload_started()  # RELOADING=1 + MONOTONIC_USEC
        agent = self.m.children.agent
        if agent is None or agent.state is S.KILLED:
            self.spawn_agent()
        else:
            stop(agent)  # its exit (on_exit -> agent_exited) starts the new one
            timeout = self.m.options.kill_agent_timeout / 1000
            self.deadline = self.m.timers.call_later(timeout, lambda: agent.signal(9))

    def agent_exited(self) -> None:
        if self.step == "agent" and self.current is None:
            self.spawn_agent()

    def spawn_agent(self) -> None:
        if not self.m.spawn_agent() or self.m.children.agent is None:
            self.fail("could not start the new agent")
            return
        self.current = self.m.children.agent
        self.arm_deadline()

    def started(self, handle: ChildHandle) -> None:
        """`agent-start` / `app-start` from any child; only ours advances the roll."""
        if handle is not self.current:
            return
        self.current = None
        self.cancel_deadline()
        if self.step == "agent":
            self.step = "workers"
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
            self.step = "draining"
            self.child_exited()  # done once the last old worker has drained and exited
            return
        self.retiring = self.next_to_retire()
        # The new worker takes the old one's id: worker ids stay 1..N across reloads.
        if self.m.fork_app(self.retiring.id) is False or self.m.children.newest is None:
            self.fail("could not fork a new app worker")
            return
        self.current = self.m.children.newest
        self.arm_deadline()

    def child_exited(self) -> None:
        """An exit the master expected: the roll is done when no old worker is left at all
        (not merely told to leave: until it exits it may still answer a request)."""
        if self.step == "draining" and not any(
            h.generation < self.generation for h in self.m.children.apps()
        ):
            self.finish()

    def old_workers(self) -> list[ChildHandle]:
        return [h for h in self.m.children.pool() if h.generation < self.generation]

    def next_to_retire(self) -> ChildHandle:
        """A booting old one first, else the oldest (only called while old ones remain)."""
        old = self.old_workers()
        return min(old, key=lambda h: (h.state is S.SERVING, h.spawned_at))

    def retire_one(self) -> None:
        handle = self.retiring
        if handle is None or handle not in self.old_workers():  # it died meanwhile
            handle = self.next_to_retire() if self.old_workers() else None
        self.retiring = None
        if handle is not None:
            handle.change_state(S.LEAVING)
            handle.signal(15)  # SIGTERM: stop accepting, drain, before_close, exit

    # -- failures ------------------------------------------------------------------------
    def overdue(self) -> None:
        self.fail(f"reload did not finish within {self.timeout_ms} ms (--timeout)")

    def boot_failed(self, handle: ChildHandle, why: str, code: int = 3) -> bool:
        """A new child failed to boot: True when it was ours (the roll then fails with
        `code`: 4 its code failed to load, 3 it died or did not start in time)."""
        if handle is not self.current:
            return False
        self.current = None
        if handle.state in (S.BOOTING, S.SERVING):
            stop(handle)
        what = "the new agent" if handle.is_agent else f"new app worker #{handle.id}"
        self.fail(f"{what} (pid {handle.pid}) failed to start: {why}", code)
        return True

    def arm_deadline(self) -> None:
        self.cancel_deadline()
        timeout = self.m.options.startup_timeout / 1000
        self.deadline = self.m.timers.call_later(timeout, self.timed_out)

    def timed_out(self) -> None:
        handle = self.current
        if handle is not None:
            ms = self.m.options.startup_timeout
            self.boot_failed(handle, f"did not start within {ms} ms (startup timeout)")

    def cancel_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def fail(self, error: str, code: int = 1) -> None:
        if self.done:
            return
        if self.step == "workers" and self.replaced:
            error += f"; {self.replaced} of {self.total} workers run the new code"
        elif self.step == "workers" or self.step == "agent":
            error += "; the old workers keep serving"
        self.m.log.error("reload failed: %s", error)
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
        self.m.release_dir = self.release
        children = self.m.children
        pids = [h.pid for h in children.pool()]
        agent = children.agent.pid if children.agent else None
        self.m.log.info("reload: done, app workers %s, agent %s", pids, agent)
        self.end({"ok": True, "pids": pids, "agent": agent, "replaced": self.replaced,
                  "total": self.total, "release": self.release})  # fmt: skip

    def end(self, data: dict[str, Any]) -> None:
        self.done = True
        self.cancel_deadline()
        if self.overall is not None:
            self.overall.cancel()
        self.m.reload_ended(self)
        self.m.production.reload_finished(bool(data.get("ok")))  # READY=1 again
        self.report("done", data)
