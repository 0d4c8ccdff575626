"""Deciding when to replace a dead child (egg's cfork refork rules, plus backoff)."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable


class ReforkPolicy:
    """egg's refork limit plus backoff, for app workers and (with its own instance) the agent.

    More than `limit` replacements within `duration` seconds: stop replacing (keep serving
    with the rest; the health check ends a cluster left with nothing). A child that dies
    before it started (or, for the agent, soon after) counts as a failure, and consecutive
    failures back off exponentially from `base_delay`, so a broken deploy does not turn the
    master into a fork bomb.
    """

    MAX_DELAY = 10.0

    def __init__(
        self,
        limit: int,
        duration: float,
        enabled: bool = True,
        env: str = "",
        base_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.duration = duration
        self.enabled = enabled  # egg: no refork in local/unittest, crashes should be seen
        self.env = env
        self.base_delay = base_delay
        self.clock = clock
        self._times: collections.deque[float] = collections.deque()
        self.boot_failures = 0

    def allow(self) -> bool:
        now = self.clock()
        while self._times and now - self._times[0] > self.duration:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    def plan(self) -> tuple[float | None, str]:
        """(seconds to wait, "") to start a replacement, or (None, why not)."""
        if not self.enabled:
            return None, f"not reforking in env {self.env!r}"
        if not self.allow():
            return None, f"refork limit reached ({self.limit} in {self.duration:.0f}s)"
        return self.delay(), ""

    def delay(self) -> float:
        if self.boot_failures == 0:
            return self.base_delay
        backoff = max(self.base_delay, 0.1) * float(2 ** (self.boot_failures - 1))
        return min(max(self.MAX_DELAY, self.base_delay), backoff)
