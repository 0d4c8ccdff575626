"""Forking app workers and deciding when to replace them (egg's cfork).

Workers are forked from the master, which has no event loop, no threads and no app code, so
the child starts clean and shares the pre-imported server modules copy-on-write.
"""

from __future__ import annotations

import collections
import os
import socket
import sys
import time
from collections.abc import Callable

from runtime.exitcodes import ExitCode
from runtime.options import ClusterOptions


class ReforkPolicy:
    """egg's refork limit plus backoff.

    More than `limit` reforks within `duration` seconds: stop reforking (keep serving with
    the rest). A replacement that dies before it started is retried with exponential
    backoff, so a broken deploy does not turn the master into a fork bomb.
    """

    def __init__(self, limit: int, duration: float, enabled: bool = True, env: str = "") -> None:
        self.limit = limit
        self.duration = duration
        self.enabled = enabled  # egg: no refork in local/unittest, crashes should be seen
        self.env = env
        self._times: collections.deque[float] = collections.deque()
        self.boot_failures = 0

    def allow(self) -> bool:
        now = time.monotonic()
        while self._times and now - self._times[0] > self.duration:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    def plan(self) -> tuple[float | None, str]:
        """(seconds to wait, "") to fork a replacement, or (None, why not)."""
        if not self.enabled:
            return None, f"not reforking in env {self.env!r}"
        if not self.allow():
            return None, f"refork limit reached ({self.limit} in {self.duration:.0f}s)"
        return self.delay(), ""

    def delay(self) -> float:
        if self.boot_failures == 0:
            return 0.0
        return min(10.0, 0.1 * 2 ** (self.boot_failures - 1))


def fork_app_worker(
    options: ClusterOptions,
    worker_id: int,
    listener: socket.socket,
    app_name: str,
    child_setup: Callable[[], None],
) -> tuple[int, socket.socket]:
    """Fork one app worker; returns (pid, master end of its channel). Never returns in the
    child: the child runs the worker and `_exit`s with its status."""
    master_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # child
        code = int(ExitCode.ERROR)
        try:
            child_setup()
            master_end.close()
            from runtime.worker.app_worker import run_worker

            code = run_worker(options, worker_id, child_end, listener, app_name)
        except BaseException as exc:  # the child must never return into the master loop
            if isinstance(exc, SystemExit) and isinstance(exc.code, int):
                code = exc.code
            else:
                print(f"[eggscripts] app worker crashed: {exc!r}", file=sys.stderr)
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    child_end.close()
    return pid, master_end
