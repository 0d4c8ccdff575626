"""`app.messenger` / `agent.messenger` (SPEC §7): messages between cluster processes,
always routed by the master.

Until the cluster is ready (`egg-ready`), outgoing messages are queued in the sender and
flushed in order on ready, so a message sent from a boot hook is delivered, not lost (egg
drops it when the receivers do not exist yet). Data is checked for JSON at the call, so a
bad payload is an error in the sender, never in the master.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from runtime.child import spawn
from runtime.ipc import Action, Role, encode, message

log = logging.getLogger("eggscripts.messenger")
Handler = Callable[[Any], Any]


class Messenger:
    def __init__(self, link: Any, role: Role) -> None:
        self._link = link
        self._role = role
        self._handlers: dict[str, list[tuple[Handler, bool]]] = {}
        self._queue: list[tuple[str, Any, str, int | None]] = []
        self.ready = False

    # -- sending -------------------------------------------------------------------------
    def broadcast(self, action: str, data: Any = None) -> None:
        """Every agent and app worker (this process included, once)."""
        self._send(action, data, Role.ALL.value)

    def send_to_app(self, action: str, data: Any = None) -> None:
        self._send(action, data, Role.APP.value)

    def send_to_agent(self, action: str, data: Any = None) -> None:
        self._send(action, data, Role.AGENT.value)

    def send_random(self, action: str, data: Any = None) -> None:
        """Exactly one app worker, chosen by the master."""
        self._send(action, data, Role.RANDOM.value)

    def send_to(self, pid: int, action: str, data: Any = None) -> None:
        self._send(action, data, Role.ALL.value, int(pid))

    def _send(self, action: str, data: Any, to: str, receiver_pid: int | None = None) -> None:
        if not isinstance(action, str) or not action:
            raise ValueError("messenger: action must be a non-empty string")
        try:
            encode(message(action, data, self._role, to, receiver_pid))
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"messenger: data of {action!r} is not JSON-serializable: {exc}"
            ) from None
        if not self.ready:
            self._queue.append((action, data, to, receiver_pid))
            return
        self._link.send(action, data, to, receiver_pid)

    # -- receiving -----------------------------------------------------------------------
    def on(self, action: str, handler: Handler) -> Messenger:
        self._handlers.setdefault(action, []).append((handler, False))
        return self

    def once(self, action: str, handler: Handler) -> Messenger:
        self._handlers.setdefault(action, []).append((handler, True))
        return self

    def off(self, action: str, handler: Handler | None = None) -> Messenger:
        if handler is None:
            self._handlers.pop(action, None)
        else:
            self._handlers[action] = [h for h in self._handlers.get(action, []) if h[0] != handler]
        return self

    def emit(self, action: str, data: Any = None) -> None:
        handlers = self._handlers.get(action)
        if not handlers:
            return
        self._handlers[action] = [h for h in handlers if not h[1]]
        for handler, _ in handlers:
            try:
                result = handler(data)
                if inspect.isawaitable(result):
                    spawn(result)
            except Exception:
                log.exception("messenger handler for %r failed", action)

    def deliver(self, msg: dict[str, Any]) -> None:
        """A message from the master: flush the queue on ready, then hand it to handlers."""
        action = msg["action"]
        if action == Action.EGG_READY.value and not self.ready:
            self.ready = True
            queued, self._queue = self._queue, []
            for item in queued:
                self._link.send(*item)
        self.emit(action, msg.get("data"))
