"""Signals turned into queued events (gunicorn's arbiter design).

Handlers only append the signal number to a bounded deque; `signal.set_wakeup_fd` makes the
kernel-level handler write a byte to a pipe the master's selector watches, so the loop wakes
up and does the real work outside the handler. No logging, waitpid or fork in a handler.
"""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Iterable
from types import FrameType


class SignalQueue:
    MAX_PENDING = 16

    def __init__(self, signals: Iterable[signal.Signals]) -> None:
        self._queue: collections.deque[int] = collections.deque(maxlen=self.MAX_PENDING)
        self._read_fd, self._write_fd = os.pipe()
        for fd in (self._read_fd, self._write_fd):
            os.set_blocking(fd, False)
        self._signals = tuple(signals)
        self._previous_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for sig in self._signals:
            signal.signal(sig, self._enqueue)

    def _enqueue(self, signum: int, frame: FrameType | None) -> None:
        self._queue.append(signum)

    def fileno(self) -> int:
        return self._read_fd

    @property
    def fds(self) -> tuple[int, int]:
        return self._read_fd, self._write_fd

    def drain(self) -> list[signal.Signals]:
        """The signals received since the last call, in order."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        # popleft one at a time: a handler may run between any two bytecodes and append,
        # so iterating the deque (or clearing it afterwards) could fail or lose a signal.
        pending = []
        while True:
            try:
                pending.append(signal.Signals(self._queue.popleft()))
            except IndexError:
                return pending

    @staticmethod
    def reset_in_child(signals: Iterable[signal.Signals]) -> None:
        """A forked child starts with the master's handlers, wakeup fd and signal mask;
        undo all three."""
        signal.set_wakeup_fd(-1)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        for sig in signals:
            signal.signal(sig, signal.SIG_DFL)

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_wakeup)
        for sig in self._signals:
            signal.signal(sig, signal.SIG_DFL)
        os.close(self._read_fd)
        os.close(self._write_fd)
