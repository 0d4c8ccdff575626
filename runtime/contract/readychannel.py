"""The ready channel between a daemonizing `start` and its master (docs/INTERNALS.md §1).

A pipe, written by the master (`agent-start`, `app-start`, `egg-ready`, `startup-error`,
the `messages.Action` values) and read by `start`, in the framing of `framing.py`. The
CLI's own daemon child writes one `spawned` frame with its pid just before it execs the
runtime: that pid is the master's, known even if the master dies before saying anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from runtime.contract.framing import encode

SPAWNED = "spawned"


def write_frame(fd: int, action: str, data: Mapping[str, Any]) -> None:
    """One `{"action", "data"}` frame, written whole; raises OSError."""
    payload = encode({"action": action, "data": data})
    while payload:
        payload = payload[os.write(fd, payload) :]
