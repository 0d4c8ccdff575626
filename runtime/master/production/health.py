"""`--health-port`: /livez, /readyz and /metrics served by the master itself (docs/DEPLOY.md).

The master keeps its single-threaded loop (no thread, no asyncio), so this server is
selector-driven and never blocks: its sockets live in a selector of its own, and that
selector's fd (an epoll fd is itself pollable) is the ONE registration the master loop
makes (`registrations()`): when it is readable the loop calls `on_event()`, which handles
whatever is ready without waiting. Connections come and go without touching the master's
selector. HTTP is parsed by h11 (a maintained sans-IO parser, already installed with
uvicorn), never by hand.

Answers come from a snapshot callback the master provides (`runtime.master.production.metrics`), so
/readyz answers in microseconds even while every worker is stuck in a slow request:
- `/livez`: 200 whenever it answers at all (the answer comes from the master loop);
- `/readyz`: 200 when the agent is up, at least one app worker serves and the cluster is
  not draining, else 503 with the reason (Kubernetes stops routing to the pod);
- `/metrics`: the Prometheus text format.
Bounded: at most MAX_CONNECTIONS at once (the oldest idle one makes room), idle ones
closed after IDLE_TIMEOUT, requests bigger than MAX_REQUEST refused.
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections.abc import Callable
from http import HTTPStatus

import h11

from runtime.master.production.exposition import render
from runtime.master.production.metrics import Snapshot
from runtime.process.errors import StartupError

log = logging.getLogger("eggscripts.master")

MAX_CONNECTIONS = 32
IDLE_TIMEOUT = 10.0
MAX_REQUEST = 8192
ACCEPTS_PER_EVENT = 16
TEXT = "text/plain; charset=utf-8"


class _Connection:
    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST)
        self.outgoing = bytearray()
        self.last_active = now
        self.request: h11.Request | None = None
        self.closing = False


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        snapshot: Snapshot,
        clock: Callable[[], float] = time.monotonic,
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: the listening socket an upgrading master handed down (no bind)."""
        self.snapshot = snapshot
        self.clock = clock
        self.listener = sock if sock is not None else _bind(host, port)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.connections: dict[int, _Connection] = {}

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return host, port

    # -- what the master loop sees ---------------------------------------------------------
    def fileno(self) -> int:
        """Readable whenever any socket of this server has an event (epoll in epoll)."""
        return self.selector.fileno()

    def registrations(self) -> list[tuple[HealthServer, int]]:
        """(file object, events) the master registers in its selector: just this one."""
        return [(self, selectors.EVENT_READ)]

    def fds(self) -> list[int]:
        """Every fd this server holds: a forked worker closes them first."""
        return [self.selector.fileno(), self.listener.fileno(), *self.connections]

    def on_event(self, mask: int = selectors.EVENT_READ) -> None:
        """Handle everything ready now, without blocking; then drop idle connections."""
        for key, events in self.selector.select(0):
            if key.data is None:
                self._accept()
            else:
                conn = self.connections.get(key.fd)
                if conn is not None:
                    self._serve(conn, events)
        self.sweep()

    def sweep(self) -> None:
        """Close connections idle for IDLE_TIMEOUT (also safe to call from a timer)."""
        limit = self.clock() - IDLE_TIMEOUT
        for conn in [c for c in self.connections.values() if c.last_active < limit]:
            self._close(conn)

    def close(self) -> None:
        for conn in list(self.connections.values()):
            self._close(conn)
        self.selector.close()
        self.listener.close()

    # -- connections -------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: the probe fails, the master lives
                log.warning("health server: accept failed: %s", exc)
                return
            if len(self.connections) >= MAX_CONNECTIONS:
                self._close(min(self.connections.values(), key=lambda c: c.last_active))
            sock.setblocking(False)
            conn = _Connection(sock, self.clock())
            self.connections[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def _serve(self, conn: _Connection, events: int) -> None:
        conn.last_active = self.clock()
        if events & selectors.EVENT_READ and not conn.closing:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._close(conn)
                return
            if data is not None:
                conn.http.receive_data(data)
                self._handle_events(conn)
        self._flush(conn)

    def _handle_events(self, conn: _Connection) -> None:
        while not conn.closing:
            try:
                event = conn.http.next_event()
            except h11.RemoteProtocolError as exc:
                self._reply_error(conn, exc.error_status_hint, "bad request")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                conn.request = event
            elif isinstance(event, h11.EndOfMessage) and conn.request is not None:
                self._respond(conn, conn.request)
                conn.request = None
                if not self._next_cycle(conn):
                    return
            elif isinstance(event, h11.ConnectionClosed):
                conn.closing = True
                return

    def _respond(self, conn: _Connection, request: h11.Request) -> None:
        method = request.method.decode("ascii", "replace")
        path = request.target.decode("ascii", "replace").split("?", 1)[0]
        if path not in ("/livez", "/readyz", "/metrics"):
            status, body, ctype = 404, b"not found\n", TEXT
        elif method not in ("GET", "HEAD"):
            status, body, ctype = 405, b"method not allowed\n", TEXT
        else:
            try:
                status, body, ctype = self._answer(path)
            except Exception:  # a bug in the snapshot must not take the master down
                log.exception("health server: %s failed", path)
                status, body, ctype = 500, b"internal error\n", TEXT
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
        headers.append(("Cache-Control", "no-store"))
        if status == 405:
            headers.append(("Allow", "GET, HEAD"))
        self._send(conn, _response(status, headers))
        if method != "HEAD":
            self._send(conn, h11.Data(data=body))
        self._send(conn, h11.EndOfMessage())

    def _answer(self, path: str) -> tuple[int, bytes, str]:
        if path == "/livez":
            return 200, b"ok\n", TEXT
        if path == "/readyz":
            ready, reason = self.snapshot().readiness()
            return (200, b"ok\n", TEXT) if ready else (503, f"{reason}\n".encode(), TEXT)
        body, ctype = render(self.snapshot)
        return 200, body, ctype

    def _reply_error(self, conn: _Connection, status: int, text: str) -> None:
        if conn.http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = f"{text}\n".encode()
            headers = [("Content-Type", TEXT), ("Content-Length", str(len(body)))]
            headers.append(("Connection", "close"))
            try:
                self._send(conn, _response(status, headers))
                self._send(conn, h11.Data(data=body))
                self._send(conn, h11.EndOfMessage())
            except h11.LocalProtocolError:
                pass
        conn.closing = True

    def _send(self, conn: _Connection, event: h11.Event) -> None:
        data = conn.http.send(event)
        if data:
            conn.outgoing += data

    def _next_cycle(self, conn: _Connection) -> bool:
        """Keep-alive: ready for the next request, or mark the connection for closing."""
        if conn.http.our_state is h11.DONE and conn.http.their_state is h11.DONE:
            conn.http.start_next_cycle()
            return True
        conn.closing = True
        return False

    def _flush(self, conn: _Connection) -> None:
        if conn.outgoing:
            try:
                sent = conn.sock.send(conn.outgoing)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            del conn.outgoing[:sent]
        if conn.outgoing:
            self.selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
        elif conn.closing:
            self._close(conn)
        else:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)

    def _close(self, conn: _Connection) -> None:
        fd = conn.sock.fileno()
        if self.connections.pop(fd, None) is not None:
            self.selector.unregister(conn.sock)
        conn.sock.close()


def _response(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    """With its reason phrase (`200 OK`): h11 sends none unless told, and some probes and
    proxies print or even expect one."""
    return h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise StartupError(f"--health-port: cannot use {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"--health-port: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    sock.setblocking(False)
    return sock
