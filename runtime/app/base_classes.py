"""Base classes for app code: `Controller` and `Service` (`from runtime import ...`).

Both are instantiated per request with the Context, like egg's BaseContextClass, so they
can keep per-request state on `self` without leaking it between requests.
"""

from __future__ import annotations

from typing import Any


class BaseContextClass:
    """Gives `ctx`, `app`, `config`, `service` and `logger` to per-request objects.

    `path_name` (`"controller.admin.users"`) and `full_path` (the module's file) are set
    on the class by the loader, like egg's `pathName` and `fullPath`."""

    path_name: str = ""
    full_path: str = ""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.app = ctx.app
        self.config = ctx.app.config
        self.service = ctx.service

    @property
    def logger(self) -> Any:
        return self.ctx.logger


class Controller(BaseContextClass):
    """One subclass per `app/controller/<name>.py`; public `async def x(self)` are handlers."""


class Service(BaseContextClass):
    """One subclass per `app/service/<name>.py`; reached as `ctx.service.<name>`."""
