"""The ready channel back to `eggscripts start --daemon` (docs/INTERNALS.md §1).

Write-only and best effort: if the launching command has gone away, the cluster keeps
starting; it just has nobody left to tell.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from runtime.contract.framing import write_frame_blocking
from runtime.contract.messages import Action, Message, Role


class ParentChannel:
    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        if fd is not None:
            # Only the master holds it: an agent or worker keeping a copy would hide the
            # master's death (no EOF) from the waiting command.
            os.set_inheritable(fd, False)

    def notify(self, action: Action, data: Any) -> None:
        if self.fd is not None:
            msg = Message(action, data, Role.MASTER, Role.PARENT)
            if not write_frame_blocking(self.fd, msg.to_wire()):
                self.close()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
