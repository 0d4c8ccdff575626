"""What the master does with a message a child addressed to it, and the routing of every
other message (runtime/master/routing.py): `agent-start` / `app-start` move a child from
BOOTING to SERVING and advance the start sequence or the reload, `startup-error` fails the
start (or the reload's canary), `heartbeat` keeps the child's counters, `disconnect`
makes a faulted worker leave the pool (runtime/master/pool.py).

The data of each is parsed once, here, by the contract's parser (`PAYLOADS`,
runtime/contract/messages.py): the handlers get typed payloads, and a malformed one is
one warning and the message is dropped; nothing a child writes raises in the master loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import (
    PAYLOADS,
    Action,
    AgentStartData,
    HeartbeatData,
    InvalidMessage,
    Message,
    Role,
    StartupErrorData,
)
from runtime.master.children import Children
from runtime.master.cluster_state import ClusterState
from runtime.master.handle import ChildHandle
from runtime.master.pool import Pool
from runtime.master.startup import Startup
from runtime.master.states import ChildState

S = ChildState


class ChildMessages:
    def __init__(
        self, state: ClusterState, children: Children, startup: Startup, pool: Pool
    ) -> None:
        self.state = state
        self.children = children
        self.startup = startup
        self.pool = pool
        self.actions: dict[str, Callable[[ChildHandle, Any], None]] = {
            Action.AGENT_START: self.on_agent_start,
            Action.APP_START: self.on_app_start,
            Action.STARTUP_ERROR: self.on_startup_error,
            Action.DISCONNECT: pool.on_disconnect,
            Action.HEARTBEAT: self.on_heartbeat,
        }

    def on_message(self, handle: ChildHandle, msg: Message) -> None:
        if msg.to == Role.MASTER:
            action = self.actions.get(msg.action)
            if action is None:
                self.state.log.warning("unknown action %r from %s", msg.action, handle.label)
                return
            parse = PAYLOADS.get(msg.action)
            try:
                data = parse(msg.data) if parse is not None else msg.data
            except InvalidMessage as exc:
                self.state.log.warning("%s from %s ignored: %s", msg.action, handle.label, exc)
                return
            action(handle, data)
            return
        self.children.route(handle, msg)

    def on_agent_start(self, handle: ChildHandle, data: AgentStartData) -> None:
        if self.started(handle, Action.AGENT_START):
            self.startup.agent_started(handle, data)
            self.tell_reload(handle)

    def on_app_start(self, handle: ChildHandle, data: object) -> None:
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

    def on_heartbeat(self, handle: ChildHandle, data: HeartbeatData) -> None:
        """The registry noted the time; keep what the child reports for status."""
        if data:
            handle.stats = data

    def on_startup_error(self, handle: ChildHandle, data: StartupErrorData) -> None:
        s = self.state
        handle.startup_error = data.get("message") or "unknown error"
        line = f"{handle.what} failed to start: {handle.startup_error}"
        if s.phase.running:
            s.log.error("%s", line)
            if s.reload is not None:
                s.reload.boot_failed(handle, handle.startup_error, ExitCode.APP_LOAD_ERROR)
        else:
            # The app layer raised while loading (import, config, plugin, router, a Boot
            # hook), whichever process found it first: 4. A child that dies without
            # saying why is 3 (app worker) or 5 (agent), see runtime/master/pool.py.
            self.startup.fail(line, ExitCode.APP_LOAD_ERROR)
