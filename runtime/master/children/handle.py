"""The master's view of one child process (uvicorn's supervisor `Process`, egg's worker):
its pid, its channel and its `ChildState`. Every state change goes through `change_state`,
which asserts the move is in `states.TRANSITIONS`."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable

from runtime.contract.payloads import WorkerStats
from runtime.master.children.channel import Channel
from runtime.master.children.kinds import ChildKind, kind_of
from runtime.master.children.states import ChildState, check_transition


class ChildHandle:
    __slots__ = (
        "channel",
        "exited_from",
        "generation",
        "id",
        "kill",
        "kind",
        "last_seen",
        "pid",
        "release_dir",
        "role",
        "sigkilled",
        "spawned_at",
        "started_at",
        "startup_error",
        "state",
        "stats",
    )

    def __init__(
        self,
        role: str,
        worker_id: int,
        pid: int,
        channel: Channel,
        now: float,
        kill: Callable[[int, int], None],
    ) -> None:
        self.kill = kill  # the spawner's: tests never signal a real pid
        self.role = role
        self.kind: ChildKind = kind_of(role)
        self.id = worker_id
        self.pid = pid
        self.channel = channel
        self.state = ChildState.BOOTING
        self.generation = 0  # which reload's code it runs (0: the start's)
        self.release_dir = ""  # the real BASE_DIR when it was started: the code it runs
        self.exited_from: ChildState | None = None  # the state it was in when it died
        self.sigkilled = False  # by the master, so "killed by SIGKILL" is no mystery
        self.startup_error: str | None = None
        self.spawned_at = now
        self.started_at: float | None = None
        self.last_seen = now  # last time anything came from it
        self.stats: WorkerStats = {}  # what its latest heartbeat reported

    @property
    def label(self) -> str:
        """egg's greppable `app_worker#1:1234` form."""
        return f"{self.kind.label}#{self.id}:{self.pid}"

    @property
    def what(self) -> str:
        """How one line names it: `agent (pid 12)`, `app worker #2 (pid 13)`."""
        return f"{self.kind.describe(self.id)} (pid {self.pid})"

    def change_state(self, new: ChildState) -> None:
        check_transition(self.state, new)
        if new is ChildState.EXITED:
            self.exited_from = self.state
        self.state = new

    def signal(self, sig: int) -> None:
        """Send a signal without changing the state (SIGTERM to a child already stopping)."""
        if sig == signal.SIGKILL:
            self.sigkilled = True
        with contextlib.suppress(ProcessLookupError):
            self.kill(self.pid, sig)

    def __repr__(self) -> str:
        return f"<{self.label} {self.state}>"
