"""`reload --upgrade`, the new master's half: serve at once, own the cluster only once the
old master lets go (runtime/master/upgrade.py tells the whole sequence).

The new master is started with `handover_fd`, the read end of a pipe only the old master
writes to. Its workers accept on the handed-down listening socket as soon as they boot,
but the cluster's ownership (accepting on the control socket, the title lock's pid,
`READY=1` as systemd's main pid) waits for that pipe's end of file: the old master closes
it once it has stopped acting as the owner. If the old master dies meanwhile the end of
file comes too, and the new master takes over once it is ready. A new master that is
failing (closing) never takes over.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from collections.abc import Callable


class Successor:
    def __init__(
        self,
        fd: int,
        selector: selectors.BaseSelector,
        can_take_over: Callable[[], bool],
        take_over: Callable[[], None],
    ) -> None:
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)
        self.fd: int | None = fd
        self.selector = selector
        self.can_take_over = can_take_over  # ready and not closing
        self.take_over = take_over
        self.released = False  # the old master let go
        self.owner = False
        selector.register(fd, selectors.EVENT_READ, self)

    def fileno(self) -> int:
        return self.fd if self.fd is not None else -1

    def fds(self) -> list[int]:
        return [self.fd] if self.fd is not None else []

    def on_event(self, mask: int) -> None:
        if self.fd is None:
            return
        try:
            if os.read(self.fd, 64):
                return  # nothing is ever written; only the end of file means something
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.close()
        self.released = True
        self.ready()

    def ready(self) -> None:
        """Called when the pipe closes and when this master becomes ready."""
        if self.released and not self.owner and self.can_take_over():
            self.owner = True
            self.take_over()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.fd)
            os.close(self.fd)
            self.fd = None
