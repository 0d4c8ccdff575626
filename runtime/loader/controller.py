"""Controllers: `app/controller/**/*.py` of the app only (not plugins or frameworks).

A module either defines public `async def handler(ctx)` functions (plain `def`s are its
helpers), or exactly one `Controller` subclass whose public methods become handlers that
instantiate the class per request (`self.ctx`, `self.service`...).
`app.controller.admin.users.index` nests like the directories. A public dict or
`SimpleNamespace` of the module is egg's "controller is object" form: every function in it
(async or not) is a handler and nested objects nest (`app.controller.home.sub.index`);
values that are not functions are not loaded.
"""

from __future__ import annotations

import inspect
import os
from types import SimpleNamespace
from typing import Any

from runtime.app.base_classes import Controller
from runtime.loader.files import defined_here, iter_python_files
from runtime.loader.load_context import LoadContext
from runtime.loader.service import name_class, only_subclass
from runtime.process.errors import StartupError


class Namespace:
    """`app.controller` and its sub-directories/modules: plain attribute bags."""

    def __init__(self, where: str) -> None:
        self._where = where

    def __repr__(self) -> str:
        return f"<controller {self._where}: {', '.join(self._names())}>"

    def __getattr__(self, name: str) -> Any:
        """Only called for a missing name: say what the namespace does have."""
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self._where} has no {name!r} (it has: {', '.join(self._names()) or 'nothing'})"
        )

    def _names(self) -> list[str]:
        return [k for k in vars(self) if not k.startswith("_")]


def _method_handler(cls: type, name: str) -> Any:
    method = getattr(cls, name)
    if inspect.iscoroutinefunction(method):  # the usual case: no awaitable test per request

        async def handler(ctx: Any) -> Any:
            return await method(cls(ctx))

    else:

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
    found: dict[str, Any] = {}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.iscoroutinefunction(value) and defined_here(module, value):
            found[name] = value
        elif isinstance(value, (dict, SimpleNamespace)) and (inner := _object_handlers(value)):
            found[name] = inner
    return found


def _object_handlers(value: dict[str, Any] | SimpleNamespace) -> dict[str, Any]:
    """egg's "controller is object": the functions of a dict or SimpleNamespace, nested
    objects as nested dicts; anything else in it is not loaded."""
    items = value.items() if isinstance(value, dict) else vars(value).items()
    found: dict[str, Any] = {}
    for name, item in items:
        if not isinstance(name, str) or name.startswith("_"):
            continue
        if inspect.isfunction(item):
            found[name] = item
        elif isinstance(item, (dict, SimpleNamespace)) and (inner := _object_handlers(item)):
            found[name] = inner
    return found


def _attach(node: Namespace, handlers: dict[str, Any]) -> None:
    for name, handler in handlers.items():
        if isinstance(handler, dict):
            child = Namespace(f"{node._where}.{name}")
            _attach(child, handler)
            handler = child
        setattr(node, name, handler)


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
        _attach(leaf, _handlers(ctx.module(unit, path), path, parts))
