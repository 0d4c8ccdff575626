"""What `start --daemon` shows while it waits for the cluster (docs/CLI.md, `start`).

On a terminal one live line is redrawn in place; anywhere else (CI logs, pipes) a plain
line once per second like egg-scripts' `Wait Start: N...`, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from eggscripts.errors import PREFIX


class Progress:
    def __init__(self, title: str, workers: int, stream: TextIO | None = None) -> None:
        self.title = title
        self.total = workers
        self.ready = 0
        self.agent = False
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self._next_tick = self.started + (0.1 if self.live else 1.0)
        self._drawn = False

    def agent_started(self) -> None:
        self.agent = True
        self._redraw()

    def app_started(self, ready: int, total: int) -> None:
        self.ready, self.total = ready, total
        self._redraw()

    def next_tick(self) -> float:
        """The monotonic time at which `tick()` wants to run again."""
        return self._next_tick

    def tick(self, now: float) -> None:
        if now < self._next_tick:
            return
        if self.live:
            self._redraw()
            self._next_tick = now + 0.1
        else:
            seconds = int(now - self.started)
            self._write(f"{PREFIX} Wait Start: {seconds}...\n")
            self._next_tick = self.started + seconds + 1

    def status(self) -> str:
        agent = "agent ready" if self.agent else "starting agent"
        elapsed = time.monotonic() - self.started
        return f"{agent}, {self.ready}/{self.total} workers ready ({elapsed:.1f}s)"

    def finish(self) -> None:
        """Erase the live line so the final message starts on a clean line."""
        if self.live and self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False

    def _redraw(self) -> None:
        if self.live:
            self._write(f"\r\x1b[K[eggscripts] starting {self.title}: {self.status()}")
            self._drawn = True

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
