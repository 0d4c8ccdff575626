"""The master's graceful stop: stage by stage in the kinds' order (app workers first, then
the agent: egg-cluster's `_doClose` order, uvicorn's two-stage idea), each stage bounded by
its own deadline.

A stage moves every child of its kinds to STOPPING with a SIGTERM (app workers stop
accepting, drain in-flight requests and run `before_close`) and SIGKILLs what is left after
the kind's `stop_timeout` (runtime/master/children/kinds.py). The next stage begins once nobody of
the earlier ones is left; `done` turns true when nothing is left. Deadlines are timers of
the master loop, never sleeps, and each stage has its own timer, so ending one stage can
never cancel the next one's deadline.
"""

from __future__ import annotations

import logging
import signal

from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.states import ChildState
from runtime.master.lifecycle.timers import Timer, Timers
from runtime.process.cluster_options import ClusterOptions


class GracefulStop:
    def __init__(
        self,
        children: Children,
        timers: Timers,
        options: ClusterOptions,
        log: logging.Logger,
    ) -> None:
        self.children = children
        self.timers = timers
        self.options = options
        self.log = log
        self.started = False
        self.done = False
        self.stage: int | None = None  # the stage being stopped
        self._deadline: Timer | None = None

    def begin(self) -> None:
        self.started = True
        self.advance()

    def advance(self) -> None:
        """Called whenever a child exits while stopping: begin the next stage if due."""
        if not self.started or self.done:
            return
        alive = self.children.all()
        if not alive:
            if self._deadline is not None:
                self._deadline.cancel()
            self.done = True
            return
        stage = min(h.kind.stop_stage for h in alive)
        if stage == self.stage:
            return  # still waiting for this stage
        if self._deadline is not None:
            self._deadline.cancel()
        self.stage = stage
        members = [h for h in alive if h.kind.stop_stage == stage]
        for handle in members:
            stop(handle)
        timeout = getattr(self.options, members[0].kind.stop_timeout) / 1000
        self._deadline = self.timers.call_later(timeout, lambda: self._kill_stage(stage))

    def kill_all(self) -> None:
        """Second Ctrl-C: no more waiting."""
        self.started = True
        for handle in self.children.all():
            handle.signal(signal.SIGKILL)
        self.advance()

    def _kill_stage(self, stage: int) -> None:
        for handle in self.children.all():
            if handle.kind.stop_stage == stage:
                self.log.error("%s did not stop in time: SIGKILL", handle.label)
                handle.signal(signal.SIGKILL)


def stop(handle: ChildHandle, sig: int = signal.SIGTERM) -> None:
    """Ask one child to stop for good (its exit is expected and not replaced)."""
    if handle.state in (ChildState.BOOTING, ChildState.SERVING, ChildState.LEAVING):
        handle.change_state(ChildState.STOPPING)
    if handle.state is ChildState.STOPPING:
        handle.signal(sig)
