"""The `data` of the runtime's own messages (`Action` in runtime/contract/messages.py).

One TypedDict per action, so a sender and the receiver name the same keys. What a child
sends the master is parsed once, on arrival (`parse_child_payload`): a payload that does
not have the shape raises `MalformedPayload`, which the master logs as one warning and
drops, instead of every handler checking types on its own. Standard library only, so the
module moves with the message contract.

Children -> master:
- `agent-start`: `AgentStart` (what the master binds, where the app logs);
- `app-start`: `AppStart`;
- `startup-error`: `StartupErrorData` (the one line the master prints);
- `heartbeat`: `WorkerStats` (an app worker's counters) or None (the agent);
- `disconnect`: `Disconnect` (a worker that hit an uncaught fault leaves the pool).

Master -> children (and, for the first ones, the parent on the ready channel):
- `egg-ready`: `EggReady`;
- `egg-pids`: `EggPids`, the pids of the app workers;
- `agent-start`, `agent-exit`, `app-exit`: `ChildPid`;
- to the parent only, `app-start`: `AppStartProgress`, and `startup-error`:
  `StartupErrorData` with the exit code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:  # typing has it from Python 3.11 on; annotations are not evaluated
    from typing import NotRequired


class MalformedPayload(ValueError):
    """The data of a runtime action does not have the action's shape."""


class Listen(TypedDict, total=False):
    """The app config's `cluster.listen` (and whether `cluster.https` is set): what the
    master needs before it binds the port the app workers share."""

    port: int
    hostname: str
    path: str
    mode: int
    https: bool


class AgentStart(TypedDict):
    pid: int
    listen: Listen
    # The app config's `logger.dir` and `rundir`, once the agent has loaded it.
    log_dir: NotRequired[str]
    run_dir: NotRequired[str]


class AppStart(TypedDict):
    pid: int
    id: int  # the worker id (1..N), kept by a replacement


class StartupErrorData(TypedDict):
    message: str
    pid: NotRequired[int]
    code: NotRequired[int]  # on the ready channel: the exit code the master exits with


class Disconnect(TypedDict):
    pid: int
    reason: str


# An app worker's counters: `requests`, `in_flight`, `connections`, `rss` (bytes), and for
# a WSGI app `threads`, `threads_busy`, `queued`, `saturated` (runtime/worker/stats.py).
WorkerStats = dict[str, int | float | bool]


class ChildPid(TypedDict):
    pid: int


class AppStartProgress(TypedDict):
    pid: int
    ready: int
    total: int


class EggReady(TypedDict):
    pid: int  # the master's
    version: str  # the eggscripts it runs (a `reload --upgrade` reports the new one's)
    title: str | None
    url: str
    port: int | None
    workers: list[int]
    agent: int | None


EggPids = list[int]


def _is(value: object, kind: type) -> bool:
    """isinstance, except that a bool is not an int (JSON `true` is not a pid)."""
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _fields(data: object, required: dict[str, type]) -> dict[str, Any]:
    """`data` as a dict whose `required` keys hold values of those types."""
    if not isinstance(data, dict):
        raise MalformedPayload(f"expected an object, got {type(data).__name__}")
    for key, kind in required.items():
        if not _is(data.get(key), kind):
            raise MalformedPayload(f"{key!r} is {data.get(key)!r}")
    return data


def _optional(data: dict[str, Any], key: str, kind: type, where: str = "") -> bool:
    """True when `key` is present (and of `kind`, else MalformedPayload)."""
    if data.get(key) is None:
        return False
    if not _is(data[key], kind):
        raise MalformedPayload(f"{where}{key!r} is {data[key]!r}")
    return True


def parse_agent_start(data: object) -> AgentStart:
    fields = _fields(data, {"pid": int})
    raw = fields.get("listen", {})
    if not isinstance(raw, dict):
        raise MalformedPayload(f"'listen' is {raw!r}")
    listen = Listen()
    port = raw.get("port")
    if isinstance(port, str) and port.isdigit():  # an app config may quote the port
        port = int(port)
    if _optional({"port": port}, "port", int, "listen ") and isinstance(port, int):
        listen["port"] = port
    if _optional(raw, "mode", int, "listen "):
        listen["mode"] = raw["mode"]
    if _optional(raw, "hostname", str, "listen "):
        listen["hostname"] = raw["hostname"]
    if _optional(raw, "path", str, "listen "):
        listen["path"] = raw["path"]
    if raw.get("https"):
        listen["https"] = True
    out = AgentStart(pid=fields["pid"], listen=listen)
    if _optional(fields, "log_dir", str):
        out["log_dir"] = fields["log_dir"]
    if _optional(fields, "run_dir", str):
        out["run_dir"] = fields["run_dir"]
    return out


def parse_app_start(data: object) -> AppStart:
    fields = _fields(data, {"pid": int, "id": int})
    return AppStart(pid=fields["pid"], id=fields["id"])


def parse_startup_error(data: object) -> StartupErrorData:
    fields = _fields(data, {"message": str})
    return StartupErrorData(message=fields["message"])


def parse_disconnect(data: object) -> Disconnect:
    fields = _fields(data, {"pid": int, "reason": str})
    return Disconnect(pid=fields["pid"], reason=fields["reason"])


def parse_heartbeat(data: object) -> WorkerStats | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise MalformedPayload(f"expected an object or null, got {type(data).__name__}")
    stats: WorkerStats = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, (int, float)):
            raise MalformedPayload(f"counter {key!r} is {value!r}")
        stats[key] = value
    return stats
