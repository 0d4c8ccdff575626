"""The master's view of one child process (uvicorn's supervisor `Process`, egg's worker)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

from runtime.ipc.framing import Channel


class ChildHandle:
    """One agent or app worker: its pid, its channel, and where it is in its life.

    `started` flips on agent-start/app-start. `disconnected` means it left the pool on its
    own (uncaught fault) and was already replaced, so its exit must not be replaced again.
    """

    __slots__ = (
        "aborted",
        "channel",
        "disconnected",
        "exit_status",
        "id",
        "last_seen",
        "pid",
        "role",
        "sigkilled",
        "spawned_at",
        "started",
        "startup_error",
        "stats",
        "stopping",
    )

    def __init__(self, role: str, worker_id: int, pid: int, channel: Channel) -> None:
        self.role = role
        self.id = worker_id
        self.pid = pid
        self.channel = channel
        self.started = False
        self.disconnected = False
        self.stopping = False
        self.sigkilled = False  # by the master, so "killed by SIGKILL" is no mystery
        self.startup_error: str | None = None
        self.exit_status: int | None = None
        self.spawned_at = time.monotonic()
        self.last_seen = self.spawned_at  # last time anything came from it
        self.stats: dict[str, Any] = {}  # the counters of its latest heartbeat

    @property
    def label(self) -> str:
        """egg's greppable `app_worker#1:1234` form."""
        name = "agent_worker" if self.role == "agent" else "app_worker"
        return f"{name}#{self.id}:{self.pid}"

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if sig == signal.SIGKILL:
            self.sigkilled = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
