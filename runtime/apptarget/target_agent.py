"""The agent of an `--app module:attr` cluster: the usual egg Agent (config, plugins,
BASE_DIR/agent.py) plus the `Boot` class of an `agent.py` beside the app module.

For `--app pkg.main:app` that is `pkg/agent.py`, imported as `pkg.agent` (so its relative
imports work); for a top-level `main:app` it is BASE_DIR/agent.py, which the loader runs
anyway. The app module itself is never imported in the agent.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

from runtime.app import cluster
from runtime.process.errors import StartupError, describe_exception


def beside_module(target: str) -> str | None:
    """`pkg.agent` for `pkg.main:app`; None for a top-level module."""
    package = target.partition(":")[0].rpartition(".")[0]
    return f"{package}.agent" if package else None


def create_agent_for(info: Any, options: Any) -> Any:
    from runtime.loader import create_agent

    agent = create_agent(info)
    base = type(agent)

    class AppAgent(base):  # type: ignore[valid-type, misc]
        async def boot(self) -> None:
            cluster.bind(self)
            name = beside_module(options.app)
            if name is not None:
                boot = load_boot(name, options.base_dir)
                if boot is not None:
                    self.boots.append((name, options.base_dir, boot(self)))
            await super().boot()

    AppAgent.__name__ = base.__name__
    agent.__class__ = AppAgent
    return agent


def load_boot(name: str, base_dir: str) -> Any:
    if sys.path[:1] != [base_dir]:
        sys.path.insert(0, base_dir)
    try:
        if importlib.util.find_spec(name) is None:
            return None
        module = importlib.import_module(name)
    except ModuleNotFoundError:
        return None
    except Exception as exc:
        raise StartupError(f"agent {name}: {describe_exception(exc, base_dir)}") from exc
    boot = getattr(module, "Boot", None)
    if boot is not None and not isinstance(boot, type):
        raise StartupError(f"{module.__file__}: Boot must be a class taking the agent")
    return boot
