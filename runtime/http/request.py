"""`ctx.request` and `ctx.response`: thin views over the Context, for Koa compatibility.

The Context holds the data; these views exist so `app/extend/request.py` and
`app/extend/response.py` have a class to extend and `ctx.request.body` reads like Koa.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.http.bodyparser import parse_body, read_body

if TYPE_CHECKING:
    from runtime.http.context import Context

_UNSET: Any = object()


class _ContextView:
    """What Request and Response share: a view onto the request's Context (extends add
    their properties to the per-app subclasses)."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def app(self) -> Any:
        return self.ctx.app


class Request(_ContextView):
    __slots__ = ()

    method = property(lambda self: self.ctx.method)
    path = property(lambda self: self.ctx.path)
    url = property(lambda self: self.ctx.url)
    href = property(lambda self: self.ctx.href)
    host = property(lambda self: self.ctx.host)
    protocol = property(lambda self: self.ctx.protocol)
    query = property(lambda self: self.ctx.query)
    queries = property(lambda self: self.ctx.queries)
    querystring = property(lambda self: self.ctx.querystring)
    headers = property(lambda self: self.ctx.headers)
    ip = property(lambda self: self.ctx.ip)

    def get(self, name: str) -> str:
        return self.ctx.get(name)

    @property
    def type(self) -> str:
        return self.ctx.get("content-type").split(";", 1)[0].strip()

    @property
    def raw_body(self) -> bytes:
        """The body bytes read by the core body parser (`b""` if it was not read)."""
        return getattr(self.ctx, "_raw_body", b"")

    async def read(self) -> bytes:
        """Read the body now, for methods the body parser skips (GET with a body...)."""
        ctx = self.ctx
        return await read_body(ctx, ctx.app.bodyparser_limit)

    @property
    def body(self) -> Any:
        """Parsed body: JSON value, form dict, text, or `{}` (Koa's bodyparser)."""
        ctx = self.ctx
        parsed = getattr(ctx, "_parsed_body", _UNSET)  # may be None: a JSON `null`
        if parsed is _UNSET:
            parsed = ctx._parsed_body = parse_body(ctx)
        return parsed

    @body.setter
    def body(self, value: Any) -> None:
        self.ctx._parsed_body = value


def _delegate(name: str) -> property:
    def fget(self: Any) -> Any:
        return getattr(self.ctx, name)

    def fset(self: Any, value: Any) -> None:
        setattr(self.ctx, name, value)

    return property(fget, fset)


class Response(_ContextView):
    __slots__ = ()

    status = _delegate("status")
    body = _delegate("body")
    type = _delegate("type")
    message = property(lambda self: self.ctx.message)
    headers = property(lambda self: self.ctx.response_headers)

    def get(self, name: str) -> Any:
        return self.ctx.response_headers.get(name.lower(), "")

    def set(self, name: str | dict[str, Any], value: Any = None) -> None:
        self.ctx.set(name, value)

    def remove(self, name: str) -> None:
        self.ctx.remove(name)

    def redirect(self, url: str, alt: str = "/") -> None:
        self.ctx.redirect(url, alt)
