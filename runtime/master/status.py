"""What `eggscripts status` shows about this cluster, built from the master's own state.

The master knows what `ps` cannot: which worker id a process holds, whether it is booting,
serving or leaving, how many requests it served (from its heartbeats), how often its slot
was restarted and why. Only memory and CPU come from the kernel, through psutil, imported
here lazily: the master pays for it only when somebody asks.

The dict is the cluster object of the documented `status --json` schema (docs/CLI.md);
keys are only ever added, never renamed.
"""

from __future__ import annotations

import os
import time
from typing import Any

# CPU % is measured between two status requests when they are this close, else over the
# process's whole life (a first request has nothing to compare with).
CPU_WINDOW = 60.0


def distribution_version() -> str:
    """The eggscripts version this master runs, read once at its start so a later upgrade
    of the installed package shows as a difference. The constant lives in the contract
    package (runtime/contract/__init__.py; setup.cfg reads it from there too).

    `EGGSCRIPTS_TEST_MASTER_VERSION` (test-only, docs/INTERNALS.md §4) makes the master
    report another version, so a test can see `reload` say a restart is needed without
    installing a second eggscripts."""
    from runtime.contract import __version__

    return os.environ.get("EGGSCRIPTS_TEST_MASTER_VERSION") or __version__


class StatusReporter:
    """Builds status dicts; remembers CPU samples between requests."""

    def __init__(self) -> None:
        self.version = distribution_version()
        self.started_wall = time.time()
        self._cpu: dict[tuple[int, float], tuple[float, float]] = {}

    def build(self, master: Any) -> dict[str, Any]:
        now = time.monotonic()
        options = master.options
        release_dir = master.release_dir
        rows = [self._master_row(master, now, release_dir)]
        rows += [self._child_row(master, handle, now, release_dir) for handle in _children(master)]
        self._add_usage(rows)
        return {
            "title": options.title,
            "master_pid": os.getpid(),
            "state": state_name(master),
            "url": master.url if getattr(master, "port", None) is not None else None,
            "port": getattr(master, "port", None),
            "base_dir": options.base_dir,
            "release_dir": release_dir,
            "release_dir_now": os.path.realpath(options.base_dir),
            "env": options.env,
            "version": self.version,
            "started_at": round(self.started_wall - (now - master.started_at), 3),
            "uptime": round(now - master.started_at, 3),
            "workers": master.target_workers,
            "processes": rows,
        }

    def _master_row(self, master: Any, now: float, release_dir: str) -> dict[str, Any]:
        row = _row("master", None, os.getpid(), state_name(master), now - master.started_at)
        row["restarts"] = None  # the master is never restarted by anyone but the user
        row["release_dir"] = release_dir
        return row

    def _child_row(self, master: Any, handle: Any, now: float, release_dir: str) -> dict[str, Any]:
        row = _row(handle.role, handle.id, handle.pid, child_state(handle), now - handle.spawned_at)
        stats = getattr(handle, "stats", None) or {}
        row["requests"] = stats.get("requests")
        row["inflight"] = stats.get("in_flight")
        count, cause = restarts_of(master.children, handle.role, handle.id)
        row["restarts"] = count
        row["last_restart_cause"] = cause
        seen = getattr(handle, "last_beat", None) or handle.last_seen
        row["heartbeat_age"] = round(now - seen, 3)
        row["release_dir"] = getattr(handle, "release_dir", None) or release_dir
        return row

    def _add_usage(self, rows: list[dict[str, Any]]) -> None:
        """RSS and CPU % of each row, from psutil; a process that just exited keeps None."""
        import psutil

        wall = time.monotonic()
        seen: dict[tuple[int, float], tuple[float, float]] = {}
        for row in rows:
            try:
                proc = psutil.Process(row["pid"])
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            before = self._cpu.get(key)
            if before is not None and 0 < wall - before[0] <= CPU_WINDOW:
                span, spent = wall - before[0], used - before[1]
            else:
                span, spent = max(time.time() - key[1], 1e-3), used
            row["rss"] = rss
            row["cpu"] = round(100.0 * spent / span, 1)
            seen[key] = (wall, used)
        self._cpu = seen  # forget processes that are gone


def _row(role: str, worker_id: int | None, pid: int, state: str, age: float) -> dict[str, Any]:
    return {
        "role": role,
        "id": worker_id,
        "pid": pid,
        "state": state,
        "age": round(age, 3),
        "rss": None,
        "cpu": None,
        "requests": None,
        "inflight": None,
        "restarts": 0,
        "last_restart_cause": None,
        "heartbeat_age": None,
        "release_dir": None,
    }


def _children(master: Any) -> list[Any]:
    order = {"agent": 0, "app": 1}
    return sorted(master.children.all(), key=lambda h: (order.get(h.role, 2), h.id, h.pid))


# -- the master's own answers ---------------------------------------------------------------


def state_name(master: Any) -> str:
    return str(master.state_name)


def child_state(handle: Any) -> str:
    return str(handle.state.value)


def restarts_of(children: Any, role: str, worker_id: int) -> tuple[int, str | None]:
    """(restarts of this slot, cause of the last one)."""
    count, cause = children.restarts.get((role, worker_id), (0, None))
    return int(count), (str(cause) if cause else None)
