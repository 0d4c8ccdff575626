"""What an app worker reports about its traffic, for the master's /metrics.

uvicorn already counts: `server_state.total_requests` (requests received since start) and
`server_state.tasks` (request cycles in progress). Reading them costs nothing per request,
unlike an ASGI wrapper counting in the hot path. The heartbeat carries `sample()` to the
master, so one scrape of the master covers every worker and no shared multiprocess
directory is needed (gunicorn #1417).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.process.rss import rss_bytes


def sample(server: Any, pool: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """`{"requests", "in_flight", "connections"}` of a uvicorn Server (zeros before it
    started): read from uvicorn's own state, so serving a request costs nothing extra.
    A WSGI app adds its thread pool's `occupancy()` (`threads`, `threads_busy`, `queued`,
    `saturated`: runtime/apptarget/wsgi.py). Plus `rss` (bytes) where the kernel tells it
    for one read: `--max-worker-memory` (runtime/master/lifecycle/recycle.py) judges it; without it
    the master asks psutil."""
    state = getattr(server, "server_state", None)
    if state is None:
        out: dict[str, Any] = {"requests": 0, "in_flight": 0, "connections": 0}
    else:
        out = {
            "requests": int(state.total_requests),
            "in_flight": len(state.tasks),
            "connections": len(state.connections),
        }
    if pool is not None:
        out.update(pool())
    size = rss_bytes()
    if size is not None:
        out["rss"] = size
    return out
