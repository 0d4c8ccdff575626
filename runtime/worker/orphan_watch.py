"""Noticing that the master is gone, even when app code blocks the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable


class OrphanWatch:
    """Ends this child once its master is gone, even if app code blocks the event loop.

    EOF on the channel tells a responsive loop at once (it calls `lost()`); this daemon
    thread covers a loop stuck in synchronous app code by noticing the reparenting (the
    parent pid changes) within `POLL` seconds. Either way the child then has `GRACE`
    seconds to finish in-flight work before it `_exit`s, so no orphan keeps serving.
    """

    POLL = 0.2
    GRACE = 1.5

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self._master = os.getppid()
        self._loop = asyncio.get_running_loop()
        self._on_lost = on_lost
        self._gone = threading.Event()
        thread = threading.Thread(target=self._watch, name="eggscripts-orphan-watch", daemon=True)
        thread.start()

    def lost(self) -> None:
        self._gone.set()

    def _watch(self) -> None:
        while not self._gone.wait(self.POLL):
            if os.getppid() != self._master:
                self._gone.set()
                with contextlib.suppress(RuntimeError):  # the loop may already be closed
                    self._loop.call_soon_threadsafe(self._on_lost)
        time.sleep(self.GRACE)
        os._exit(1)
