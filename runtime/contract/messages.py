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
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, cast

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


# The data of the runtime's own actions (docs/INTERNALS.md §1 and §2). App messages carry
# whatever JSON the app sends, so `Message.data` stays `Any`; these say what the runtime's
# senders put there, and the parsers below (`PAYLOADS`) check it once where it arrives.
class Listen(TypedDict, total=False):
    # The app config's cluster.listen, as written (runtime/loader/listen_config.py checks it)
    port: int | None
    hostname: str | None
    path: str  # a Unix socket instead of a port
    mode: int  # ... and its mode
    https: bool  # cluster.https is set


class AgentStartData(TypedDict, total=False):
    pid: int
    listen: Listen  # the app config's cluster.listen, when the CLI gave no port
    log_dir: str  # the app config's logger.dir, absolute
    run_dir: str  # the app config's rundir, absolute


class AppStartData(TypedDict, total=False):
    pid: int
    ready: int  # on the ready channel: app workers ready so far...
    total: int  # ...of this many


class EggReadyData(TypedDict, total=False):
    pid: int  # the master's
    title: str
    url: str
    port: int
    workers: list[int]
    agent: int


class StartupErrorData(TypedDict, total=False):
    message: str  # one line
    code: int  # an `ExitCode`: why the start failed


class HeartbeatData(TypedDict, total=False):
    # runtime/worker/stats.py; the agent's beats carry none of these
    requests: int  # completed responses
    in_flight: int  # request tasks running
    connections: int  # open connections
    rss: int  # bytes, where the kernel tells it cheaply
    # WSGI only (runtime/apptarget/wsgi.py): its thread pool
    threads: int
    threads_busy: int
    queued: int
    saturated: bool  # every thread busy


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


def _checked(data: object, types: Mapping[str, type]) -> dict[str, Any]:
    """`data` as an object whose present keys of `types` hold that type (None: {});
    InvalidMessage (one line) otherwise. Unknown keys pass: a newer child may add some."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidMessage(f"data {data!r:.60} is not an object")
    for key, kind in types.items():
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise InvalidMessage(f"{key} {value!r:.60} is not a {kind.__name__}")
    return data


def agent_start_data(data: object) -> AgentStartData:
    types = {"pid": int, "listen": dict, "log_dir": str, "run_dir": str}
    return cast(AgentStartData, _checked(data, types))


def startup_error_data(data: object) -> StartupErrorData:
    return cast(StartupErrorData, _checked(data, {"message": str, "code": int}))


def heartbeat_data(data: object) -> HeartbeatData:
    return cast(HeartbeatData, _checked(data, _HEARTBEAT))


_HEARTBEAT: dict[str, type] = {
    **dict.fromkeys(("requests", "in_flight", "connections", "rss"), int),
    **dict.fromkeys(("threads", "threads_busy", "queued"), int),
    "saturated": bool,
}


# The parser of each runtime action whose data its receiver reads (others: data ignored).
PAYLOADS: dict[str, Callable[[object], Mapping[str, Any]]] = {
    Action.AGENT_START: agent_start_data,
    Action.STARTUP_ERROR: startup_error_data,
    Action.HEARTBEAT: heartbeat_data,
}
