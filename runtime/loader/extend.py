"""Extends: public functions and properties of `app/extend/<kind>[.<env>].py` are attached
to the per-app Application, Context, Request, Response, Helper (app workers) or Agent
class. Units apply frameworks -> plugins -> app, so the app overrides a plugin, which
overrides a framework; and, as in egg, every unit's `<kind>.py` is applied before any
unit's `<kind>.<env>.py`, so a plugin's `application.prod.py` overrides the app's
`application.py`.
"""

from __future__ import annotations

import os
import types
from typing import Any

from runtime.loader.files import defined_here
from runtime.loader.load_context import LoadContext
from runtime.process.errors import StartupError

_ATTACHABLE = (property, staticmethod, classmethod)


def targets(ctx: LoadContext) -> dict[str, type]:
    app = ctx.target
    if ctx.role == "agent":
        return {"agent": type(app)}
    ctx_cls = app.context_class
    return {
        "application": type(app),
        "context": ctx_cls,
        "request": ctx_cls.request_class,
        "response": ctx_cls.response_class,
        "helper": ctx_cls.helper_class,
    }


def members(module: types.ModuleType) -> dict[str, Any]:
    """Public functions the module defines, and its properties / static / class methods."""
    out = {}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if (isinstance(value, types.FunctionType) and defined_here(module, value)) or isinstance(
            value, _ATTACHABLE
        ):
            out[name] = value
    return out


def attach(cls: type, values: dict[str, Any], path: str) -> None:
    for name, value in values.items():
        for klass in cls.__mro__:
            current = klass.__dict__.get(name)
            if isinstance(current, types.MemberDescriptorType):
                raise StartupError(f"{path}: cannot extend {name!r}, it is a built-in field")
        setattr(cls, name, value)


def load(ctx: LoadContext) -> None:
    classes = targets(ctx)
    for suffix in ("", f".{ctx.env}"):
        for unit in ctx.units_for_extend():
            for kind, cls in classes.items():
                path = os.path.join(unit.path, "app", "extend", f"{kind}{suffix}.py")
                if os.path.isfile(path):
                    attach(cls, members(ctx.module(unit, path)), path)
