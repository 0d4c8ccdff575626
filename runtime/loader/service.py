"""Services: `app/service/**/*.py` of every unit, one `Service` subclass per module.

`ctx.service.user` is created on first access and cached for the rest of the request;
nested directories become nested namespaces (`ctx.service.admin.audit_log`).
"""

from __future__ import annotations

import os
from typing import Any

from runtime.app.base_classes import Service
from runtime.loader.files import defined_here, iter_python_files
from runtime.loader.load_context import LoadContext
from runtime.process.errors import StartupError


class ServiceNamespace:
    """Per-request view of one directory of services; caches what it creates."""

    def __init__(self, ctx: Any, tree: dict[str, Any]) -> None:
        self._ctx = ctx
        self._tree = tree

    def __getattr__(self, name: str) -> Any:
        entry = self._tree.get(name)
        if entry is None:
            raise AttributeError(f"no service {name!r} (looked in app/service/ of every unit)")
        value = ServiceNamespace(self._ctx, entry) if isinstance(entry, dict) else entry(self._ctx)
        self.__dict__[name] = value
        return value

    def __dir__(self) -> list[str]:
        return sorted(self._tree)


def only_subclass(module: Any, base: type, path: str) -> type | None:
    """The one subclass of `base` the module defines; two is an error, none is None."""
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, base) and v is not base and defined_here(module, v)
    ]
    if len(found) > 1:
        names = ", ".join(c.__name__ for c in found)
        raise StartupError(
            f"{path}: defines {len(found)} {base.__name__} subclasses ({names}); one per module"
        )
    return found[0] if found else None


def name_class(cls: type, kind: str, parts: tuple[str, ...], path: str) -> None:
    """egg's `pathName` (`service.admin.audit_log`) and `fullPath` (the file), on the class
    so every per-request instance has them."""
    cls.path_name = ".".join((kind, *parts))  # type: ignore[attr-defined]
    cls.full_path = path  # type: ignore[attr-defined]


def load(ctx: LoadContext) -> None:
    tree: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for unit in ctx.units:
        for parts, path in iter_python_files(os.path.join(unit.path, "app", "service")):
            if parts in origin:
                raise StartupError(
                    f"service {'.'.join(parts)!r} is defined twice: {origin[parts]} and {path}"
                )
            cls = only_subclass(ctx.module(unit, path), Service, path)
            if cls is None:
                raise StartupError(f"{path}: defines no Service subclass")
            name_class(cls, "service", parts, path)
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise StartupError(f"{path}: {part!r} is both a service and a directory")
            if isinstance(node.get(parts[-1]), dict):
                raise StartupError(f"{path}: {parts[-1]!r} is both a service and a directory")
            node[parts[-1]] = cls
            origin[parts] = path
    ctx.target.services = tree
