"""uvicorn's httptools protocol (with requests that never wait run without a Task,
`eager.py`, and our draining shutdown, `draining.py`) plus the limits and read timeouts a
public server needs.

uvicorn caps nothing on the way in: a 16 MB header is parsed and answered, and a connection
that never sends, headers that never end or a body that never ends stay open for ever (a
few thousand of them exhaust a worker's file descriptors). This subclass adds, per
connection, without touching the parsing itself (still httptools). Every method it overrides
extends uvicorn's (calls it), so a fix in uvicorn reaches us; uvicorn's own protocol tests
run against this class (tests/uvicorn_protocol/, differences in docs/ASGI.md). The limits:

- `max_header_size`: request line + headers larger than this -> 431 (414 for the URL alone);
- `max_headers`: more header fields than this -> 431;
- `max_body`: a declared or received body larger than this -> 413 (off when None);
- `keep_alive`: an idle connection, before its first request too, is closed after this;
- `header_timeout`: a request whose headers are not complete this long after its first
  byte -> 408 and close (slowloris);
- `body_timeout`: no body byte for this long while the app waits for one -> 408 (or a plain
  close when the response has started). Time spent with reading paused because the app
  is slow to consume the body does not count: that is the app's doing, not the client's.

Timers are armed only when a request is actually incomplete after a read, so a request that
arrives in one segment (nearly all of them) costs no timer at all. The head limits are
checked once per request, at headers-complete, and on what a read leaves of a head still
incomplete, rather than in a per-header override: each overridden parser callback costs
every request a call. For the same reason this class's `data_received` and
`on_headers_complete` also serve `eager.py` and `draining.py`, and skip uvicorn's
proxy-headers middleware where it would change nothing (`proxy_bypass.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from typing import Any, NoReturn

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from runtime.worker.draining import DrainingHttpToolsProtocol
from runtime.worker.proxy_bypass import proxy_parts

_MESSAGES = {
    408: b"Request Timeout",
    413: b"Request Entity Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


log = logging.getLogger("eggscripts.app")


# Stands in for uvicorn's logger while a refused request passes through uvicorn's error path.
_QUIET = logging.getLogger("eggscripts.app.refused")
_QUIET.disabled = True


class Rejected(Exception):
    """Raised inside a parser callback to abort the request with `status`."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - no /proc
        return 32


class Limits:
    """The numbers above, read from the cluster options once per worker (after boot, so
    the files the app opened count against the file-descriptor budget)."""

    def __init__(self, options: Any) -> None:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        # Connections this worker can hold before accept() fails with EMFILE. uvloop
        # (libuv) then closes new connections at once and tells nobody, so the worker
        # watches the count itself.
        self.max_connections = soft - open_fds() - 2 if soft > 0 else None
        self.fds_warned = False
        self.max_header_size: int = options.max_header_size
        self.max_headers: int = options.max_headers
        self.max_body: int | None = options.max_body
        self.header_timeout: float = options.header_timeout
        self.body_timeout: float = options.body_timeout


class LimitedHttpToolsProtocol(DrainingHttpToolsProtocol):
    limits: Limits  # set on the per-worker subclass made by `protocol_class`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_scope: Any = None  # the scope of the last request whose head completed
        self._read = 0  # bytes in the read being parsed
        self._head_recv = 0  # bytes of earlier reads that ended inside a head
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_seen = 0.0
        self._body_bytes = 0
        self._refused: int | None = None
        self._logger = self.logger
        self._upgraded = False
        # uvicorn's proxy-headers middleware, skipped where it would change nothing.
        self._proxy, self._direct, self._proxy_acts = proxy_parts(self.app, self.client)
        if self._proxy is not None and not self._proxy_acts:
            self.app = self._direct  # an untrusted client: it passes every request on
        # A connection that never sends anything is idle from the start: the keep-alive
        # timeout applies to it exactly as it does between two requests.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )
        limits = self.limits
        if limits.max_connections is not None and len(self.connections) >= limits.max_connections:
            self._out_of_fds(limits)

    def _out_of_fds(self, limits: Limits) -> None:
        if not limits.fds_warned:
            limits.fds_warned = True
            log.error(
                "out of file descriptors (%d connections open, open-files limit %d): new "
                "connections are refused until some close; raise the limit (ulimit -n) "
                "or lower --keep-alive (logged once per worker)",
                len(self.connections),
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _cancel_timers(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _in_head(self) -> bool:
        """A request began whose headers are not complete yet (httptools buffers them)."""
        return self.scope is not self._head_scope

    def data_received(self, data: bytes) -> None:
        """uvicorn's, marking the read for eager runs (eager.py), then the read timeouts
        and the limits on a head still incomplete."""
        self._read = len(data)
        self._feeding = True
        try:
            super().data_received(data)
        finally:
            self._feeding = False
        if self._deferred is not None:
            self._start_deferred()
        if self._upgraded:
            return  # a WebSocket now
        if self.scope is not self._head_scope:
            if not self.transport.is_closing():  # else answered (400, a limit) and closed
                self._head_incomplete()
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            if self.timeout_keep_alive_task is None:
                self._still_idle()
            return
        if cycle.more_body and not self.transport.is_closing():
            self._body_seen = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_check)

    def _head_incomplete(self) -> None:
        """The read ended inside a head: the limits are checked on what it holds so far
        (the head of one request is bounded even if it never ends), and the header
        timeout runs."""
        self._head_recv += self._read
        limits = self.limits
        if self._head_recv > limits.max_header_size:
            self.reject(414 if len(self.url) > limits.max_header_size else 431)
        elif len(self.headers) > limits.max_headers:
            self.reject(431)
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(limits.header_timeout, self._head_timed_out)

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()
        self._upgraded = True
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers every error a parser callback raises with 400; a request one of
        our limits refused gets its own status instead (see `_refuse`)."""
        status, self._refused = self._refused, None
        if status is None:
            super().send_400_response(msg)
            return
        self.logger = self._logger
        self.reject(status)

    def _still_idle(self) -> None:
        """Bytes that began no request (the empty lines httptools skips before one): the
        connection is as idle as before, so the keep-alive timeout the read cancelled runs
        again; else a client sending one CRLF would hold its connection for ever."""
        if self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    # ---- parser callbacks ---------------------------------------------------------------
    def on_headers_complete(self) -> None:
        """The head limits, checked once per request: a head that fits in the bytes read
        for it (plus one byte per header: `name:value` without a space is counted as
        `name: value`) cannot exceed `max_header_size`, so only a larger one is measured."""
        self._head_scope = self.scope
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        limits = self.limits
        headers = self.headers
        received = self._head_recv + self._read
        self._head_recv = 0
        if len(headers) > limits.max_headers:
            self._refuse(431)
        if received + len(headers) > limits.max_header_size:
            self._measure_head(limits.max_header_size)
        self._body_bytes = 0
        if limits.max_body is not None:
            for name, value in headers:
                if name == b"content-length" and value.isdigit() and int(value) > limits.max_body:
                    self._refuse(413)
        if self._proxy_acts:  # a trusted client: the middleware acts on forwarding headers
            self.app = self._direct
            for name, _ in headers:  # inline: every request behind a local proxy comes here
                if name.startswith(b"x-forwarded") or name == b"forwarded":
                    self.app = self._proxy
                    break
        super().on_headers_complete()
        if self.draining:
            self._request_while_draining()

    def _measure_head(self, limit: int) -> None:
        """Request line + headers, counted as `name: value` plus CRLF each: 414 for a URL over
        `limit` alone, else 431."""
        size = len(self.url)
        if size > limit:
            self._refuse(414)
        for name, value in self.headers:
            size += len(name) + len(value) + 4
        if size > limit:
            self._refuse(431)

    def on_body(self, body: bytes) -> None:
        if self.limits.max_body is not None:
            self._body_bytes += len(body)
            if self._body_bytes > self.limits.max_body:
                self._refuse(413)
        super().on_body(body)

    # ---- timeouts and rejections --------------------------------------------------------
    def _refuse(self, status: int) -> NoReturn:
        """Stop parsing this request from inside a parser callback: httptools turns the
        exception into an `HttpParserCallbackError`, which uvicorn's `data_received` logs as
        an invalid request and answers through `send_400_response`, where the status noted
        here takes over. The request is not invalid, so that one warning is not logged."""
        self._refused = status
        self._logger, self.logger = self.logger, _QUIET
        raise Rejected(status)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head() and not self.transport.is_closing():
            self.reject(408)

    def _body_check(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if not cycle.more_body or cycle.response_complete:
            return
        now = self.loop.time()
        if self.flow.read_paused:  # the app is not reading: not the client's fault
            self._body_seen = now
        idle = now - self._body_seen
        if idle >= self.limits.body_timeout:
            self.reject(408)
            return
        self._body_timer = self.loop.call_later(self.limits.body_timeout - idle, self._body_check)

    def reject(self, status: int) -> None:
        """Answer `status` and close, unless the app already started a response (then only
        close: a second status line would corrupt the stream)."""
        self._cancel_timers()
        self._head_scope = self.scope  # nothing more is read: no head timeout either
        cycle = self.cycle
        started = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() sees http.disconnect
            cycle.message_event.set()
        if not started and not self.transport.is_closing():
            body = _MESSAGES[status]
            self.transport.write(
                b"".join(
                    (
                        STATUS_LINE[status],
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(body),
                        b"connection: close\r\n\r\n",
                        body,
                    )
                )
            )
        self.transport.close()


def protocol_class(options: Any, eager: bool = True) -> type[LimitedHttpToolsProtocol]:
    """A protocol class carrying this worker's limits (uvicorn instantiates it per
    connection with its own arguments, so the limits travel as a class attribute), and
    whether requests that do not wait run without a Task (eager.py)."""
    attrs = {"limits": Limits(options), "eager_runs": eager}
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), attrs)
