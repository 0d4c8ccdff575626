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
import sys
import time
from collections.abc import Callable
from typing import Any

from runtime.contract.messages import Role
from runtime.master.children.children import Children
from runtime.master.children.handle import ChildHandle
from runtime.master.lifecycle.cluster_state import ClusterState

# CPU % is measured between two status requests when they are this close, else over the
# process's whole life (a first request has nothing to compare with).
CPU_WINDOW = 60.0


def distribution_version() -> str:
    """The eggscripts version this master runs, read once at its start so a later upgrade
    of the installed package shows as a difference. The constant lives in the contract
    package (runtime/contract/__init__.py; setup.cfg reads it from there too).

    `EGGSCRIPTS_TEST_MASTER_VERSION` (test-only, docs/INTERNALS.md §4) makes the master
    report another version, so a test can see `reload` say a restart is needed without
    installing a second eggscripts. It is taken out of the environment: a new master started
    by `reload --upgrade` reports the version it really runs."""
    from runtime.contract import __version__

    return os.environ.pop("EGGSCRIPTS_TEST_MASTER_VERSION", None) or __version__


class StatusReporter:
    """Builds status dicts; remembers CPU samples between requests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, version: str = "") -> None:
        self.clock = clock  # the master's: ages are measured on the clock they began on
        self.version = version or distribution_version()
        self.started_wall = time.time()
        self._cpu: dict[tuple[int, float], tuple[float, float]] = {}

    def build(self, state: ClusterState, children: Children) -> dict[str, Any]:
        now = self.clock()
        options = state.options
        release_dir = state.release_dir
        rows = [self._master_row(state, now, release_dir)]
        rows += [
            self._child_row(children, handle, now, release_dir) for handle in _sorted(children)
        ]
        self._add_usage(rows)
        return {
            "title": options.title,
            "master_pid": os.getpid(),
            "state": str(state.phase),
            "url": state.url if state.port is not None else None,
            "port": state.port,
            "base_dir": options.base_dir,
            "release_dir": release_dir,
            "release_dir_now": os.path.realpath(options.base_dir),
            "env": options.env,
            "version": self.version,
            "started_at": round(self.started_wall - (now - state.started_at), 3),
            "uptime": round(now - state.started_at, 3),
            "workers": state.target_workers,
            "saturated": saturated(rows),
            "processes": rows,
            # What `eggscripts restart` starts again (eggscripts/cmd/restart.py).
            "start": {"python": sys.executable, "options": options.as_started()},
        }

    def _master_row(self, state: ClusterState, now: float, release_dir: str) -> dict[str, Any]:
        row = _row(Role.MASTER, None, os.getpid(), str(state.phase), now - state.started_at)
        row["restarts"] = None  # the master is never restarted by anyone but the user
        row["release_dir"] = release_dir
        return row

    def _child_row(
        self, children: Children, handle: ChildHandle, now: float, release_dir: str
    ) -> dict[str, Any]:
        age = now - handle.spawned_at
        row = _row(str(handle.role), handle.id, handle.pid, handle.state.value, age)
        stats = handle.stats or {}
        row["requests"] = stats.get("requests")
        row["inflight"] = stats.get("in_flight")
        row["saturated"] = stats.get("saturated")  # WSGI: every thread busy
        count, cause = restarts_of(children, str(handle.role), handle.id)
        row["restarts"] = count
        row["last_restart_cause"] = cause
        row["heartbeat_age"] = round(now - handle.last_seen, 3)
        row["release_dir"] = handle.release_dir or release_dir
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
        "saturated": None,
        "restarts": 0,
        "last_restart_cause": None,
        "heartbeat_age": None,
        "release_dir": None,
    }


def saturated(rows: list[dict[str, Any]]) -> bool:
    """Every serving app worker has all its WSGI threads busy: the cluster cannot start a
    request now (what /readyz says too, runtime/master/production/metrics.py)."""
    apps = [r for r in rows if r["role"] == Role.APP and r["state"] == "serving"]
    return bool(apps) and all(r["saturated"] for r in apps)


def _sorted(children: Children) -> list[ChildHandle]:
    """The agent first, then app workers by id (the kinds' stop order)."""
    return sorted(children.all(), key=lambda h: (-h.kind.stop_stage, h.id, h.pid))


def restarts_of(children: Children, role: str, worker_id: int) -> tuple[int, str | None]:
    """(restarts of this slot, cause of the last one)."""
    count, cause = children.restarts.get((role, worker_id), (0, None))
    return int(count), (str(cause) if cause else None)
