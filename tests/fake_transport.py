"""A transport that records what a protocol writes, for the protocol tests that run our
HTTP protocol class in-process (tests/unit/runtime/worker/)."""

from __future__ import annotations

import asyncio
from typing import Any


class Transport(asyncio.Transport):
    """`data`: every byte written; `writes`: each write apart (how many sends a response
    took); a write after `close` fails the test."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        assert not self.closed, "a write after close"
        self.data += data
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass
