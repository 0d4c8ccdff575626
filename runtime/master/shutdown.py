"""The master's graceful stop: app workers first, then the agent, each stage bounded by its
own deadline (egg-cluster's `_doClose` order, uvicorn's two-stage idea).

Stage 1 moves every app worker to STOPPING with a SIGTERM (they stop accepting, drain
in-flight requests and run `before_close`) and SIGKILLs what is left after
`kill_app_timeout`. Stage 2 does the same to the agent with `kill_agent_timeout`. `done`
turns true when nothing is left. Deadlines are timers of the master loop, never sleeps,
and each stage has its own timer, so ending stage 1 can never cancel stage 2's deadline.
"""

from __future__ import annotations

import logging
import signal

from runtime.master.children import Children
from runtime.master.handle import ChildHandle
from runtime.master.states import ChildState
from runtime.master.timers import Timer, Timers


class GracefulStop:
    def __init__(
        self,
        children: Children,
        timers: Timers,
        kill_app_timeout: float,
        kill_agent_timeout: float,
        log: logging.Logger,
    ) -> None:
        self.children = children
        self.timers = timers
        self.kill_app_timeout = kill_app_timeout
        self.kill_agent_timeout = kill_agent_timeout
        self.log = log
        self.started = False
        self.done = False
        self._apps_deadline: Timer | None = None
        self._agent_deadline: Timer | None = None

    def begin(self) -> None:
        self.started = True
        apps = self.children.apps()
        for handle in apps:
            stop(handle)
        if apps:
            self._apps_deadline = self.timers.call_later(self.kill_app_timeout, self._kill_apps)
        self.advance()

    def advance(self) -> None:
        """Called whenever a child exits while stopping: move to the next stage if due."""
        if not self.started or self.children.apps():
            return
        if self._apps_deadline is not None:
            self._apps_deadline.cancel()
            self._apps_deadline = None
        agent = self.children.agent
        if agent is None:
            if self._agent_deadline is not None:
                self._agent_deadline.cancel()
            self.done = True
        elif self._agent_deadline is None:
            stop(agent)
            self._agent_deadline = self.timers.call_later(self.kill_agent_timeout, self._kill_agent)

    def kill_all(self) -> None:
        """Second Ctrl-C: no more waiting."""
        self.started = True
        for handle in self.children.all():
            self._kill(handle)
        self.advance()

    def _kill_apps(self) -> None:
        for handle in self.children.apps():
            self._kill(handle, "did not stop in time")

    def _kill_agent(self) -> None:
        if self.children.agent is not None:
            self._kill(self.children.agent, "did not stop in time")

    def _kill(self, handle: ChildHandle, why: str = "") -> None:
        if why:
            self.log.error("%s %s: SIGKILL", handle.label, why)
        handle.signal(signal.SIGKILL)


def stop(handle: ChildHandle, sig: int = signal.SIGTERM) -> None:
    """Ask one child to stop for good (its exit is expected and not replaced)."""
    if handle.state in (ChildState.BOOTING, ChildState.SERVING, ChildState.LEAVING):
        handle.change_state(ChildState.STOPPING)
    if handle.state is ChildState.STOPPING:
        handle.signal(sig)
