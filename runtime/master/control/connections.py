"""The master's end of the private control channel (`status`, `scale`, `reload`).

No thread (gunicorn's control socket deadlocked at fork because of one): the listening
socket and every connection are non-blocking and sit in the master's own selector with
`data=self`; the loop calls `key.data.on_event(mask)` and each object does what the event
allows without ever blocking. A connection's unsent bytes are kept and flushed when the
socket is writable, so a CLI that stops reading can never stall the master.

Who may talk: only processes of the master's own uid (SO_PEERCRED, on top of the 0700
directory, see control_socket.py); anyone else gets one error frame and is hung up on.

Nobody can starve the channel (docs/INTERNALS.md §4, "Limits"): a connection with no
request in progress that moves no byte for `IDLE_TIMEOUT` is closed; at `MAX_CONNECTIONS`
a new client evicts the longest-idle connection instead of being refused (only clients
whose requests are all in progress are never evicted); and what a client does not read is
bounded: past `MAX_UNREAD` unsent bytes its connection is not read (the client blocks, the
master does not grow), past `MAX_UNSENT` (a reload stream nobody reads) it is closed.

Protocol (docs/INTERNALS.md §4), the IPC framing: the client sends
`{"action": <name>, "data": {...}}`; the handler answers with any number of progress frames
(`Request.reply`) and exactly one final frame, `done` (`Request.finish`) or `error`
(`Request.fail`). Every frame is built by runtime/contract/control.py, the module the
CLI reads them with, so both ends share one definition. A handler may answer later (a
reload streams for seconds): it keeps the `Request`; if the client went away meanwhile,
replies are dropped, the work goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from runtime.contract import control
from runtime.contract.exitcodes import ExitCode
from runtime.contract.framing import FrameDecoder, ProtocolError, encode
from runtime.master.control import control_socket
from runtime.master.lifecycle.timers import Timer, Timers

Handler = Callable[["Request"], None]
MAX_CONNECTIONS = 32
MAX_REQUEST = 64 * 1024  # a request is a few dozen bytes; more is not a client of ours
IDLE_TIMEOUT = 5.0  # seconds without a byte either way and no request in progress
MAX_UNREAD = 256 * 1024  # unsent reply bytes above which a connection is no longer read
MAX_UNSENT = 4 * 1024 * 1024  # ... and above which it is closed (progress never read)
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Request:
    """One request of one client; answered by `reply`* then `finish` or `fail`."""

    def __init__(self, conn: ControlConnection, action: str, data: object) -> None:
        self.conn = conn
        self.action = action
        self.data = data  # as sent: the handler parses it (runtime/contract/control.py)
        self.done = False

    @property
    def peer_pid(self) -> int | None:
        return self.conn.peer_pid

    @property
    def connected(self) -> bool:
        return not self.conn.closed

    def reply(self, action: control.Reply, data: object = None) -> None:
        """A progress frame (`accepted`, `progress`); dropped once finished."""
        if not self.done:
            self.conn.send(control.progress(action, data))

    def finish(self, data: object = None, exit: int = 0) -> None:
        self._end(control.done(data, exit))

    def fail(
        self, message: str, exit: int = ExitCode.ERROR, data: Mapping[str, object] | None = None
    ) -> None:
        self._end(control.error(message, exit, data))

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
        self.waiting: deque[dict[str, Any]] = deque()  # requests read, held while unread
        self.dispatching = False
        self.active_at = server.clock()  # last byte in or out, or a request
        self.mask = selectors.EVENT_READ
        server.selector.register(sock, self.mask, self)

    def fileno(self) -> int:
        return self.sock.fileno()

    def idle_for(self, now: float) -> float | None:
        """Seconds since this connection last moved; None while a request is in progress
        (a reload streams for as long as it takes)."""
        return None if self.current is not None else now - self.active_at

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
        self.active_at = self.server.clock()
        self.received += len(data)
        try:
            if self.received > MAX_REQUEST:
                raise ProtocolError("request too large")
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            self.send(control.error(f"bad request: {exc}", ExitCode.USAGE))
            self.close_when_flushed()
            return
        if messages:
            self.received = 0
            self.waiting.extend(messages)
            self.dispatch_waiting()

    def dispatch_waiting(self) -> None:
        """Answer what was read while the client reads its replies; the rest waits for
        `flush` to make room (a client pipelining requests without reading gets no more
        answers, and no more of its bytes are read, until it does)."""
        if self.dispatching:
            return  # a reply sent from the loop below: the loop goes on by itself
        self.dispatching = True
        try:
            while self.waiting and len(self.out) < MAX_UNREAD and not self.closed:
                self.dispatch(self.waiting.popleft())
        finally:
            self.dispatching = False
        self.flush()  # what the client may now be sent, and whether to read it again

    def dispatch(self, msg: dict[str, Any]) -> None:
        request = Request(self, msg["action"], msg.get("data"))  # FrameDecoder checked it
        if self.current is not None:
            request.fail(f"busy with a {self.current.action} request on this connection")
            return
        self.active_at = self.server.clock()
        self.current = request
        self.server.dispatch(request)

    def send(self, msg: dict[str, Any]) -> None:
        if self.closed:
            return
        self.out += encode(msg)
        if len(self.out) > MAX_UNSENT:
            self.server.log.warning(
                "control socket: closing the connection of pid %s: %d bytes of replies unread",
                self.peer_pid, len(self.out),
            )  # fmt: skip
            self.close()
            return
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
            self.active_at = self.server.clock()
        if self.closed:
            return
        if self.closing and not self.out:
            self.close()
            return
        if self.waiting and len(self.out) < MAX_UNREAD and not self.dispatching:
            self.dispatch_waiting()  # room again: answer what waits (it flushes again)
            return
        reading = not self.waiting and len(self.out) < MAX_UNREAD
        wanted = (selectors.EVENT_READ if reading else 0) | (
            selectors.EVENT_WRITE if self.out else 0
        )
        wanted = wanted or selectors.EVENT_READ
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
        handlers: Mapping[str, Handler],
        log: logging.Logger,
        timers: Timers | None = None,
    ) -> None:
        self.path = path
        self.selector = selector
        self.handlers = handlers
        self.log = log
        # The master's timers close idle connections on time; without them (tests driving
        # the server alone) they are closed when a new client arrives.
        self.timers = timers
        self.clock: Callable[[], float] = timers.clock if timers else time.monotonic
        self.sweeper: Timer | None = None
        self.sock: socket.socket | None = None
        self.inode = 0
        self.connections: set[ControlConnection] = set()
        self.owns_name = True  # False for a successor's socket until it takes over

    def open(self) -> None:
        """Bind (StartupError, one line, when the place is unsafe or the name is taken)."""
        self.sock, self.inode = control_socket.bind(self.path)
        self.selector.register(self.sock, selectors.EVENT_READ, self)

    # -- an upgrade hands the socket over (runtime/master/lifecycle/upgrade.py) -----------
    def adopt(self, fd: int) -> None:
        """The successor's side: the old master's socket, inherited; clients queue in its
        backlog until `resume` (the takeover)."""
        self.sock, self.inode = control_socket.inherit(fd, self.path)
        self.owns_name = False

    def resume(self) -> None:
        if self.sock is not None and not self.owns_name:
            self.owns_name = True
            self.selector.register(self.sock, selectors.EVENT_READ, self)

    def hand_off(self) -> None:
        """The old master's side: stop accepting and forget the socket, without removing
        its name (the successor accepts on it now); requests in progress still finish."""
        self.owns_name = False
        self.stop_accepting()

    def stop_accepting(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.sock)
            self.sock.close()
            self.sock = None

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
        elif not self.make_room():
            refusal = "too many control connections; try again"
        if refusal is not None:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.send(encode(control.error(refusal)))
                # Closing with unread input resets the connection, which can cost the
                # client our one line: read what it sent so far first.
                while sock.recv(65536):
                    pass
            sock.close()
            return
        self.connections.add(ControlConnection(self, sock, pid))
        self.schedule_sweep()

    def make_room(self) -> bool:
        """Whether a new connection may be admitted: idle ones past their timeout are
        closed, then, at the cap, the longest-idle one (the newcomer has a request to make;
        an idle holder of a slot has none in progress)."""
        self.sweep()
        if len(self.connections) < MAX_CONNECTIONS:
            return True
        now = self.clock()
        idle = {c: t for c in self.connections if (t := c.idle_for(now)) is not None}
        if not idle:
            return False
        oldest = max(idle, key=idle.__getitem__)
        self.log.info("control socket: closing an idle connection (pid %s)", oldest.peer_pid)
        oldest.close()
        return True

    def sweep(self) -> None:
        """Close every connection idle for IDLE_TIMEOUT; reschedule for the next one."""
        now = self.clock()
        for conn in list(self.connections):
            idle = conn.idle_for(now)
            if idle is not None and idle >= IDLE_TIMEOUT:
                conn.close()
        if self.sweeper is not None:  # one pending sweep at a time, whoever called this
            self.sweeper.cancel()
            self.sweeper = None
        self.schedule_sweep()

    def schedule_sweep(self) -> None:
        if self.timers is None or self.sweeper is not None or not self.connections:
            return
        now = self.clock()
        due = [now - idle for c in self.connections if (idle := c.idle_for(now)) is not None]
        # A connection busy with a request is looked at again one timeout from now.
        next_at = min(due, default=now) + IDLE_TIMEOUT
        self.sweeper = self.timers.call_later(next_at - now, self.sweep)

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
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        for conn in list(self.connections):
            conn.close()
        self.stop_accepting()
        if self.owns_name:
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
