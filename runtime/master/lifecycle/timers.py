"""Deadlines for the master loop: the selector's timeout is the next deadline, so timed work
(agent restart, refork backoff, kill escalation, startup timeout) never needs a sleep."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable


class Timer:
    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.clock() + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.deadline, next(self._seq), timer))
        return timer

    def every(self, interval: float, callback: Callable[[], bool]) -> None:
        """Run `callback` every `interval` seconds for as long as it returns True."""

        def run() -> None:
            if callback():
                self.call_later(interval, run)

        self.call_later(interval, run)

    def timeout(self, cap: float) -> float:
        """Seconds until the next live deadline, at most `cap`."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        if not self._heap:
            return cap
        return max(0.0, min(cap, self._heap[0][0] - self.clock()))

    def run_due(self) -> None:
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            _, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()
