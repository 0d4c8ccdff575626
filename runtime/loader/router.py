"""Router: `app/router.py` of the app defines `def router(app)` (sync or async)."""

from __future__ import annotations

import inspect
import os

from runtime.loader.files import fail
from runtime.loader.load_context import LoadContext
from runtime.process.errors import StartupError


async def load(ctx: LoadContext) -> None:
    unit = ctx.app_unit
    path = os.path.join(unit.path, "app", "router.py")
    if not os.path.isfile(path):
        return
    define = getattr(ctx.module(unit, path), "router", None)
    if not callable(define):
        raise StartupError(f"{path}: defines no `def router(app)`")
    try:
        result = define(ctx.target)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        raise fail(path, exc, root=unit.path) from exc
