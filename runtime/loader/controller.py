"""Controllers: `app/controller/**/*.py` of the app only (not plugins or frameworks).

A module either defines public `async def handler(ctx)` functions, or exactly one
`Controller` subclass whose public methods become handlers that instantiate the class per
request (`self.ctx`, `self.service`...). `app.controller.admin.users.index` nests like the
directories.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from runtime.base import Controller
from runtime.errors import StartupError
from runtime.loader.context import LoadContext
from runtime.loader.files import defined_here, iter_python_files
from runtime.loader.service import name_class, only_subclass


class Namespace:
    """`app.controller` and its sub-directories/modules: plain attribute bags."""

    def __init__(self, where: str) -> None:
        self._where = where

    def __repr__(self) -> str:
        names = ", ".join(k for k in vars(self) if not k.startswith("_"))
        return f"<controller {self._where}: {names}>"


def _method_handler(cls: type, name: str) -> Any:
    method = getattr(cls, name)

    async def handler(ctx: Any) -> Any:
        result = method(cls(ctx))
        if inspect.isawaitable(result):
            result = await result
        return result

    handler.__name__ = name
    handler.__qualname__ = f"{cls.__qualname__}.{name}"
    return handler


def _handlers(module: Any, path: str, parts: tuple[str, ...]) -> dict[str, Any]:
    cls = only_subclass(module, Controller, path)
    if cls is not None:
        name_class(cls, "controller", parts, path)
        base_names = set(dir(Controller))
        return {
            name: _method_handler(cls, name)
            for name in dir(cls)
            if not name.startswith("_")
            and name not in base_names
            and inspect.isfunction(getattr(cls, name))
        }
    return {
        name: fn
        for name, fn in vars(module).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(fn) and defined_here(module, fn)
    }


def load(ctx: LoadContext) -> None:
    unit = ctx.app_unit
    root = ctx.target.controller
    for parts, path in iter_python_files(os.path.join(unit.path, "app", "controller")):
        node = root
        for part in parts[:-1]:
            child = getattr(node, part, None)
            if child is None:
                child = Namespace(f"{node._where}.{part}")
                setattr(node, part, child)
            elif not isinstance(child, Namespace):
                raise StartupError(f"{path}: {part!r} is both a controller and a directory")
            node = child
        leaf = getattr(node, parts[-1], None)
        if leaf is None:
            leaf = Namespace(f"{node._where}.{parts[-1]}")
            setattr(node, parts[-1], leaf)
        for name, handler in _handlers(ctx.module(unit, path), path, parts).items():
            setattr(leaf, name, handler)
