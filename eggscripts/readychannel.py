"""The ready channel between the launching `start` and a daemonized master (INTERNALS §1).

Frames are a 4-byte big-endian length followed by a UTF-8 JSON object, the same framing
as the runtime's IPC. Besides the runtime's messages (`agent-start`, `app-start`,
`egg-ready`, `startup-error`), the CLI's own daemon child writes one `spawned` frame with
its pid just before it execs the runtime: that pid is the master's, known even if the
master dies before saying anything.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

MAX_FRAME = 16 * 1024 * 1024
SPAWNED = "spawned"


def encode(action: str, data: dict[str, Any]) -> bytes:
    body = json.dumps({"action": action, "data": data}).encode()
    return len(body).to_bytes(4, "big") + body


def write_frame(fd: int, action: str, data: dict[str, Any]) -> None:
    payload = encode(action, data)
    while payload:
        payload = payload[os.write(fd, payload) :]


class FrameReader:
    """Incremental decoder over a non-blocking fd: call `read()` when select says so."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.eof = False
        self._buf = b""
        os.set_blocking(fd, False)

    def read(self) -> list[dict[str, Any]]:
        """Every complete frame available now; sets `eof` when the writer is gone."""
        while not self.eof:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except ConnectionResetError:  # a socket peer gone: what it sent is kept
                chunk = b""
            if not chunk:
                self.eof = True
            self._buf += chunk
        return list(self._frames())

    def _frames(self) -> Any:
        while len(self._buf) >= 4:
            size = int.from_bytes(self._buf[:4], "big")
            if size > MAX_FRAME:
                raise ValueError(f"ready channel frame of {size} bytes")
            if len(self._buf) < 4 + size:
                return
            body, self._buf = self._buf[4 : 4 + size], self._buf[4 + size :]
            try:
                message = json.loads(body)
            except ValueError:
                continue
            if isinstance(message, dict):
                yield message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
