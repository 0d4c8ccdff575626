"""Framed JSON over an asyncio stream, the one reading loop shared by a child's link to
its master and a follower's connection to its leader.

A peer that breaks the framing is cut off: a byte stream cannot be resynchronised, and
guessing would hand garbage to the next message's handler.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from runtime.contract.framing import FrameDecoder, ProtocolError

log = logging.getLogger("eggscripts.ipc")


class FramedProtocol(asyncio.Protocol):
    peer = "peer"  # for log lines: who is on the other end

    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._decoder.feed(data)
        except ProtocolError as exc:
            log.error("bad frame from the %s: %s", self.peer, exc)
            if self.transport is not None:
                self.transport.close()
            return
        for msg in messages:
            try:
                self.on_frame(msg)
            except Exception:
                log.exception("handling %r from the %s failed", msg.get("action"), self.peer)

    def on_frame(self, msg: dict[str, Any]) -> None:
        raise NotImplementedError
