"""A complete response of an egg-style app handed to uvicorn's request cycle in one step.

An ASGI app answers in two messages, `http.response.start` then `http.response.body`, and
uvicorn's `RequestResponseCycle.send` checks every header of the first one (two regular
expressions per header, the `server` and `date` defaults included) and writes the head and
the body apart. Our own egg-style apps (runtime/http/asgi.py) know when their response is
plain: a body in bytes, a content type and a `content-length` of the body's size, then
the headers set by middleware or controllers (`ctx.set`). What the app built from
constants comes as header lines; a content type of the app's (`ctx.type`) and the rest
are checked here exactly as uvicorn checks them. For such a response `respond` writes
status line, headers and body with one `transport.write` and leaves the cycle as uvicorn's
`send` would, through uvicorn's own attributes: started, complete, `message_event` set,
closed when not keep-alive, `on_response` called. The bytes are the ones uvicorn writes
(tests compare them), in one write instead of two (one socket send less). `GET /` of the
showcase: 126k -> 107k instructions per request (`bench/request_path.py --callgrind`).

Anything else takes uvicorn's path unchanged (`respond` returns False and the app sends its
two messages): a `send` that is not uvicorn's cycle's own (our access log wraps it, so
`--access-log` keeps its counting), a response already started, a disconnected client,
writing paused by flow control (uvicorn's send waits for the drain), a body over
`MAX_BODY`, uvicorn's own access log, a status uvicorn has no status line for, a header
uvicorn's send would refuse, a default header that frames the response (`connection`,
`content-length`, `transfer-encoding`) or an app's header that does (`connection`,
`transfer-encoding`; a second `content-length` is written as uvicorn writes it, which
frames the body by the first one, the app's). uvicorn's default headers are
checked as uvicorn checks them, once per list: its server replaces the list when the
`date` changes, once a second.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)

# A larger body is written as uvicorn writes it, apart from the head: joining them would
# copy it for a saving that no longer counts.
MAX_BODY = 64 * 1024
# Headers that change how uvicorn's send frames the response. A `content-length` after the
# app's own is written as it is: uvicorn frames the body by the first one.
_FRAMING = frozenset((b"connection", b"content-length", b"transfer-encoding"))
_EXTRA_FRAMING = frozenset((b"connection", b"transfer-encoding"))
_CLOSE = b"connection: close\r\n\r\n"
_END = b"\r\n"

# (the default-headers list last seen, its header lines or None when it needs uvicorn's send)
_defaults: tuple[Any, bytes | None] = (None, None)


def default_lines(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """uvicorn's default headers as the lines its `send` writes, or None when one of them
    is invalid (uvicorn's send raises for it) or frames the response."""
    global _defaults
    cached, lines = _defaults
    if cached is headers:
        return lines
    parts: list[bytes] = []
    lines = None
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            break
        name = name.lower()
        if name in _FRAMING:
            break
        parts.append(b"%s: %s\r\n" % (name, value))
    else:
        lines = b"".join(parts)
    _defaults = (headers, lines)
    return lines


def extra_lines(headers: Any) -> bytes | None:
    """Headers the app was given (`ctx.type`, `ctx.set`) as the lines uvicorn's send
    writes, checked as it checks them; None for one it would refuse or that frames the
    response."""
    parts = []
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            return None
        name = name.lower()
        if name in _EXTRA_FRAMING:
            return None
        parts.append(b"%s: %s\r\n" % (name, value))
    return b"".join(parts)


def respond(send: Any, status: int, lines: bytes, body: bytes, extra: Any = ()) -> bool:
    """Write the response (`lines`: header lines the app built from constants, each ending
    in CRLF; `extra`: header pairs after them, from elsewhere; the first `content-length`
    of the two is the app's own, `len(body)`) through the cycle `send` belongs to; False,
    having done nothing, when it must go through
    uvicorn's `send` instead."""
    cycle = getattr(send, "__self__", None)
    if (
        cycle.__class__ is not RequestResponseCycle
        or len(body) > MAX_BODY
        or cycle.response_started
        or cycle.disconnected
        or cycle.access_log
        or cycle.flow.write_paused
    ):
        return False
    status_line = STATUS_LINE.get(status)
    defaults = default_lines(cycle.default_headers)
    if status_line is None or defaults is None:
        return False
    if extra:
        more = extra_lines(extra)
        if more is None:
            return False
        lines += more
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.chunked_encoding = False
    keep_alive = cycle.keep_alive
    if cycle.scope["method"] == "HEAD":
        body = b""
    end = _END if keep_alive else _CLOSE
    cycle.transport.write(b"".join((status_line, defaults, lines, end, body)))
    cycle.response_complete = True
    cycle.message_event.set()
    if not keep_alive:
        cycle.transport.close()
    cycle.on_response()
    return True
