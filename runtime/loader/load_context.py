"""`LoadContext`: what every loader step reads and writes, computed once up front."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from runtime.loader.files import load_module, module_name
from runtime.loader.units import AppInfo, LoadUnit


@dataclass
class LoadContext:
    """Shared state of one boot. `units` is set by the plugin step (plugins -> frameworks
    -> app); no step runs before it, so nothing ever sees a partial unit list."""

    target: Any  # the Application or Agent being loaded
    role: str  # "app" | "agent"
    info: AppInfo
    frameworks: list[LoadUnit]
    app_unit: LoadUnit
    units: list[LoadUnit] = field(default_factory=list)
    timing: list[tuple[str, float]] = field(default_factory=list)

    @property
    def env(self) -> str:
        return self.info.env

    @property
    def logger(self) -> logging.Logger:
        logger: logging.Logger = self.target.logger
        return logger

    def units_for_extend(self) -> list[LoadUnit]:
        """Extend precedence is app > plugin > framework, so frameworks are applied first."""
        fw = [u for u in self.units if u.kind == "framework"]
        plugins = [u for u in self.units if u.kind == "plugin"]
        return fw + plugins + [self.app_unit]

    def module(self, unit: LoadUnit, path: str) -> Any:
        return load_module(path, module_name(unit.key, path, unit.path))

    def timed(self, name: str) -> _Timer:
        return _Timer(self, name)


class _Timer:
    def __init__(self, ctx: LoadContext, name: str) -> None:
        self.ctx, self.name = ctx, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        ms = (time.perf_counter() - self.start) * 1000
        self.ctx.timing.append((self.name, ms))
        self.ctx.logger.debug("[%s] %s took %.1fms", self.ctx.role, self.name, ms)
