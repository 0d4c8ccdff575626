"""The ASGI 3 entry of an Application: one request in, one response out.

This is the hot path, so it is flat: build the Context, read a body only for methods that
carry one, run the onion composed at boot, render, then one call of the server's responder
for a plain response (see `make_asgi`) or the two `send` calls. One try/except covers
the handler and the rendering; errors become 4xx/5xx responses here and never reach uvicorn.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from types import MethodType
from typing import TYPE_CHECKING, Any

from runtime.http import websocket
from runtime.http.bodyparser import BODY_METHODS, read_body
from runtime.http.compose import entry
from runtime.http.context import NULL_BODY
from runtime.http.errors import HttpError, reason
from runtime.http.stream import Stream, is_stream
from runtime.http.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from runtime.http.mount import Mount
    from runtime.http.router import Router

_EMPTY_STATUS = frozenset((204, 205, 304))
_TEXT = "text/plain; charset=utf-8"
_BTEXT = _TEXT.encode()
_BJSON = b"application/json; charset=utf-8"
_BBIN = b"application/octet-stream"
_CTYPE = b"content-type"
_CLEN = b"content-length"
_LENGTHS = tuple(str(i).encode() for i in range(4096))
_ctype_cache: dict[str, bytes] = {}
_LINES = b"content-type: %s\r\ncontent-length: %s\r\n"
# A server's way to take a complete response in one step (runtime/worker/one_write.py):
# `respond(send, status, header_lines, body, extra_headers)`, False when it must be sent as
# ASGI messages.
Responder = Callable[[Send, int, bytes, bytes, Any], bool]


def _length(n: int) -> bytes:
    return _LENGTHS[n] if n < 4096 else str(n).encode()


def _ctype(value: str) -> bytes:
    encoded = _ctype_cache.get(value)
    if encoded is None:
        encoded = value.encode("latin-1")
        if len(_ctype_cache) < 256:
            _ctype_cache[value] = encoded
    return encoded


# `json.dumps` with options builds a JSONEncoder per call; one is built here, once.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(value: Any) -> bytes:
    return _encode_json(value).encode()


def render(ctx: Any) -> tuple[int, list[tuple[bytes, bytes]], Any]:
    """Status, raw headers and body (bytes, or a `Stream`) for what the handler left in
    `ctx` (Koa)."""
    body = ctx._body
    status = ctx._status
    ctype = ctx._type
    if body is NULL_BODY or status in _EMPTY_STATUS:
        headers = [] if status in _EMPTY_STATUS else [(_CLEN, b"0")]
        return status, _extra_headers(ctx, headers), b""
    if body.__class__ is str:
        data = body.encode()
        bctype = _BTEXT if ctype is None else _ctype(ctype)
    elif body is None:  # nothing set the body: Koa answers with the reason phrase
        data = reason(status).encode()
        bctype = _BTEXT
    elif body.__class__ is dict or body.__class__ is list:  # JSON, without the tests below
        data = _dumps(body)
        bctype = _BJSON if ctype is None else _ctype(ctype)
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        bctype = _BBIN if ctype is None else _ctype(ctype)
    elif is_stream(body):
        return _stream_response(ctx, status, Stream(body))
    else:
        data = _dumps(body)
        bctype = _BJSON if ctype is None else _ctype(ctype)
    headers = [(_CTYPE, bctype), (_CLEN, _length(len(data)))]
    if ctx._headers:
        _extra_headers(ctx, headers)
    return status, headers, data


def _stream_response(
    ctx: Any, status: int, stream: Stream
) -> tuple[int, list[tuple[bytes, bytes]], Any]:
    ctype = ctx._type or stream.content_type()
    headers = [(_CTYPE, _ctype(ctype))]
    if stream.length is not None:
        headers.append((_CLEN, _length(stream.length)))
    return status, _extra_headers(ctx, headers), stream


def _extra_headers(ctx: Any, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    for name, value in (ctx._headers or {}).items():
        key = name.encode("latin-1")
        if isinstance(value, list):
            headers.extend((key, v.encode("latin-1")) for v in value)
        else:
            headers.append((key, value.encode("latin-1")))
    return headers


def make_asgi(app: Any) -> Any:
    """The request cycle as a plain `async def asgi(scope, receive, send)` closure.

    Everything a request needs (Context class, fast routes, the onion, body parser
    settings) is bound as a free variable, so the hot path does no attribute lookups on
    the app. Each handler is split into its `entry` (runtime/http/compose.py): the
    outermost middleware is called from here, one Python call less. A text body that is
    the very same `str` object as the previous response's (a constant such as
    `"hello world"`) reuses its encoded bytes and headers. A response in bytes with a
    content type and its length (headers from `ctx.set` may follow) goes to the server's
    `responder` in one step, when it has one and takes it: the lines of the headers the app
    built from constants, then the others, for the responder to check.
    """
    ctx_cls = app.context_class
    bind = MethodType
    fast_get = {
        path: {method: entry(h) for method, h in methods.items()}
        for path, methods in app.fast_routes.items()
    }.get
    default = entry(app.handler)
    read_bodies = app.read_bodies
    limit = app.bodyparser_limit
    error_response = app._error_response
    other_scope: ASGIApp = app._other_scope
    mounts = app.router.mounts
    find_mount: Callable[[str], Mount | None] | None = mounts.find if mounts else None
    respond: Responder | None = app.responder
    # (body str, its bytes, its headers, their lines)
    last: tuple[Any, bytes, Any, bytes] = (None, b"", (), b"")

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal last
        if scope["type"] != "http":
            await other_scope(scope, receive, send)
            return
        if find_mount is not None:
            mount = find_mount(scope["path"])
            if mount is not None:
                await mount(scope, receive, send)
                return
        ctx = ctx_cls(app, scope, receive)
        lines = None  # the lines of the headers the app built itself, for `respond`
        extra: Any = ()  # then the headers it was given (`ctx.set`)
        try:
            method = scope["method"]
            if read_bodies and method in BODY_METHODS:
                await read_body(ctx, limit)
            routes = fast_get(scope["path"])
            mw, inner = (routes and routes.get(method)) or default
            if mw is None:
                await inner(ctx)
            else:
                await mw(ctx, bind(inner, ctx))
            body = ctx._body
            if (
                body.__class__ is str
                and ctx._explicit is False
                and ctx._type is None
                and ctx._headers is None
            ):  # the common case, inlined: text, implicit 200, no extra headers
                status = ctx._status
                if body is last[0]:
                    data, headers, lines = last[1], last[2], last[3]
                else:
                    data = body.encode()
                    n = len(data)
                    length = _LENGTHS[n] if n < 4096 else _length(n)
                    headers = ((_CTYPE, _BTEXT), (_CLEN, length))
                    lines = _LINES % (_BTEXT, length)
                    last = (body, data, headers, lines)
            else:
                status, headers, data = render(ctx)
                if data.__class__ is bytes and len(headers) >= 2 and headers[1][0] is _CLEN:
                    # a content type and the length, then `ctx.set`'s headers
                    if ctx._type is None:  # a content type of render's own
                        lines = _LINES % (headers[0][1], headers[1][1])
                        extra = headers[2:]
                    else:  # the app's: checked by the responder with the rest
                        lines = b""
                        extra = headers
        except Exception as exc:  # every error becomes a response, never a dropped socket
            status, headers, data = error_response(ctx, exc)
            lines = None
        if lines is not None and respond is not None and respond(send, status, lines, data, extra):
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if data.__class__ is bytes:
            await send({"type": "http.response.body", "body": data})
        else:  # a Stream (runtime/http/stream.py): sent as it is produced
            stream: Stream = data  # type: ignore[assignment]
            await stream.send(send)

    return asgi


class AsgiApp:
    """Mixin making an Application an ASGI 3 callable.

    The loader sets `context_class`, `handler` (the composed onion), `bodyparser_limit`
    and `read_bodies` at boot, and `fast_routes`: the static routes no middleware applies
    to, `path -> {method: route handler}`, which skip the onion. `install_asgi` then binds
    them into `asgi`, a plain function servers may call directly (it saves the cost of
    calling an instance), and into `__call__`; until then the generic one below serves.
    """

    context_class: Any
    handler: Any
    fast_routes: dict[str, dict[str, Any]]
    asgi: Any
    bodyparser_limit: int = 1024 * 1024
    read_bodies: bool = True
    responder: Responder | None = None
    logger: Any
    env: str
    private_class = False  # True on the per-instance class made by the loader

    def install_asgi(self) -> None:
        """Bind the current boot-time state into `asgi` and, on the app's private class
        (see `runtime.loader.create_app`), into `__call__` as well."""
        self.asgi = make_asgi(self)
        if type(self).__dict__.get("private_class"):
            type(self).__call__ = staticmethod(self.asgi)  # type: ignore[method-assign]

    def use_responder(self, respond: Responder | None) -> None:
        """Hand plain responses to `respond` in one step (the worker's server installs
        runtime/worker/one_write.py); a response it declines goes as two ASGI messages."""
        self.responder = respond
        self.install_asgi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)

    def on_error(self, ctx: Any, exc: Exception) -> None:
        """Turn `exc` into the response in `ctx`; frameworks may override (egg's onerror)."""
        ctx._headers = None
        ctx._type = _TEXT
        if isinstance(exc, HttpError):
            ctx._status = exc.status
            ctx._body = exc.message if exc.expose else reason(exc.status)
            for key, value in exc.headers.items():
                ctx.set(key.replace("_", "-"), value)
            return
        self.logger.error(
            "%s %s failed: %s: %s", ctx.method, ctx.url, type(exc).__name__, exc, exc_info=exc
        )
        ctx._status = 500
        if self.env == "local":
            ctx._body = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        else:
            ctx._body = reason(500)

    def _error_response(
        self, ctx: Any, exc: Exception
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            self.on_error(ctx, exc)
            return render(ctx)
        except Exception as again:
            self.logger.error("error handler failed: %r", again, exc_info=again)
            data = reason(500).encode()
            return 500, [(_CTYPE, _BTEXT), (_CLEN, _length(len(data)))], data

    async def _other_scope(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Lifespan is acknowledged (the runtime boots the app itself); a WebSocket goes to
        a mounted app or a `router.websocket` route, else it is refused (HTTP 403)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            router: Router = self.router  # type: ignore[attr-defined]
            mount = router.mounts.find(scope["path"])
            if mount is not None:
                await mount(scope, receive, send)
                return
            found = router.sockets.find(scope["path"])
            if found is None:
                return await websocket.refuse(receive, send)
            await websocket.serve(self, scope, receive, send, found)
