"""`start`'s options resolved once, with every computed default filled in one place.

`options.resolve()` applies the precedence (command line > environment > pyproject >
default) to the option registry; this module then computes what depends on the app or
the machine (title, workers, env, framework, the per-title daemon logs) and freezes the
result. `start`, `systemd` and `check` read the same `StartOptions`, so a default is
written once: the default title (`egg-server-<app name>`), the worker count (the CPUs
this process may use). The default port is the contract's (`DEFAULT_PORT`,
runtime/contract/option_defs.py), used when the app config's `cluster.listen.port` does
not say either.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import click
from click.core import ParameterSource

from eggscripts.options import app_settings, app_target
from eggscripts.options import registry as options
from eggscripts.options.option_spec import OptionSpec
from runtime.contract import capacity


@dataclasses.dataclass(frozen=True)
class StartOptions(Mapping[str, Any]):
    """Typed access to the computed values, read-only mapping access to every option of
    the registry (keyed by `OptionSpec.name`), so `launch.make_plan` reads both alike."""

    base_dir: str
    app: app_settings.AppInfo
    title: str
    workers: int
    env: str
    framework: str | None
    stdout: str
    stderr: str
    given: Mapping[str, Any]  # every option of the registry, after precedence

    @property
    def port(self) -> int | None:
        """The port asked for; None lets the app config decide, else the default port."""
        port = self.given.get("port")
        return int(port) if port is not None else None

    @property
    def daemon(self) -> bool:
        return bool(self.given.get("daemon"))

    def __getitem__(self, name: str) -> Any:
        if name in _COMPUTED:
            return getattr(self, name)
        return self.given[name]

    def __iter__(self) -> Iterator[str]:
        return iter({*self.given, *_COMPUTED})

    def __len__(self) -> int:
        return len({*self.given, *_COMPUTED})


_COMPUTED = frozenset(("title", "workers", "env", "framework", "stdout", "stderr"))


def resolve_start(
    ctx: click.Context,
    base_dir: str,
    short_target: str | None = None,
    specs: Sequence[OptionSpec] = options.START,
) -> StartOptions:
    app = app_settings.load(base_dir)
    values = options.resolve(ctx, specs, app)
    app_target.apply(values, short_target, base_dir)  # an app is named, or BASE_DIR is one
    title = values.get("title") or app.default_title
    streams = {}
    for stream in ("stdout", "stderr"):  # per title: two apps never rotate each other's file
        default = os.path.join("~", "logs", title, f"master-{stream}.log")
        streams[stream] = values.get(stream) or os.path.expanduser(default)
    framework = values.get("framework")
    if ctx.get_parameter_source("framework") != ParameterSource.COMMANDLINE:
        # From pyproject.toml (or nowhere): the runtime reads it there itself, so its
        # errors name that file rather than an option the user never typed.
        framework = None
    return StartOptions(
        base_dir=base_dir,
        app=app,
        title=title,
        workers=values.get("workers") or capacity.cpu_count(),
        env=app_settings.server_env(values.get("env"), base_dir),
        framework=framework,
        stdout=streams["stdout"],
        stderr=streams["stderr"],
        given=MappingProxyType(dict(values)),
    )
