"""The master's end of the private control channel (`status`, `scale`, `reload`).

No thread (gunicorn's control socket deadlocked at fork because of one): the listening
socket and every connection are non-blocking and sit in the master's own selector with
`data=self`; the loop calls `key.data.on_event(mask)` and each object does what the event
allows without ever blocking. A connection's unsent bytes are kept and flushed when the
socket is writable, so a CLI that stops reading can never stall the master.

Who may talk: only processes of the master's own uid (SO_PEERCRED, on top of the 0700
directory, see control_socket.py); anyone else gets one error frame and is hung up on.

Protocol (docs/INTERNALS.md §4), the IPC framing: the client sends
`{"action": <name>, "data": {...}}`; the handler answers with any number of progress frames
(`Request.reply`) and exactly one final frame, `{"action": "done", "data": ..., "exit": 0}`
(`Request.finish`) or `{"action": "error", "data": {"message": ...}, "exit": N}`
(`Request.fail`). A handler may answer later (a reload streams for seconds): it keeps the
`Request`; if the client went away meanwhile, replies are dropped, the work goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import struct
from collections.abc import Callable
from typing import Any

from runtime.exitcodes import ExitCode
from runtime.ipc.framing import FrameDecoder, ProtocolError, encode
from runtime.master import control_socket

Handler = Callable[["Request"], None]
MAX_CONNECTIONS = 32
MAX_REQUEST = 64 * 1024  # a request is a few dozen bytes; more is not a client of ours
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Request:
    """One request of one client; answered by `reply`* then `finish` or `fail`."""

    def __init__(self, conn: ControlConnection, action: str, data: dict[str, Any]) -> None:
        self.conn = conn
        self.action = action
        self.data = data
        self.done = False

    @property
    def peer_pid(self) -> int | None:
        return self.conn.peer_pid

    @property
    def connected(self) -> bool:
        return not self.conn.closed

    def reply(self, action: str, data: Any = None) -> None:
        """A progress frame (any action but `done`/`error`); dropped once finished."""
        if not self.done:
            self.conn.send({"action": action, "data": data})

    def finish(self, data: Any = None, exit: int = 0) -> None:
        self._end({"action": "done", "data": data, "exit": exit})

    def fail(
        self, message: str, exit: int = ExitCode.ERROR, data: dict[str, Any] | None = None
    ) -> None:
        self._end({"action": "error", "data": {**(data or {}), "message": message}, "exit": exit})

    def _end(self, msg: dict[str, Any]) -> None:
        if not self.done:
            self.conn.send(msg)
            self.done = True
            self.conn.current = None


class ControlConnection:
    """One accepted client; reads requests, writes replies, never blocks."""

    def __init__(self, server: ControlServer, sock: socket.socket, peer_pid: int | None) -> None:
        sock.setblocking(False)
        self.server = server
        self.sock = sock
        self.peer_pid = peer_pid
        self.decoder = FrameDecoder()
        self.out = bytearray()
        self.received = 0
        self.closed = False
        self.closing = False  # close once everything queued has been sent
        self.current: Request | None = None
        self.mask = selectors.EVENT_READ
        server.selector.register(sock, self.mask, self)

    def fileno(self) -> int:
        return self.sock.fileno()

    def on_event(self, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self.flush()
        if mask & selectors.EVENT_READ and not (self.closed or self.closing):
            self.read()

    def read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.received += len(data)
        try:
            if self.received > MAX_REQUEST:
                raise ProtocolError("request too large")
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            self.send({"action": "error", "data": {"message": f"bad request: {exc}"}, "exit": 2})
            self.close_when_flushed()
            return
        for msg in messages:
            self.received = 0
            self.dispatch(msg)

    def dispatch(self, msg: dict[str, Any]) -> None:
        data = msg.get("data")
        request = Request(self, msg["action"], data if isinstance(data, dict) else {})
        if self.current is not None:
            request.fail(f"busy with a {self.current.action} request on this connection")
            return
        self.current = request
        self.server.dispatch(request)

    def send(self, msg: dict[str, Any]) -> None:
        if self.closed:
            return
        self.out += encode(msg)
        self.flush()

    def flush(self) -> None:
        while self.out and not self.closed:
            try:
                sent = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # the client went away: nothing more to say to it
                self.close()
                return
            del self.out[:sent]
        if self.closed:
            return
        if self.closing and not self.out:
            self.close()
            return
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        if wanted != self.mask:
            self.server.selector.modify(self.sock, wanted, self)
            self.mask = wanted

    def close_when_flushed(self) -> None:
        self.closing = True
        self.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.forget(self)
        with contextlib.suppress(KeyError, ValueError):
            self.server.selector.unregister(self.sock)
        self.sock.close()


class ControlServer:
    """The listening socket: accepts, checks the peer, hands requests to handlers."""

    def __init__(
        self,
        path: str,
        selector: selectors.BaseSelector,
        handlers: dict[str, Handler],
        log: logging.Logger,
    ) -> None:
        self.path = path
        self.selector = selector
        self.handlers = handlers
        self.log = log
        self.sock: socket.socket | None = None
        self.inode = 0
        self.connections: set[ControlConnection] = set()

    def open(self) -> None:
        """Bind (StartupError, one line, when the place is unsafe or the name is taken)."""
        self.sock, self.inode = control_socket.bind(self.path)
        self.selector.register(self.sock, selectors.EVENT_READ, self)

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def on_event(self, mask: int) -> None:
        while self.sock is not None:
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: try again at the next event
                self.log.warning("control socket: accept failed: %s", exc)
                return
            self.admit(sock)

    def admit(self, sock: socket.socket) -> None:
        pid, uid = peer_credentials(sock)
        refusal = None
        if uid is not None and uid != os.geteuid():
            refusal = "permission denied: not the owner of this cluster"
            self.log.warning("control socket: refused pid %s of uid %s", pid, uid)
        elif len(self.connections) >= MAX_CONNECTIONS:
            refusal = "too many control connections; try again"
        if refusal is not None:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.send(encode({"action": "error", "data": {"message": refusal}, "exit": 1}))
                # Closing with unread input resets the connection, which can cost the
                # client our one line: read what it sent so far first.
                while sock.recv(65536):
                    pass
            sock.close()
            return
        self.connections.add(ControlConnection(self, sock, pid))

    def dispatch(self, request: Request) -> None:
        handler = self.handlers.get(request.action)
        if handler is None:
            request.fail(f"unknown control action {request.action!r}", exit=ExitCode.USAGE)
            return
        try:
            handler(request)
        except Exception as exc:
            self.log.exception("control request %r failed", request.action)
            request.fail(f"internal error in the master: {type(exc).__name__}: {exc}")

    def forget(self, conn: ControlConnection) -> None:
        self.connections.discard(conn)

    def fds(self) -> list[int]:
        """Every fd of the channel: a forked worker closes them first, or the listening
        socket would outlive a SIGKILLed master and look alive to the stale check."""
        fds = [conn.fileno() for conn in self.connections if not conn.closed]
        if self.sock is not None:
            fds.append(self.sock.fileno())
        return fds

    def close(self) -> None:
        for conn in list(self.connections):
            conn.close()
        if self.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.sock)
            self.sock.close()
            self.sock = None
            control_socket.release(self.path, self.inode)


def peer_credentials(sock: socket.socket) -> tuple[int | None, int | None]:
    """(pid, uid) of the connected peer, (None, None) where SO_PEERCRED does not exist
    (there the 0700 directory is the only gate)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - non-Linux
        return None, None
    try:
        pid, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, option, _PEERCRED.size))
    except OSError:
        return None, None
    return pid, uid
