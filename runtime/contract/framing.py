"""Framing shared by every channel of a cluster and by the CLI: a 4-byte big-endian length,
then a UTF-8 JSON object. No pickle: a peer can never make another process execute anything
by what it sends.

One limit, one implementation for every channel: the master's channels to its children
(`messages.Message`), the ready channel to a daemonizing `start`, the control channel
(`control.py`) and the leader/follower wire (`runtime/cluster_client/protocol.py`).
`FrameDecoder` turns bytes into objects; `FrameReader` is the non-blocking reader the CLI
uses on one descriptor.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Mapping
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame; the channel is unusable."""


_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_decode = json.JSONDecoder(parse_constant=lambda name: _reject_constant(name)).decode


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; accepting them would make re-encoding fail in the master.
    raise ValueError(f"{name} is not valid JSON")


def encode(msg: Mapping[str, Any]) -> bytes:
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


def write_frame_blocking(fd: int, msg: Mapping[str, Any]) -> bool:
    """Write one frame to a plain fd (the ready pipe); False if the reader is gone."""
    data = encode(msg)
    try:
        while data:
            n = os.write(fd, data)
            data = data[n:]
    except OSError:
        return False
    return True


class FrameReader:
    """Whole frames from a non-blocking descriptor (a pipe or a socket): call `read()`
    when select says so. Used by the CLI on the ready and control channels."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.eof = False
        self._decoder = FrameDecoder()
        os.set_blocking(fd, False)

    def read(self) -> list[dict[str, Any]]:
        """Every complete frame available now; sets `eof` when the writer is gone.
        Raises ProtocolError when the peer breaks the framing."""
        chunks = []
        while not self.eof:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except ConnectionResetError:  # a socket peer gone: what it sent is kept
                chunk = b""
            if not chunk:
                self.eof = True
            chunks.append(chunk)
        return self._decoder.feed(b"".join(chunks))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
