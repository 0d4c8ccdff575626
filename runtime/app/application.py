"""`Application`: the app worker's app, an ASGI 3 callable once booted.

Frameworks subclass it (and the loader subclasses that again per instance), so class-level
state is never shared between two apps: the Context, Request, Response and Helper classes
are per-instance subclasses that extends attach to.
"""

from __future__ import annotations

from typing import Any

from runtime.http.asgi import AsgiApp
from runtime.http.compose import compose, layers_for_path, routed
from runtime.http.context import Context
from runtime.http.helper import Helper
from runtime.http.request import Request, Response
from runtime.http.router import Router
from runtime.loader import LOAD_ORDER
from runtime.loader.controller import Namespace
from runtime.loader.core import EggCore
from runtime.loader.service import ServiceNamespace


def _subclass(base: type, **attrs: Any) -> type:
    return type(base.__name__, (base,), {"__slots__": (), "__module__": base.__module__, **attrs})


class Application(AsgiApp, EggCore):
    role = "app"
    load_order = LOAD_ORDER

    def __init__(self, info: Any, frameworks: Any = None) -> None:
        super().__init__(info, frameworks)
        self.router = Router(self)
        self.controller = Namespace("app.controller")
        self.middleware: list[tuple[str, Any]] = []
        self.services: dict[str, Any] = {}
        self.context_class = _subclass(
            Context,
            request_class=_subclass(Request),
            response_class=_subclass(Response),
            helper_class=_subclass(Helper),
            service_root=staticmethod(lambda ctx: ServiceNamespace(ctx, self.services)),
        )
        self.middleware_layers: list[Any] = []
        self.handler = self.router.endpoint()
        self.fast_routes: dict[str, dict[str, Any]] = {}
        self.install_asgi()

    async def boot(self) -> None:
        await super().boot()
        self.refresh_fast_routes()
        await self.router.mounts.startup(self.base_dir)  # mounted ASGI apps' lifespans

    async def close(self) -> None:
        await super().close()
        await self.router.mounts.shutdown(5.0)

    def redirect(self, source: str, destination: str, status: int = 301) -> Any:
        """egg's `app.redirect(path, target, status)`: `app.router.redirect`."""
        return self.router.redirect(source, destination, status)

    def refresh_fast_routes(self) -> None:
        """Recompute `fast_routes` after routes or middleware changed (done after boot).

        Every static route gets its own onion, composed now from the layers that apply to
        its path: a request then runs exactly those middleware and its handler, with no
        per-request `match` tests on the path and no router lookup."""
        dispatch = self.router.endpoint()
        fast: dict[str, dict[str, Any]] = {}
        for (method, path), handler in self.router.static_routes().items():
            layers = layers_for_path(self.middleware_layers, path)
            if layers:
                handler = compose(layers, routed(handler, dispatch, method, path))
            fast.setdefault(path, {})[method] = handler
        self.fast_routes = fast
        self.install_asgi()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} env={self.env}>"
