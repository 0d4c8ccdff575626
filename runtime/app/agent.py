"""`Agent`: the agent process's app object (config, plugins, `agent.py` Boot hooks)."""

from __future__ import annotations

from typing import Any

from runtime.loader import AGENT_LOAD_ORDER
from runtime.loader.core import EggCore


class Agent(EggCore):
    role = "agent"
    load_order = AGENT_LOAD_ORDER

    def __init__(self, info: Any, frameworks: Any = None) -> None:
        super().__init__(info, frameworks)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} env={self.env}>"
