"""Framed-JSON messages between the master and each child (no pickle: a child can never make
the master execute anything by what it sends).

Topology (every arrow is one private socketpair; the master routes, children never talk to
each other directly except leader/follower clients, which use their own endpoint):

                       parent (start --daemon, ready_fd)
                          ^
                          |  ready channel (write-only)
        agent  <------> master <------> app worker #1..N

A frame is a 4-byte big-endian length followed by a UTF-8 JSON object
`{"action", "data", "from", "to", "receiver_pid"}`.
"""

from __future__ import annotations

import enum
import errno
import json
import os
import socket
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
ENV_IPC_FD = "EGGSCRIPTS_IPC_FD"


class Role(str, enum.Enum):
    MASTER = "master"
    AGENT = "agent"
    APP = "app"
    PARENT = "parent"
    ALL = "all"  # agent + every app worker
    RANDOM = "random"  # one app worker


class Action(str, enum.Enum):
    AGENT_START = "agent-start"
    APP_START = "app-start"
    EGG_READY = "egg-ready"
    EGG_PIDS = "egg-pids"
    AGENT_EXIT = "agent-exit"
    APP_EXIT = "app-exit"
    RELOAD_WORKER = "reload-worker"
    STARTUP_ERROR = "startup-error"
    # A worker that hit an uncaught fault leaves the pool at once so its replacement can be
    # forked while it drains; its later exit must not fork a second one.
    DISCONNECT = "disconnect"
    # An app worker's event loop is alive (runtime/heartbeat.py).
    HEARTBEAT = "heartbeat"


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame; the channel is unusable."""


def message(
    action: str,
    data: Any = None,
    sender: str = Role.MASTER.value,
    to: str = Role.MASTER.value,
    receiver_pid: int | None = None,
) -> dict[str, Any]:
    return {
        "action": str(getattr(action, "value", action)),
        "data": data,
        "from": str(getattr(sender, "value", sender)),
        "to": str(getattr(to, "value", to)),
        "receiver_pid": receiver_pid,
    }


_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_decode = json.JSONDecoder(parse_constant=lambda name: _reject_constant(name)).decode


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; accepting them would make re-encoding fail in the master.
    raise ValueError(f"{name} is not valid JSON")


def encode(msg: dict[str, Any]) -> bytes:
    """Frame one message. Raises TypeError/ValueError for data JSON cannot carry, so the
    sender learns at once instead of the receiver choking later."""
    body = _encoder.encode(msg).encode()
    if len(body) > MAX_FRAME:
        raise ValueError(f"message too large ({len(body)} bytes, limit {MAX_FRAME})")
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Incremental decoder: bytes in, whole messages out."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """One pass over the buffer; consumed bytes are dropped once, at the end."""
        buf = self._buf
        buf += data
        out = []
        pos, size_of_header, total = 0, HEADER.size, len(buf)
        try:
            while total - pos >= size_of_header:
                (size,) = HEADER.unpack_from(buf, pos)
                if size > MAX_FRAME:
                    raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
                end = pos + size_of_header + size
                if end > total:
                    break
                try:
                    msg = _decode(buf[pos + size_of_header : end].decode())
                except (ValueError, RecursionError) as exc:
                    raise ProtocolError(f"invalid JSON frame: {exc}") from None
                if not isinstance(msg, dict) or not isinstance(msg.get("action"), str):
                    raise ProtocolError("frame is not a message object")
                out.append(msg)
                pos = end
        finally:
            del buf[:pos]
        return out


class Channel:
    """The master's non-blocking end of one child's socketpair.

    Writes never block the master loop: what the kernel does not take is kept and flushed
    when the selector reports the socket writable (`wants_write`).
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._decoder = FrameDecoder()
        self._out = bytearray()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def wants_write(self) -> bool:
        return bool(self._out) and not self.closed

    def read(self) -> list[dict[str, Any]] | None:
        """Messages available now; None once the peer has closed (or broke) the channel."""
        try:
            data = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            return None
        if not data:
            return None
        try:
            return self._decoder.feed(data)
        except ProtocolError:
            return None

    def send(self, frame: bytes) -> None:
        """Queue an encoded frame; the master flushes every dirty channel once per loop
        pass, so a burst of messages leaves in one write."""
        if not self.closed:
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

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


def write_frame_blocking(fd: int, msg: dict[str, Any]) -> bool:
    """Write one frame to a plain fd (the ready pipe); False if the reader is gone."""
    data = encode(msg)
    try:
        while data:
            n = os.write(fd, data)
            data = data[n:]
    except OSError:
        return False
    return True
