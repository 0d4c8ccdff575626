"""`reload --upgrade`, the new master's half: serve at once, own the cluster only once the
old master lets go (runtime/master/lifecycle/upgrade.py tells the whole sequence).

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

from runtime.contract.locks import claim
from runtime.master.control.connections import ControlServer
from runtime.master.lifecycle.cluster_state import ClusterState
from runtime.master.production.wiring import Production


class Successor:
    def __init__(
        self,
        fd: int,
        selector: selectors.BaseSelector,
        state: ClusterState,
        control: ControlServer | None,
        production: Production,
    ) -> None:
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)
        self.fd: int | None = fd
        self.selector = selector
        self.state = state
        self.control = control
        self.production = production
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
        if self.released and not self.owner and self.state.phase.running:
            self.owner = True
            self.take_over()

    def take_over(self) -> None:
        """Accept on the control socket, write our pid in the title lock, `READY=1` as
        systemd's main pid (the old master sent `MAINPID=` with ours just before)."""
        s = self.state
        if self.control is not None:
            self.control.resume()
        if s.options.lock_fd is not None:
            claim(s.options.lock_fd)
        self.production.took_over()
        s.log.info("took over %s from the old master", s.options.title)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.fd)
            os.close(self.fd)
            self.fd = None
