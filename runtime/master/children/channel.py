"""The master's non-blocking end of one child's socketpair.

Writes never block the master loop: what the kernel does not take is kept and flushed when
the selector reports the socket writable (`wants_write`). What is kept is bounded: a child
that stops reading (a blocked agent, flooded by `send_to_agent`) must not grow the master
without limit, so past `MAX_BUFFERED` bytes new frames to it are dropped and counted: the
first drop is logged at once (the child may never read again), the count once it reads.
"""

from __future__ import annotations

import errno
import logging
import socket

from runtime.contract.framing import FrameDecoder, ProtocolError
from runtime.contract.messages import InvalidMessage, Message

log = logging.getLogger("eggscripts.master")


class Channel:
    MAX_BUFFERED = 16 * 1024 * 1024
    READ_SIZE = 262144

    def __init__(self, sock: socket.socket, label: str = "child") -> None:
        sock.setblocking(False)
        self.sock = sock
        self.label = label
        self._decoder = FrameDecoder()
        self._out = bytearray()
        self.dropped = 0
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def wants_write(self) -> bool:
        return bool(self._out) and not self.closed

    def read(self) -> list[Message] | None:
        """Messages available now; None once the peer has closed (or broke) the channel."""
        try:
            data = self.sock.recv(self.READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            return None
        if not data:
            return None
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            log.error("bad frame from %s: %s; closing its channel", self.label, exc)
            return None
        messages = []
        for frame in frames:
            try:
                messages.append(Message.from_frame(frame))
            except InvalidMessage as exc:
                log.warning("dropped a message from %s: %s", self.label, exc)
        return messages

    def send(self, frame: bytes) -> None:
        """Queue an encoded frame; the master flushes every dirty channel once per loop
        pass, so a burst of messages leaves in one write."""
        if self.closed:
            return
        if len(self._out) + len(frame) > self.MAX_BUFFERED:
            if not self.dropped:  # said at once: the child may never read again
                log.warning(
                    "%s is not reading its messages (%d bytes waiting): dropping new ones "
                    "until it does", self.label, len(self._out)
                )  # fmt: skip
            self.dropped += 1
            return
        self._out += frame

    def flush(self) -> None:
        while self._out and not self.closed:
            try:
                sent = self.sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                    self._out.clear()
                    return
                raise
            del self._out[:sent]
        if self.dropped:
            log.warning(
                "%s is reading again: %d messages were dropped (buffer full at %d bytes)",
                self.label,
                self.dropped,
                self.MAX_BUFFERED,
            )
            self.dropped = 0

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()
