"""The operations the master lends its collaborators (startup, the pool, the reload, the
control commands, the production wiring): a narrow protocol instead of the master itself, so
each collaborator says what it may do and a test can hand it a fake.

Only the master forks, spawns, signals the whole cluster or closes; a collaborator asks it
to, through one of these methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypedDict


class ReloadReport(TypedDict, total=False):
    """A reload's progress (`agent` or `pid`, `replaced`, `total`) or its outcome (`ok`,
    then `pids`, `agent`, `release`; or `error` and `exit`)."""

    ok: bool
    agent: int | None  # the new agent's pid
    pid: int  # the new app worker that just took over
    pids: list[int]  # every app worker once done
    replaced: int
    total: int
    release: str  # the real BASE_DIR now served
    error: str  # one line
    exit: int  # the CLI's exit status for a failed reload


# Where a reload reports, for whoever asked for it: ("progress" | "done", report).
Report = Callable[[str, ReloadReport], None]


class MasterOps(Protocol):
    def spawn_agent(self) -> bool:
        """Start an agent of the current generation; False (logged) when the spawn failed."""

    def fork_app(self, worker_id: int | None = None) -> bool:
        """Fork one app worker (with `worker_id`: the slot it takes); False when fork failed."""

    def begin_close(self, code: int, reason: str) -> None:
        """Stop the cluster gracefully; the master exits with `code` once every child is gone."""

    def check_closed(self) -> None:
        """A child left while closing: advance the graceful stop."""

    def fail_start(self, text: str, code: int) -> None:
        """The start failed: one line on stderr and to the launching command, then close."""

    def send_pids(self) -> None:
        """Tell the agent and every pool worker the pool's pids (`egg-pids`)."""

    def scale_to(self, count: int) -> None:
        """Set the number of app workers wanted; the pool converges to it."""

    def begin_reload(
        self, report: Report | None = None, timeout_ms: int | None = None, agent: bool = True
    ) -> str | None:
        """Start a rolling reload (`agent=False`: keep a running agent); why it cannot
        start, else None."""

    def begin_upgrade(
        self, report: Callable[[str, dict[str, Any]], None] | None = None
    ) -> str | None:
        """Start a new master with the installed code and hand it the cluster
        (runtime/master/lifecycle/upgrade.py); why it cannot start, else None."""

    def reload_ended(self, ok: bool) -> None:
        """The reload in progress ended (its outcome already reported)."""
