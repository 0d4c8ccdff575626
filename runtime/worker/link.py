"""A child's end of its channel to the master: typed `Message`s in both directions, on the
child's event loop. EOF on it means the master is gone (every other holder of the master's
end closed it right after fork), which is immediate and needs no polling."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from runtime.contract.messages import InvalidMessage, Message, Role
from runtime.ipc.framed_stream import FramedProtocol

log = logging.getLogger("eggscripts.child")


class Link(FramedProtocol):
    peer = "master"

    def __init__(
        self,
        role: Role,
        on_message: Callable[[Message], None],
        on_lost: Callable[[], None],
    ) -> None:
        super().__init__()
        self.role = role
        self._on_message = on_message
        self._on_lost = on_lost

    def on_frame(self, frame: dict[str, Any]) -> None:
        try:
            msg = Message.from_frame(frame)
        except InvalidMessage as exc:
            log.warning("dropped a message from the master: %s", exc)
            return
        self._on_message(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._on_lost()

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(
        self,
        action: str,
        data: Any = None,
        to: str = Role.MASTER,
        receiver_pid: int | None = None,
    ) -> None:
        """Queue one message for the master; raises TypeError for non-JSON data."""
        frame = Message(action, data, self.role, to, receiver_pid).to_frame()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    @property
    def unsent(self) -> int:
        """Bytes written and not yet taken by the kernel (the master is not reading)."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def write(self, data: bytes) -> None:
        """Already-encoded frames (the messenger batches one loop iteration's sends)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self, timeout: float = 1.0) -> None:
        """Wait until what was sent has left the process (before exiting on purpose)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.transport is not None and loop.time() < deadline:
            if not self.transport.get_write_buffer_size():
                return
            await asyncio.sleep(0.005)


async def open_link(sock: socket.socket, link: Link) -> Link:
    """Connect `link` to the child's end of its socketpair; it reads from now on."""
    loop = asyncio.get_running_loop()
    await loop.create_unix_connection(lambda: link, sock=sock)
    return link
