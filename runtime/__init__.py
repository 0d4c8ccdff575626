"""The eggscripts runtime: master, workers, loader and the HTTP app layer.

Exports are lazy (PEP 562) so that `import runtime` stays cheap for the master, which
must never pay for the loader or the HTTP layer it does not use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing is not free
if TYPE_CHECKING:
    from runtime.agent import Agent
    from runtime.application import Application
    from runtime.base import Controller, Service
    from runtime.http.context import Context

__all__ = ["Agent", "Application", "Context", "Controller", "Service"]

_LAZY = {
    "Controller": "runtime.base",
    "Service": "runtime.base",
    "Application": "runtime.application",
    "Agent": "runtime.agent",
    "Context": "runtime.http.context",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
