"""The typed message every cluster process exchanges with the master.

Topology (every arrow is one private socketpair; the master routes, children never talk to
each other directly except leader/follower clients, which use their own endpoint):

                       parent (start --daemon, ready_fd)
                          ^
                          |  ready channel (write-only)
        agent  <------> master <------> app worker #1..N

On the wire a message is the JSON object `{"action", "data", "from", "to",
"receiver_pid"}` (egg-cluster's shape); in code it is a frozen `Message`, so no module
reads fields out of dicts or guesses whether it holds an enum or its value. `Role` and
`Action` are `str` enums: they compare equal to, hash like and encode as their values.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from runtime.contract.framing import encode


class WireName(str, enum.Enum):
    """A name that travels on the wire: equal to, hashed like and encoded as its value."""

    def __str__(self) -> str:  # "app", not "Role.APP", in log lines and f-strings
        return str.__str__(self)


class Role(WireName):
    MASTER = "master"
    AGENT = "agent"
    APP = "app"
    PARENT = "parent"
    ALL = "all"  # agent + every app worker
    RANDOM = "random"  # one app worker


class Action(WireName):
    AGENT_START = "agent-start"
    APP_START = "app-start"
    EGG_READY = "egg-ready"
    EGG_PIDS = "egg-pids"
    AGENT_EXIT = "agent-exit"
    APP_EXIT = "app-exit"
    STARTUP_ERROR = "startup-error"
    # A worker that hit an uncaught fault leaves the pool at once so its replacement can be
    # forked while it drains; its later exit must not fork a second one.
    DISCONNECT = "disconnect"
    # A child's event loop is alive (runtime/worker/heartbeat.py).
    HEARTBEAT = "heartbeat"


# The runtime's own actions: app code may listen to them but never send them, so no worker
# can fake a cluster event (the messenger refuses them, the master's routing drops them).
RESERVED_ACTIONS: frozenset[str] = frozenset(a.value for a in Action)


# The data of the runtime's own actions is typed in `runtime/contract/payloads.py`; app
# messages carry whatever JSON the app sends, so `Message.data` stays `Any`.


class InvalidMessage(ValueError):
    """A well-framed object whose fields are not a message; dropped, the channel stays."""


@dataclasses.dataclass(frozen=True)
class Message:
    action: str
    data: Any = None
    sender: str = Role.MASTER
    to: str = Role.MASTER
    receiver_pid: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "data": self.data,
            "from": self.sender,
            "to": self.to,
            "receiver_pid": self.receiver_pid,
        }

    def to_frame(self) -> bytes:
        """Encoded and framed; raises TypeError/ValueError for data JSON cannot carry."""
        return encode(self.to_wire())

    @classmethod
    def from_frame(cls, obj: dict[str, Any]) -> Message:
        """Validate a decoded frame: whatever a child writes, the master never raises on
        it beyond `InvalidMessage`."""
        action, sender, to = obj.get("action"), obj.get("from"), obj.get("to")
        pid = obj.get("receiver_pid")
        if not isinstance(action, str):
            raise InvalidMessage(f"action {action!r} is not a string")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
            raise InvalidMessage(f"receiver_pid {pid!r} is not a pid")
        if sender is not None and not isinstance(sender, str):
            raise InvalidMessage(f"from {sender!r} is not a role")
        if to is not None and not isinstance(to, str):
            raise InvalidMessage(f"to {to!r} is not a role")
        return cls(action, obj.get("data"), sender or "", to or "", pid)
