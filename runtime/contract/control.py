"""The control channel's protocol: `status`, `scale` and `reload` of a running cluster.

docs/INTERNALS.md §4 describes the exchange: in the framing of `framing.py`, the client
sends one `{"action": ControlAction, "data": <request>}`; the master answers with any
number of progress frames (`accepted`, `progress`) and exactly one final frame,
`{"action": "done", "data": ..., "exit": 0}` or
`{"action": "error", "data": {"message": ...}, "exit": N}`. The payloads are typed here so
both ends read the same keys, and parsed once (`scale_request`, `reload_request`) so the
master's handlers see typed values or answer one usage line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, TypeGuard

from runtime.contract.messages import WireName


class ControlAction(WireName):
    """What a client may ask."""

    STATUS = "status"
    SCALE = "scale"
    RELOAD = "reload"
    UPGRADE = "upgrade"


class Reply(WireName):
    """The actions of the master's answers; DONE and ERROR end a request."""

    ACCEPTED = "accepted"
    PROGRESS = "progress"
    DONE = "done"
    ERROR = "error"


FINAL = frozenset((Reply.DONE, Reply.ERROR))


class ProcessRow(TypedDict):
    """One process of `status` (docs/CLI.md documents every key and its unit)."""

    role: str
    id: int | None
    pid: int
    state: str
    age: float
    rss: int | None
    cpu: float | None
    requests: int | None
    inflight: int | None
    restarts: int | None
    last_restart_cause: str | None
    heartbeat_age: float | None
    release_dir: str | None


class StatusReply(TypedDict):
    """The `done` data of `status`: the cluster object of `status --json` (schema 1; keys
    are only ever added)."""

    title: str
    master_pid: int
    state: str
    url: str | None
    port: int | None
    base_dir: str
    release_dir: str
    release_dir_now: str
    env: str
    version: str
    started_at: float
    uptime: float
    workers: int
    processes: list[ProcessRow]


class ScaleRequest(TypedDict, total=False):
    """Exactly one of the two: an absolute count or a difference."""

    workers: int
    delta: int


class ScaleReply(TypedDict):
    previous: int
    workers: int


class ReloadRequest(TypedDict, total=False):
    timeout: int | None  # ms for the whole roll; None: the startup timeout per worker
    wait: bool  # False: answer at once, the roll goes on
    agent: bool  # False: keep a serving agent (`eggscripts dev`: only app files changed)


class ReloadAccepted(TypedDict):
    pid: int
    version: str  # the master's eggscripts version: the CLI notes a difference
    workers: int


class ReloadProgress(TypedDict, total=False):
    phase: str  # "agent" or "workers"
    pid: int
    replaced: int
    total: int


class ReloadDone(TypedDict, total=False):
    agent: int | None
    workers: list[int]
    replaced: int | None
    total: int | None
    release_dir: str | None
    waited: bool


class ErrorData(TypedDict, total=False):
    message: str
    replaced: int | None
    total: int | None


class BadRequest(ValueError):
    """A request whose data is not what its action takes: one line, exit 2."""


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def scale_request(data: object) -> ScaleRequest:
    """The `scale` request in `data`, or BadRequest."""
    if isinstance(data, dict):
        workers, delta = data.get("workers"), data.get("delta")
        if _integer(workers) and delta is None:
            return {"workers": workers}
        if _integer(delta) and workers is None:
            return {"delta": delta}
    raise BadRequest('scale needs {"workers": N} or {"delta": K} (integers)')


def reload_request(data: object) -> ReloadRequest:
    """The `reload` request in `data` (missing keys: the defaults), or BadRequest."""
    data = data if isinstance(data, dict) else {}
    timeout = data.get("timeout")
    if timeout is not None and not (_integer(timeout) and timeout > 0):
        raise BadRequest("reload timeout must be a positive integer (ms)")
    agent = data.get("agent", True)
    if not isinstance(agent, bool):
        raise BadRequest("reload agent must be true or false")
    return {"timeout": timeout, "wait": bool(data.get("wait", True)), "agent": agent}


def request(action: ControlAction, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"action": action.value, "data": dict(data or {})}


def progress(action: Reply, data: object = None) -> dict[str, Any]:
    return {"action": action.value, "data": data}


def done(data: object = None, exit: int = 0) -> dict[str, Any]:
    return {"action": Reply.DONE.value, "data": data, "exit": int(exit)}


def error(message: str, exit: int = 1, data: Mapping[str, object] | None = None) -> dict[str, Any]:
    return {
        "action": Reply.ERROR.value,
        "data": {**(data or {}), "message": message},
        "exit": int(exit),
    }
