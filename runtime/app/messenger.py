"""`app.messenger` / `agent.messenger`: messages between cluster processes,
always routed by the master.

Nothing user-defined flows before the cluster is ready, and nothing is lost because of it:
- outgoing messages sent before `egg-ready` (e.g. from a boot hook) are queued in the
  sender and flushed in order on ready (egg drops them when the receivers do not exist yet);
- incoming user messages that reach a process still booting (a reforked worker, a restarted
  agent) are held until its own `egg-ready`, when every boot hook has had the chance to
  register its handlers, then handled in arrival order.

What a process has not sent yet is bounded (`MAX_UNSENT`, as the master bounds what it
keeps for a child): a process sending faster than the master reads (the master busy, the
receiver stopped and its own buffer full) drops new messages, counted and logged, instead
of growing without limit; one message larger than the bound can never be delivered and
raises `ValueError` at the call.

Data is checked for JSON at the call, so a bad payload is an error in the sender, never in
the master. The runtime's own actions (`egg-ready`, `agent-start`, ...) are reserved: app
code can listen to them but cannot send them, so no worker can fake a cluster event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from runtime.contract.messages import RESERVED_ACTIONS, Action, Message, Role
from runtime.process.tasks import WriteCoalescer, call_guarded

log = logging.getLogger("eggscripts.messenger")
Handler = Callable[[Any], Any]
MAX_UNSENT = 16 * 1024 * 1024  # the master keeps at most as much for one child


class Messenger:
    def __init__(self, link: Any, role: Role) -> None:
        self._link = link
        self._role = role
        self._handlers: dict[str, list[tuple[Handler, bool]]] = {}
        self._outbox: list[bytes] = []  # frames sent before ready
        self._outbox_size = 0
        self.dropped = 0  # messages dropped since the channel to the master is full
        self._inbox: list[Message] = []  # user messages received before ready
        self._out = WriteCoalescer(link.write)  # frames of this loop iteration, unsent
        self.ready = False

    # -- sending -------------------------------------------------------------------------
    def broadcast(self, action: str, data: Any = None) -> None:
        """Every agent and app worker (this process included, once)."""
        self._send(action, data, Role.ALL)

    def send_to_app(self, action: str, data: Any = None) -> None:
        """Every app worker (this one included, when sent from an app worker)."""
        self._send(action, data, Role.APP)

    def send_to_agent(self, action: str, data: Any = None) -> None:
        self._send(action, data, Role.AGENT)

    def send_random(self, action: str, data: Any = None) -> None:
        """Exactly one app worker, chosen by the master."""
        self._send(action, data, Role.RANDOM)

    def send_to(self, pid: int, action: str, data: Any = None) -> None:
        """Exactly the agent or app worker with this pid (nothing if there is none)."""
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise ValueError(f"messenger: send_to needs a process id, not {pid!r}")
        self._send(action, data, Role.ALL, pid)

    def _send(self, action: str, data: Any, to: str, receiver_pid: int | None = None) -> None:
        if not isinstance(action, str) or not action:
            raise ValueError("messenger: action must be a non-empty string")
        if action in RESERVED_ACTIONS:
            raise ValueError(f"messenger: {action!r} is reserved for the cluster runtime")
        try:
            frame = Message(action, data, self._role, to, receiver_pid).to_frame()
        except (TypeError, ValueError, RecursionError) as exc:
            if str(exc).startswith("message too large"):
                raise ValueError(f"messenger: {action!r}: {exc}") from None
            what = f"messenger: data of {action!r} is not JSON-serializable"
            raise TypeError(f"{what}: {exc}") from None
        if len(frame) > MAX_UNSENT:
            raise ValueError(
                f"messenger: {action!r} is {len(frame)} bytes; a message may have at most "
                f"{MAX_UNSENT} (bulk data belongs on a cluster client)"
            )
        if not self._room_for(len(frame)):
            return
        if self.ready:
            self._write(frame)
        else:
            self._outbox.append(frame)
            self._outbox_size += len(frame)

    def _room_for(self, size: int) -> bool:
        """Whether `size` more bytes fit in what this process keeps unsent; counts and logs
        a message that does not fit (the first at once: the master may never read again;
        the count when messages flow again)."""
        unsent = self._outbox_size + self._out.size + self._link.unsent
        if unsent + size > MAX_UNSENT:
            if not self.dropped:
                log.warning(
                    "messenger: %d bytes wait for the master: dropping new messages until "
                    "they have gone", unsent,
                )  # fmt: skip
            self.dropped += 1
            return False
        if self.dropped:
            log.warning("messenger: %d messages were dropped (channel full)", self.dropped)
            self.dropped = 0
        return True

    def _write(self, frame: bytes) -> None:
        self._out.write(frame)

    # -- receiving -----------------------------------------------------------------------
    def on(self, action: str, handler: Handler) -> Messenger:
        """Call `handler(data)` (sync or async) for every `action` this process receives."""
        self._handlers.setdefault(action, []).append((handler, False))
        return self

    def once(self, action: str, handler: Handler) -> Messenger:
        """Like `on`, for the next `action` only."""
        self._handlers.setdefault(action, []).append((handler, True))
        return self

    def off(self, action: str, handler: Handler | None = None) -> Messenger:
        if handler is None:
            self._handlers.pop(action, None)
        else:
            self._handlers[action] = [h for h in self._handlers.get(action, []) if h[0] != handler]
        return self

    def emit(self, action: str, data: Any = None) -> None:
        """Run the handlers of `action` here; a failing handler is logged, never fatal to the
        process (an async one included: its error must not look like an uncaught fault)."""
        handlers = self._handlers.get(action)
        if not handlers:
            return
        if any(once for _, once in handlers):
            self._handlers[action] = [h for h in handlers if not h[1]]
        what = f"messenger handler for {action!r}"
        for handler, _ in handlers:
            call_guarded(handler, data, what, log)

    def deliver(self, msg: Message) -> None:
        """A message from the master. `egg-ready` flushes the outbox, then is emitted, then
        the user messages held while this process was not ready are handled."""
        action = msg.action
        if action in RESERVED_ACTIONS:
            if msg.sender not in (Role.MASTER, ""):
                return  # routing never forwards these; ignore a forgery all the same
            if action == Action.EGG_READY and not self.ready:
                self.ready = True
                outbox, self._outbox = self._outbox, []
                self._outbox_size = 0
                for frame in outbox:
                    self._write(frame)
                self.emit(action, msg.data)
                inbox, self._inbox = self._inbox, []
                for held in inbox:
                    self.emit(held.action, held.data)
                return
        elif not self.ready:
            self._inbox.append(msg)
            return
        self.emit(action, msg.data)
