"""The ASGI 3 entry of an Application: one request in, one response out.

This is the hot path, so it is flat: build the Context, read a body only for methods that
carry one, run the onion composed at boot, render, two `send` calls. One try/except covers
the handler and the rendering; errors become 4xx/5xx responses here and never reach uvicorn.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from runtime.http.bodyparser import BODY_METHODS, read_body
from runtime.http.context import NULL_BODY
from runtime.http.errors import HttpError, reason

_EMPTY_STATUS = frozenset((204, 205, 304))
_TEXT = "text/plain; charset=utf-8"
_BTEXT = _TEXT.encode()
_BJSON = b"application/json; charset=utf-8"
_BBIN = b"application/octet-stream"
_CTYPE = b"content-type"
_CLEN = b"content-length"
_LENGTHS = tuple(str(i).encode() for i in range(4096))
_ctype_cache: dict[str, bytes] = {}


def _length(n: int) -> bytes:
    return _LENGTHS[n] if n < 4096 else str(n).encode()


def _ctype(value: str) -> bytes:
    encoded = _ctype_cache.get(value)
    if encoded is None:
        encoded = value.encode("latin-1")
        if len(_ctype_cache) < 256:
            _ctype_cache[value] = encoded
    return encoded


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def render(ctx: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers and body bytes for the state the handler left in `ctx` (Koa)."""
    body = ctx._body
    status = ctx._status
    ctype = ctx._type
    if body.__class__ is str:
        data = body.encode()
        bctype = _BTEXT if ctype is None else _ctype(ctype)
    elif body is None or body is NULL_BODY:
        if body is NULL_BODY or status in _EMPTY_STATUS:
            headers = _extra_headers(ctx, [])
            return status, headers, b""
        data = reason(status).encode()
        bctype = _BTEXT
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        bctype = _BBIN if ctype is None else _ctype(ctype)
    else:
        data = _dumps(body)
        bctype = _BJSON if ctype is None else _ctype(ctype)
    headers = [(_CTYPE, bctype), (_CLEN, _length(len(data)))]
    if ctx._headers:
        _extra_headers(ctx, headers)
    return status, headers, data


def _extra_headers(ctx: Any, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    for name, value in (ctx._headers or {}).items():
        key = name.encode("latin-1")
        if isinstance(value, list):
            headers.extend((key, v.encode("latin-1")) for v in value)
        else:
            headers.append((key, value.encode("latin-1")))
    return headers


def make_asgi(app: Any) -> Any:
    """The request cycle as a closure over the app's boot-time state.

    Everything a request needs (Context class, fast routes, the onion, body parser
    settings) is bound as a free variable, so the hot path does no attribute lookups on
    the app. Installed as `__call__` of the app's private class by `AsgiApp.install_asgi`.
    """
    ctx_cls = app.context_class
    fast_get = app.fast_routes.get
    handler = app.handler
    read_bodies = app.read_bodies
    limit = app.bodyparser_limit
    error_response = app._error_response
    other_scope = app._other_scope

    async def __call__(self: Any, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await other_scope(scope, receive, send)
        ctx = ctx_cls(self, scope, receive)
        try:
            method = scope["method"]
            if read_bodies and method in BODY_METHODS:
                await read_body(ctx, limit)
            await (fast_get((method, scope["path"])) or handler)(ctx)
            body = ctx._body
            if body.__class__ is str and ctx._type is None and ctx._headers is None:
                data = body.encode()  # the common case, inlined: text without extra headers
                status = ctx._status
                headers = [(_CTYPE, _BTEXT), (_CLEN, _length(len(data)))]
            else:
                status, headers, data = render(ctx)
        except Exception as exc:  # every error becomes a response, never a dropped socket
            status, headers, data = error_response(ctx, exc)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return __call__


class AsgiApp:
    """Mixin making an Application an ASGI 3 callable.

    The loader sets `context_class`, `handler` (the composed onion), `bodyparser_limit`
    and `read_bodies` at boot, and `fast_routes`: the static routes no middleware applies
    to, `(method, path) -> route handler`, which skip the onion. `install_asgi` then binds
    them into the fast `__call__`; until then the generic one below serves.
    """

    context_class: Any
    handler: Any
    fast_routes: dict[tuple[str, str], Any]
    bodyparser_limit: int = 1024 * 1024
    read_bodies: bool = True
    logger: Any
    env: str
    private_class = False  # True on the per-instance class made by the loader

    def install_asgi(self) -> None:
        """Bind the current boot-time state into `__call__` (the class must be private)."""
        if type(self).__dict__.get("private_class"):
            type(self).__call__ = make_asgi(self)  # type: ignore[method-assign]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await make_asgi(self)(self, scope, receive, send)

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

    async def _other_scope(self, scope: dict, receive: Any, send: Any) -> None:
        """Lifespan is acknowledged (the runtime boots the app itself); websockets refused."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1000})
