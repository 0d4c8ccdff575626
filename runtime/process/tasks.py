"""Event-loop helpers shared by the workers and the app layer (messenger, cluster clients),
so they live outside both: background tasks that cannot vanish (the loop keeps only weak
references, so an unreferenced task can be garbage-collected mid-flight), user handlers
whose failure is logged and contained, and per-iteration write coalescing."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

_background: set[asyncio.Future[Any]] = set()


def run_in_background(awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
    """Run a coroutine in the background, keeping a reference until it finishes."""
    task = asyncio.ensure_future(awaitable)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def call_guarded(handler: Callable[[Any], Any], data: Any, what: str, log: logging.Logger) -> None:
    """Run a user handler (sync or async: a messenger handler, a cluster-client listener);
    its failure is logged with `what`, never fatal to the process, and an async one's error
    never surfaces as an uncaught fault of the event loop."""
    try:
        result = handler(data)
        if inspect.isawaitable(result):
            run_in_background(_guarded(result, what, log))
    except Exception:
        log.exception("%s failed", what)


async def _guarded(result: Awaitable[Any], what: str, log: logging.Logger) -> None:
    try:
        await result
    except Exception:
        log.exception("%s failed", what)


class WriteCoalescer:
    """What one loop iteration writes leaves in one syscall: frames queued during the
    iteration are joined and handed to `write` once, from `call_soon`. A burst of sends
    (publishing in a loop, a broadcast per request) then costs one write and one wake-up
    of the peer, not one per frame."""

    __slots__ = ("_pending", "_write", "size")

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._pending: list[bytes] | None = None
        self.size = 0  # bytes queued, not yet handed to `write`

    def write(self, frame: bytes) -> None:
        if self._pending is None:
            self._pending = [frame]
            asyncio.get_running_loop().call_soon(self.flush)
        else:
            self._pending.append(frame)
        self.size += len(frame)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        self.size = 0
        if pending:
            self._write(b"".join(pending))
