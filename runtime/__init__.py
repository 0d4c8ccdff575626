"""The eggscripts runtime: master, workers, loader and the HTTP app layer.

Exports are lazy (PEP 562) so that `import runtime` stays cheap for the master, which
must never pay for the loader or the HTTP layer it does not use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing is not free
if TYPE_CHECKING:
    from runtime.app import cluster
    from runtime.app.agent import Agent
    from runtime.app.application import Application
    from runtime.app.base_classes import Controller, Service
    from runtime.http.context import Context

__all__ = ["Agent", "Application", "Context", "Controller", "Service", "cluster"]

_LAZY = {
    "Controller": "runtime.app.base_classes",
    "Service": "runtime.app.base_classes",
    "Application": "runtime.app.application",
    "Agent": "runtime.app.agent",
    "Context": "runtime.http.context",
}
# Modules of the app API, exported under their own name (`from runtime import cluster`).
_MODULES = {"cluster": "runtime.app.cluster"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name) or _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    from importlib import import_module

    imported = import_module(module)
    value = imported if name in _MODULES else getattr(imported, name)
    globals()[name] = value
    return value
