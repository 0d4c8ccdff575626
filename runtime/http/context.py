"""The per-request `ctx`: Koa's context with request and response fields folded in.

Speed matters more than anything else here: a Context is built for every request, so its
constructor sets only what the response path reads, and everything else (query, headers,
params, state, service, helper, logger, request/response views) is computed on first access
and cached in the instance `__dict__`. Those caches are read with `getattr(ctx, name,
None)`, not `try: ... except AttributeError`: the first access of each would otherwise
raise and catch an exception (about 4,500 instructions, against 340 more per later hit).
Extends (`app/extend/context.py`) attach to a per-app subclass.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs

from runtime.http.errors import HttpError, reason
from runtime.http.types import HTTPScope, Receive

if TYPE_CHECKING:
    from runtime.app.application import Application

_EMPTY_STATUS = frozenset((204, 205, 304))


class _NullBody:
    """`ctx.body = None` was said explicitly: an empty response, not Koa's default body."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_BODY"


NULL_BODY = _NullBody()
_TYPE_ALIASES = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "xml": "application/xml",
    "bin": "application/octet-stream",
    "form": "application/x-www-form-urlencoded",
}


def mime_of(value: str) -> str:
    """Expand Koa-style short types (`json`, `html`, `.png`) into a content type."""
    alias = _TYPE_ALIASES.get(value.lstrip("."))
    if alias:
        return alias
    if "/" not in value:
        import mimetypes

        guessed = mimetypes.guess_type("x." + value.lstrip("."))[0]
        value = guessed or "application/octet-stream"
    if value.startswith("text/") and "charset" not in value:
        value += "; charset=utf-8"
    return value


class Context:
    """`ctx` handed to middleware, controllers and services."""

    # Only what every request touches is a slot; lazily computed fields (`_query`,
    # `_state`, `_service`...) live in the instance `__dict__`, which is only created when a
    # request uses one. Fewer slots make creating and freeing a Context measurably cheaper.
    __slots__ = (
        "__dict__",
        "_body",
        "_explicit",
        "_headers",
        "_receive",
        "_status",
        "_type",
        "app",
        "scope",
    )

    _body: Any
    _explicit: bool
    _headers: dict[str, Any] | None
    _receive: Receive
    _status: int
    _type: str | None
    # Computed on first use, kept in `__dict__`.
    _query: dict[str, str]
    _req_headers: dict[str, str]
    _params: dict[str, Any]
    _request: Any
    _response: Any
    _state: dict[str, Any]
    _service: Any
    _helper: Any
    _logger: logging.LoggerAdapter[logging.Logger]
    _raw_body: bytes  # set by the body parser (runtime/http/bodyparser.py)
    _parsed_body: Any

    # Set per app by the loader (per-app subclasses keep extends of two apps apart).
    request_class: Any = None
    response_class: Any = None
    helper_class: Any = None
    service_root: Any = None

    def __init__(self, app: Application, scope: HTTPScope, receive: Receive) -> None:
        self.app = app
        self.scope = scope
        self._receive = receive
        self._status = 404
        self._explicit = False
        self._body = None
        self._type = None
        self._headers = None

    # ---- request side -------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    @property
    def querystring(self) -> str:
        return self.scope["query_string"].decode("latin-1")

    @property
    def url(self) -> str:
        """Path plus query string, as the client sent it (Koa's `ctx.url`)."""
        qs = self.scope["query_string"]
        return self.scope["path"] + ("?" + qs.decode("latin-1") if qs else "")

    @property
    def host(self) -> str:
        return self.get("host")

    @property
    def protocol(self) -> str:
        return self.scope.get("scheme", "http")

    @property
    def origin(self) -> str:
        return f"{self.protocol}://{self.host}"

    @property
    def href(self) -> str:
        return self.origin + self.url

    @property
    def query(self) -> dict[str, str]:
        """First value of each query parameter (use `queries` for every value)."""
        query: dict[str, str] | None = getattr(self, "_query", None)
        if query is None:
            query = self._query = {k: v[0] for k, v in self.queries.items()}
        return query

    @property
    def queries(self) -> dict[str, list[str]]:
        return parse_qs(self.querystring, keep_blank_values=True)

    @property
    def headers(self) -> dict[str, str]:
        """Request headers, lower-case names; repeated headers joined with `, `."""
        hdrs: dict[str, str] | None = getattr(self, "_req_headers", None)
        if hdrs is None:
            hdrs = {}
            for name, value in self.scope["headers"]:
                key = name.decode("latin-1").lower()
                val = value.decode("latin-1")
                hdrs[key] = f"{hdrs[key]}, {val}" if key in hdrs else val
            self._req_headers = hdrs
        return hdrs

    def get(self, name: str) -> str:
        """A request header, case-insensitive, `""` when absent (Koa)."""
        return self.headers.get(name.lower(), "")

    @property
    def ip(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else ""

    @property
    def params(self) -> dict[str, str]:
        params: dict[str, str] | None = getattr(self, "_params", None)
        if params is None:
            params = self._params = {}
        return params

    @params.setter
    def params(self, value: dict[str, str]) -> None:
        self._params = value

    @property
    def request(self) -> Any:
        value = getattr(self, "_request", None)
        if value is None:
            value = self._request = self.request_class(self)
        return value

    @property
    def response(self) -> Any:
        value = getattr(self, "_response", None)
        if value is None:
            value = self._response = self.response_class(self)
        return value

    # ---- response side ------------------------------------------------------------------
    @property
    def status(self) -> int:
        return self._status

    @status.setter
    def status(self, code: int) -> None:
        if not isinstance(code, int) or not 100 <= code <= 999:
            raise ValueError(f"invalid status code: {code!r}")
        self._status = code
        self._explicit = True
        if code in _EMPTY_STATUS:
            self._body = NULL_BODY

    @property
    def message(self) -> str:
        return reason(self._status)

    @property
    def body(self) -> Any:
        body = self._body
        return None if body is NULL_BODY else body

    @body.setter
    def body(self, value: Any) -> None:
        if value is None:
            self._body = NULL_BODY
            if self._status not in _EMPTY_STATUS:
                self._status = 204
            return
        self._body = value
        if not self._explicit:
            self._status = 200

    @property
    def type(self) -> str:
        """Response content type without parameters, `""` when not set."""
        return (self._type or "").split(";", 1)[0]

    @type.setter
    def type(self, value: str | None) -> None:
        self._type = mime_of(value) if value else None

    def set(self, name: str | dict[str, Any], value: Any = None) -> None:
        """Set one response header, or several from a dict; a list value repeats it."""
        if name.__class__ is str and value.__class__ is str:  # the usual case, no tests below
            key = name.lower()
            if key != "content-type":
                if self._headers is None:
                    self._headers = {key: value}
                else:
                    self._headers[key] = value
                return
        if isinstance(name, dict):
            for key, val in name.items():
                self.set(key, val)
            return
        key = name.lower()
        if key == "content-type":
            self._type = str(value)
            return
        if self._headers is None:
            self._headers = {}
        self._headers[key] = [str(v) for v in value] if isinstance(value, list) else str(value)

    def remove(self, name: str) -> None:
        key = name.lower()
        if key == "content-type":
            self._type = None
        elif self._headers:
            self._headers.pop(key, None)

    @property
    def response_headers(self) -> dict[str, Any]:
        hdrs = dict(self._headers or {})
        if self._type:
            hdrs["content-type"] = self._type
        return hdrs

    def redirect(self, url: str, alt: str = "/") -> None:
        """302 (or the 3xx already set) to `url`; `"back"` goes to the Referer or `alt`."""
        if url == "back":
            url = self.get("referer") or alt
        self.set("location", url)
        if not (self._explicit and 300 <= self._status < 400):
            self._status = 302
            self._explicit = True
        self._type = "text/plain; charset=utf-8"
        self.body = f"Redirecting to {url}."

    def throw(self, status: int = 500, message: str | None = None, **headers: str) -> NoReturn:
        raise HttpError(status, message, **headers)

    # ---- app side -----------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] | None = getattr(self, "_state", None)
        if state is None:
            state = self._state = {}
        return state

    @property
    def config(self) -> dict[str, Any]:
        return self.app.config

    @property
    def service(self) -> Any:
        value = getattr(self, "_service", None)
        if value is None:
            value = self._service = self.service_root(self)
        return value

    @property
    def helper(self) -> Any:
        value = getattr(self, "_helper", None)
        if value is None:
            value = self._helper = self.helper_class(self)
        return value

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """The app logger with `[ip method path]` prepended, like egg's context logger."""
        logger: logging.LoggerAdapter[logging.Logger] | None = getattr(self, "_logger", None)
        if logger is None:
            logger = self._logger = _ContextLogger(self.app.logger, self)
        return logger

    def __repr__(self) -> str:
        return f"<Context {self.method} {self.url} {self._status}>"


if TYPE_CHECKING:  # generic from Python 3.11 on; 3.10 cannot subscript it at run time
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:
    _LoggerAdapter = logging.LoggerAdapter


class _ContextLogger(_LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        ctx: Any = self.extra
        return f"[{ctx.ip} {ctx.method} {ctx.url}] {msg}", kwargs

    def __init__(self, logger: logging.Logger, ctx: Context) -> None:
        super().__init__(logger, ctx)  # type: ignore[arg-type]
