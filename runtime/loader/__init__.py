"""The loader: turns an app directory (plus plugins and frameworks) into a running app.

`create_app`/`create_agent` pick the class (a framework may subclass Application/Agent)
and build the instance; `await app.boot()` then runs one module per loaded kind, in the
explicit orders below. Each `runtime/loader/<kind>.py` exports
`load(ctx: LoadContext)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.app.agent import Agent
    from runtime.app.application import Application

LOAD_ORDER = ("plugin", "config", "extend", "boot", "service", "middleware", "controller", "router")
AGENT_LOAD_ORDER = ("plugin", "config", "extend", "boot")


@dataclass
class BootInfo:
    """What the process runtime knows about the app before loading it."""

    base_dir: str
    env: str | None = None
    framework: str | None = None
    title: str | None = None
    port: int | None = None
    workers: int = 1
    name: str | None = None
    hostname: str | None = None
    https: dict[str, str] | None = None
    require: list[str] = field(default_factory=list)


def _create(info: BootInfo, role: str) -> Any:
    from runtime.loader.units import resolve_frameworks

    frameworks, cls = resolve_frameworks(info, role)
    # A private subclass per instance: extends attach to it, so two apps never share them.
    own = type(cls.__name__, (cls,), {"__module__": cls.__module__, "private_class": True})
    return own(info, frameworks)


def create_app(info: BootInfo) -> Application:
    """The Application (the framework's class if it has one); `await app.boot()` loads it."""
    app: Application = _create(info, "app")
    return app


def create_agent(info: BootInfo) -> Agent:
    """The Agent (the framework's class if it has one); `await agent.boot()` loads it."""
    agent: Agent = _create(info, "agent")
    return agent


__all__ = ["AGENT_LOAD_ORDER", "LOAD_ORDER", "BootInfo", "create_agent", "create_app"]
