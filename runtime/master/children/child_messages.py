"""What the master does with a message a child addressed to it, and the routing of every
other message (runtime/master/children/routing.py): `agent-start` / `app-start` move a child from
BOOTING to SERVING and advance the start sequence or the reload, `startup-error` fails the
start (or the reload's canary), `heartbeat` keeps the child's counters, `disconnect`
makes a faulted worker leave the pool (runtime/master/lifecycle/pool.py).

Each payload is parsed once, on arrival (runtime/contract/payloads.py): a handler receives the
typed data, and a payload of the wrong shape is one warning naming the child, then
dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action, Message, Role
from runtime.contract.payloads import (
    AgentStart,
    AppStart,
    MalformedPayload,
    StartupErrorData,
    WorkerStats,
    parse_agent_start,
    parse_app_start,
    parse_disconnect,
    parse_heartbeat,
    parse_startup_error,
)
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.children.states import ChildState
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.lifecycle.pool import Pool
from runtime.master.lifecycle.startup import Startup

S = ChildState
T = TypeVar("T")
Handler = Callable[[ChildHandle, object], None]


def parsed(parse: Callable[[object], T], handler: Callable[[ChildHandle, T], None]) -> Handler:
    """`handler` behind `parse`: it only ever sees a payload of its action's shape."""

    def run(handle: ChildHandle, data: object) -> None:
        handler(handle, parse(data))

    return run


class ChildMessages:
    def __init__(
        self, state: ClusterState, children: Children, startup: Startup, pool: Pool
    ) -> None:
        self.state = state
        self.children = children
        self.startup = startup
        self.pool = pool
        self.actions: dict[str, Handler] = {
            Action.AGENT_START: parsed(parse_agent_start, self.on_agent_start),
            Action.APP_START: parsed(parse_app_start, self.on_app_start),
            Action.STARTUP_ERROR: parsed(parse_startup_error, self.on_startup_error),
            Action.DISCONNECT: parsed(parse_disconnect, pool.on_disconnect),
            Action.HEARTBEAT: parsed(parse_heartbeat, self.on_heartbeat),
        }

    def on_message(self, handle: ChildHandle, msg: Message) -> None:
        if msg.to == Role.MASTER:
            action = self.actions.get(msg.action)
            if action is None:
                self.state.log.warning("unknown action %r from %s", msg.action, handle.label)
                return
            try:
                action(handle, msg.data)
            except MalformedPayload as exc:
                self.state.log.warning(
                    "malformed %s from %s, ignored: %s", msg.action, handle.label, exc
                )
            return
        self.children.route(handle, msg)

    def on_agent_start(self, handle: ChildHandle, data: AgentStart) -> None:
        if self.started(handle, Action.AGENT_START):
            self.startup.agent_started(handle, data)
            self.tell_reload(handle)

    def on_app_start(self, handle: ChildHandle, data: AppStart) -> None:
        if self.started(handle, Action.APP_START):
            self.pool.app_started()
            self.startup.app_started(handle)
            self.tell_reload(handle)

    def started(self, handle: ChildHandle, action: Action) -> bool:
        """BOOTING -> SERVING; False for a repeated or late announcement, or one that is
        not this kind's."""
        if handle.state is not S.BOOTING or handle.kind.start_action is not action:
            return False
        handle.change_state(S.SERVING)
        handle.started_at = self.children.clock()
        return True

    def tell_reload(self, handle: ChildHandle) -> None:
        if self.state.reload is not None:
            self.state.reload.started(handle)

    def on_heartbeat(self, handle: ChildHandle, data: WorkerStats | None) -> None:
        """The registry noted the time; keep what the child reports for status."""
        if data is not None:
            handle.stats = data

    def on_startup_error(self, handle: ChildHandle, data: StartupErrorData) -> None:
        s = self.state
        handle.startup_error = data["message"] or "unknown error"
        line = f"{handle.what} failed to start: {handle.startup_error}"
        if s.phase.running:
            s.log.error("%s", line)
            if s.reload is not None:
                s.reload.boot_failed(handle, handle.startup_error, ExitCode.APP_LOAD_ERROR)
        else:
            # The app layer raised while loading (import, config, plugin, router, a Boot
            # hook), whichever process found it first: 4. A child that dies without
            # saying why is 3 (app worker) or 5 (agent), see runtime/master/lifecycle/pool.py.
            self.startup.fail(line, ExitCode.APP_LOAD_ERROR)
