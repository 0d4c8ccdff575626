"""`app.router`: Koa-router's API with a dict lookup for static routes.

Static paths (no `:param`, no `*`) resolve with one dict lookup on `(method, path)`; only
paths that miss it are matched against the compiled patterns, in registration order.
Route middleware is composed with its handler at registration, never per request.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast
from urllib.parse import quote, urlencode

from runtime.http.compose import Handler, compose

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)(\?)?|\*")
_OPTIONAL = "(?:/(?P<"  # how compile_path starts an optional parameter's group
_URL_PARAM = re.compile(r"(/?):([A-Za-z_][A-Za-z0-9_]*)(\?)?|\*")
# action -> (method(s), suffix, name template); egg-router's resources table.
RESOURCES = (
    ("index", ("GET",), "", "{name}"),
    ("new", ("GET",), "/new", "new_{single}"),
    ("create", ("POST",), "", "{name}"),
    ("show", ("GET",), "/:id", "{single}"),
    ("edit", ("GET",), "/:id/edit", "edit_{single}"),
    ("update", ("PUT", "PATCH"), "/:id", "{single}"),
    ("destroy", ("DELETE",), "/:id", "{single}"),
)


RoutePath = str | re.Pattern[str] | list[str | re.Pattern[str]] | tuple[str | re.Pattern[str], ...]


@dataclass
class Route:
    methods: tuple[str, ...]
    path: str | re.Pattern[str]
    handler: Handler
    name: str | None = None
    pattern: re.Pattern[str] | None = None


def as_async(fn: Callable[..., Any]) -> Handler:
    """`fn` if it is `async def`, else an async wrapper (awaiting an awaitable result)."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - instances with an async __call__
    ):
        return fn

    @wraps(fn)
    async def call(ctx: Any) -> Any:
        result = fn(ctx)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call


def compile_path(path: str) -> re.Pattern[str] | None:
    """`/users/:id` -> regex with named groups; None for a static path."""
    if not _PARAM.search(path):
        return None
    out, pos, star = [], 0, 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[pos : m.start()]))
        if m.group(0) == "*":
            out.append(f"(?P<_{star}>.*)")
            star += 1
        elif m.group(2):
            if out and out[-1].endswith("/"):
                out[-1] = out[-1][:-1]
            out.append(f"{_OPTIONAL}{m.group(1)}>[^/]+))?")
        else:
            out.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    return re.compile("^" + "".join(out).rstrip("/") + "/?$")


def _plain(text: str) -> bool:
    """ASCII letters and digits only: what `quote` and `quote_plus` leave as they are."""
    return text.isascii() and text.isalnum()


def _quote(value: str) -> str:
    """`quote(value, safe="")`, without its Python calls for a plain value (an id, a slug)."""
    return value if _plain(value) else quote(value, safe="")


def _query_string(params: dict[str, Any]) -> str:
    """`urlencode(params, doseq=True)`, joined directly when every key and value is a plain
    `str` (a link's usual `page=2`-like query)."""
    for key, value in params.items():
        if not (key.__class__ is str and value.__class__ is str and _plain(key) and _plain(value)):
            return urlencode(params, doseq=True)
    return "&".join([f"{key}={value}" for key, value in params.items()])


async def _not_found() -> None:
    """No route: the Context keeps its 404."""


class Router:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.routes: list[Route] = []
        self._static: dict[tuple[str, str], Handler] = {}
        self._implicit_head: set[str] = set()
        # method -> [(pattern, handler, exact)]; `exact`: every group always takes part in
        # a match (no optional parameter), so `groupdict()` has no None to filter out.
        self._dynamic: dict[str, list[tuple[re.Pattern[str], Handler, bool]]] = {
            m: [] for m in METHODS
        }
        self._named: dict[str, Route] = {}
        from runtime.http.mount import Mounts
        from runtime.http.websocket import SocketRoutes

        self.mounts = Mounts()
        self.sockets = SocketRoutes()

    # ---- registration -------------------------------------------------------------------
    def _resolve(self, handler: str | Callable[..., Any]) -> Callable[..., Any]:
        if isinstance(handler, str):
            target: Any = self.app.controller
            for part in handler.split("."):
                target = getattr(target, part, None)
                if target is None:
                    raise ValueError(f"router: no controller {handler!r}")
            handler = target
        if not callable(handler):
            raise TypeError(f"router: handler must be callable, got {handler!r}")
        return cast(Handler, handler)

    def register(
        self, methods: tuple[str, ...], path: RoutePath, *args: Any, name: str | None = None
    ) -> Route:
        """One route; `path` may be a list of paths sharing the handler and middleware
        (koa-router's `router.get(['/a', '/b'], ...)`). Returns the (first) route; a name
        refers to the first path."""
        if not args:
            raise TypeError(f"router: route {path!r} has no handler")
        *middleware, handler = args
        endpoint = as_async(self._resolve(handler))
        if middleware:
            layers = [(self._resolve(m), None, True) for m in middleware]
            endpoint = compose(layers, endpoint)
        paths = list(path) if isinstance(path, (list, tuple)) else [path]
        if not paths:
            raise TypeError("router: an empty list of paths")
        routes = []
        for one in paths:
            pattern = one if isinstance(one, re.Pattern) else compile_path(one)
            route = Route(tuple(methods), one, endpoint, name, pattern)
            for method in methods:
                self._add(method, route)
            self.routes.append(route)
            routes.append(route)
        if name:
            self._named[name] = routes[0]
        return routes[0]

    def _add(self, method: str, route: Route) -> None:
        if route.pattern is None:
            assert isinstance(route.path, str)  # a static route: no pattern, a plain path
            key = (method, route.path)
            if key not in self._static or (method == "HEAD" and route.path in self._implicit_head):
                self._static[key] = route.handler
                if method == "HEAD":
                    self._implicit_head.discard(route.path)
            if method == "GET" and ("HEAD", route.path) not in self._static:
                self._static[("HEAD", route.path)] = route.handler
                self._implicit_head.add(route.path)
        else:
            exact = isinstance(route.path, str) and _OPTIONAL not in route.pattern.pattern
            self._dynamic[method].append((route.pattern, route.handler, exact))
            if method == "GET":
                self._dynamic["HEAD"].append((route.pattern, route.handler, exact))

    def get(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(("GET",), path, *args, name=name)

    def post(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(("POST",), path, *args, name=name)

    def put(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(("PUT",), path, *args, name=name)

    def patch(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(("PATCH",), path, *args, name=name)

    def delete(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(("DELETE",), path, *args, name=name)

    def head(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(("HEAD",), path, *args, name=name)

    def options(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(("OPTIONS",), path, *args, name=name)

    def all(self, path: RoutePath, *args: Any, name: str | None = None) -> Route:
        return self.register(METHODS, path, *args, name=name)

    def mount(self, prefix: str, app: Any) -> None:
        """Serve the ASGI app `app` under `prefix` (runtime/http/mount.py)."""
        self.mounts.add(prefix, app)

    def websocket(self, path: str, handler: Any) -> None:
        """`async def handler(ws)` serves WebSockets to `path` (runtime/http/websocket.py)."""
        self.sockets.add(path, as_async(self._resolve(handler)))

    def resources(self, *args: Any) -> list[Route]:
        """`resources([name,] prefix, *middleware, controller)`: egg's RESTful mapping."""
        if len(args) >= 3 and isinstance(args[1], str) and args[1].startswith("/"):
            name, prefix, *rest = args
        else:
            name, (prefix, *rest) = None, args
        *middleware, controller = rest
        if isinstance(controller, str):
            controller = (
                self._resolve(controller)
                if "." in controller
                else getattr(self.app.controller, controller)
            )
        prefix = prefix.rstrip("/")
        single = name[:-1] if name and name.endswith("s") else name
        routes = []
        for action, methods, suffix, template in RESOURCES:
            handler = getattr(controller, action, None)
            if handler is None:
                continue
            route_name = template.format(name=name, single=single) if name else None
            if route_name in self._named:
                route_name = None  # update/destroy share show's URL and name
            routes.append(
                self.register(
                    methods, prefix + suffix or "/", *middleware, handler, name=route_name
                )
            )
        return routes

    def redirect(self, source: str, destination: str, status: int = 301) -> Route:
        """Answer every method on `source` with a redirect to `destination` (egg's
        `app.router.redirect`). Either may be a route name instead of a path."""
        if not source.startswith("/"):
            source = self.url(self._known(source))
        if not destination.startswith("/") and "://" not in destination:
            destination = self.url(self._known(destination))

        async def redirect(ctx: Any) -> None:
            ctx.redirect(destination)
            ctx.status = status

        return self.all(source, redirect)

    # ---- lookup -------------------------------------------------------------------------
    def _known(self, name: str) -> str:
        """`name` when a route has it: a redirect to a typo fails at registration."""
        if name not in self._named:
            raise KeyError(f"router: no route named {name!r}")
        return name

    def url(self, name: str, /, **params: Any) -> str:
        """Path of a named route; params not used by the path become the query string.
        A list value repeats in the query (`tags=a&tags=b`); in a path parameter its first
        item is used, as in egg.

        As egg's `router.url`, it never fails a page over a link: an unknown name gives
        "", and a required parameter that is missing stays in the path as its pattern
        (`/posts/:id/edit`); a missing optional one is left out. Only a regex route raises
        (ValueError, egg asserts too): it has no path to give, whatever the parameters."""
        route = self._named.get(name)
        if route is None:
            return ""
        if isinstance(route.path, re.Pattern):
            raise ValueError(f"router: route {name!r} is a regex and has no URL")
        used: set[str] = set()

        def fill(m: re.Match[str]) -> str:
            slash, key, optional = m.groups()
            if key is None:  # `*` has no name to fill it from
                return ""
            value = params.get(key)
            if isinstance(value, (list, tuple)):
                value = value[0] if value else None
            if key in params:
                used.add(key)
            if value is None:
                return "" if optional else m.group(0)

            return slash + _quote(str(value))

        if route.pattern is None:  # a static path: nothing to fill
            if not params:
                return route.path
            path = route.path
        else:
            path = _URL_PARAM.sub(fill, route.path)
        rest = {k: v for k, v in params.items() if k not in used}
        return path + ("?" + _query_string(rest) if rest else "")

    def static_routes(self) -> dict[tuple[str, str], Handler]:
        return dict(self._static)

    def endpoint(self) -> Handler:
        """The innermost handler of the app's onion: route the request or leave the 404.

        A plain function returning the handler's awaitable, like the onion's layers
        (runtime/http/compose.py): a routed request then pays for its handler's coroutine
        only, not for two more of the router's own."""
        static_get = self._static.get
        dynamic = self._dynamic

        def dispatch(ctx: Any) -> Awaitable[Any]:
            scope = ctx.scope
            method = scope["method"]
            path = scope["path"]
            handler = static_get((method, path))
            if handler is not None:
                return handler(ctx)
            if len(path) > 1 and path.endswith("/"):
                handler = static_get((method, path.rstrip("/")))
                if handler is not None:
                    return handler(ctx)
            for pattern, handler, exact in dynamic.get(method, ()):
                m = pattern.match(path)
                if m is not None:
                    params = m.groupdict()
                    ctx._params = (
                        params if exact else {k: v for k, v in params.items() if v is not None}
                    )
                    return handler(ctx)
            return _not_found()

        return dispatch
