"""What the master does with a message a child addressed to it, and the routing of every
other message (runtime/master/routing.py): `agent-start` / `app-start` move a child from
BOOTING to SERVING and advance the start sequence or the reload, `startup-error` fails the
start (or the reload's canary), `heartbeat` keeps the child's counters, `disconnect`
makes a faulted worker leave the pool (runtime/master/replacement.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.exitcodes import ExitCode
from runtime.ipc.message import Action, Message, Role
from runtime.master.handle import ChildHandle
from runtime.master.states import ChildState, Phase

if TYPE_CHECKING:
    from runtime.master.loop import Master

S = ChildState


class ChildMessages:
    def __init__(self, master: Master) -> None:
        self.m = master
        self.actions: dict[str, Callable[[ChildHandle, Any], None]] = {
            Action.AGENT_START: self.on_agent_start,
            Action.APP_START: self.on_app_start,
            Action.STARTUP_ERROR: self.on_startup_error,
            Action.DISCONNECT: master.replacement.on_disconnect,
            Action.HEARTBEAT: self.on_heartbeat,
        }

    def on_message(self, handle: ChildHandle, msg: Message) -> None:
        if msg.to == Role.MASTER:
            action = self.actions.get(msg.action)
            if action is None:
                self.m.log.warning("unknown action %r from %s", msg.action, handle.label)
            else:
                action(handle, msg.data)
            return
        self.m.children.route(handle, msg)

    def on_agent_start(self, handle: ChildHandle, data: Any) -> None:
        if self.started(handle):
            self.m.startup.agent_started(handle, data)
            self.tell_reload(handle)

    def on_app_start(self, handle: ChildHandle, data: Any) -> None:
        if self.started(handle):
            self.m.replacement.app_started()
            self.m.startup.app_started(handle)
            self.tell_reload(handle)

    def started(self, handle: ChildHandle) -> bool:
        """BOOTING -> SERVING; False for a repeated or late announcement."""
        if handle.state is not S.BOOTING:
            return False
        handle.change_state(S.SERVING)
        handle.started_at = self.m.clock()
        return True

    def tell_reload(self, handle: ChildHandle) -> None:
        if self.m.reload is not None:
            self.m.reload.started(handle)

    def on_heartbeat(self, handle: ChildHandle, data: Any) -> None:
        """The registry noted the time; keep what the child reports for status."""
        if isinstance(data, dict):
            handle.stats = data

    def on_startup_error(self, handle: ChildHandle, data: Any) -> None:
        m = self.m
        text = data.get("message") if isinstance(data, dict) else None
        handle.startup_error = str(text or "unknown error")
        what = "agent" if handle.is_agent else f"app worker #{handle.id}"
        line = f"{what} (pid {handle.pid}) failed to start: {handle.startup_error}"
        if m.phase is Phase.READY:
            m.log.error("%s", line)
            if m.reload is not None:
                m.reload.boot_failed(handle, handle.startup_error, ExitCode.APP_LOAD_ERROR)
        else:
            # The app layer raised while loading (import, config, plugin, router, a Boot
            # hook), whichever process found it first: 4. A child that dies without
            # saying why is 3 (app worker) or 5 (agent), see runtime/master/replacement.py.
            m.startup.fail(line, ExitCode.APP_LOAD_ERROR)
