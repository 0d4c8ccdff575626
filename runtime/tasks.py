"""Background tasks that cannot vanish: the event loop keeps only weak references to tasks,
so an unreferenced task can be garbage-collected mid-flight. Used by the workers and by
the app layer (messenger, cluster clients) alike, so it lives outside both."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

_background: set[asyncio.Future[Any]] = set()


def run_in_background(awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
    """Run a coroutine in the background, keeping a reference until it finishes."""
    task = asyncio.ensure_future(awaitable)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task
