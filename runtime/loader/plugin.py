"""Plugins: read `config/plugin.*` of frameworks and app, resolve, order by dependencies.

Settings merge framework(s) then app, per plugin and per field, so the app wins. Enabled
plugins are ordered so that every plugin comes after its dependencies (and after its
optional dependencies that are enabled). A dependency that is disabled only by a
framework is enabled implicitly, like egg; one the app disabled (or whose `env` excludes
this env) stays disabled, and that is a startup error naming both plugins.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import StartupError
from runtime.loader.context import LoadContext
from runtime.loader.files import fail, find_variant, load_yaml
from runtime.loader.units import LoadUnit

_FIELDS = {"enable", "package", "path", "env"}


@dataclass
class Plugin:
    name: str
    enable: bool = True
    package: str | None = None
    path: str | None = None
    env: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    optional_dependencies: list[str] = field(default_factory=list)
    declared_in: str = ""  # the plugin config file that set it last
    disabled_by_app: bool = False
    implicit: bool = False


def _read_plugin_file(path: str, ctx: LoadContext) -> dict[str, Any]:
    if path.endswith(".py"):
        module = ctx.module(LoadUnit("cfg", "plugin", os.path.dirname(path)), path)
        value = getattr(module, "plugin", None)
        if callable(value):
            value = value(ctx.info)
    else:
        value = load_yaml(path)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StartupError(f"{path}: `plugin` must be a dict of plugin name -> settings")
    return value


def _declarations(ctx: LoadContext) -> dict[str, Plugin]:
    plugins: dict[str, Plugin] = {}
    for unit in [*ctx.frameworks, ctx.app_unit]:
        for stem in ("plugin", f"plugin.{ctx.env}"):
            path = find_variant(os.path.join(unit.path, "config"), stem)
            if path is None:
                continue
            for name, spec in _read_plugin_file(path, ctx).items():
                if isinstance(spec, bool):
                    spec = {"enable": spec}
                if not isinstance(spec, dict) or set(spec) - _FIELDS:
                    raise StartupError(
                        f"{path}: plugin {name!r} must be a bool or a dict with keys "
                        f"{sorted(_FIELDS)}, got {spec!r}"
                    )
                plugin = plugins.setdefault(name, Plugin(name))
                if "path" in spec:
                    plugin.path = os.path.normpath(os.path.join(unit.path, spec["path"]))
                    plugin.package = None
                if "package" in spec:
                    plugin.package, plugin.path = spec["package"], None
                if "env" in spec:
                    plugin.env = list(spec["env"] or [])
                if "enable" in spec:
                    plugin.enable = bool(spec["enable"])
                    plugin.disabled_by_app = unit.kind == "app" and not plugin.enable
                plugin.declared_in = path
    return plugins


def _locate(plugin: Plugin) -> str:
    """Directory of the plugin; reads its plugin.yaml (name, dependencies, env)."""
    if plugin.package:
        try:
            module = importlib.import_module(plugin.package)
        except ImportError as exc:
            raise StartupError(
                f"plugin {plugin.name!r} (in {plugin.declared_in}): package "
                f"{plugin.package!r} cannot be imported: {exc}"
            ) from exc
        except Exception as exc:
            raise fail(plugin.package, exc, f"plugin {plugin.name!r} failed to import") from exc
        directory = os.path.dirname(os.path.abspath(module.__file__ or ""))
    elif plugin.path:
        directory = plugin.path
    else:
        raise StartupError(
            f"plugin {plugin.name!r} (in {plugin.declared_in}) has no `package` or `path`"
        )
    if not os.path.isdir(directory):
        raise StartupError(
            f"plugin {plugin.name!r} (in {plugin.declared_in}): {directory} is not a directory"
        )
    meta_path = os.path.join(directory, "plugin.yaml")
    if os.path.isfile(meta_path):
        meta = load_yaml(meta_path) or {}
        if not isinstance(meta, dict):
            raise StartupError(f"{meta_path}: must be a mapping (name, dependencies, ...)")
        if meta.get("name") not in (None, plugin.name):
            raise StartupError(
                f"{meta_path}: names the plugin {meta['name']!r} but {plugin.declared_in} "
                f"configures it as {plugin.name!r}; use one name"
            )
        plugin.dependencies = list(meta.get("dependencies") or [])
        plugin.optional_dependencies = list(meta.get("optional_dependencies") or [])
        if not plugin.env:
            plugin.env = list(meta.get("env") or [])
    plugin.path = directory
    return directory


def _active(plugin: Plugin, env: str) -> bool:
    return plugin.enable and (not plugin.env or env in plugin.env)


def order_plugins(declared: dict[str, Plugin], env: str) -> list[Plugin]:
    """Enabled plugins in dependency order (declaration order where free)."""
    enabled = [p for p in declared.values() if _active(p, env)]
    for plugin in enabled:
        _locate(plugin)
    ordered: list[Plugin] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(plugin: Plugin, stack: list[str]) -> None:
        if state.get(plugin.name) == "done":
            return
        if state.get(plugin.name) == "visiting":
            cycle = [*stack[stack.index(plugin.name) :], plugin.name]
            raise StartupError(f"plugin dependency cycle: {' -> '.join(cycle)}")
        state[plugin.name] = "visiting"
        for dep in plugin.dependencies:
            target = declared.get(dep)
            if target is None:
                raise StartupError(
                    f"plugin {plugin.name!r} depends on {dep!r}, which is not configured "
                    f"in any config/plugin file"
                )
            if not _active(target, env):
                if target.disabled_by_app or (target.enable and target.env):
                    why = (
                        "disabled by the app" if target.disabled_by_app else f"not for env {env!r}"
                    )
                    raise StartupError(
                        f"plugin {plugin.name!r} depends on {dep!r}, which is {why} "
                        f"({target.declared_in})"
                    )
                target.enable = target.implicit = True
                _locate(target)
            visit(target, [*stack, plugin.name])
        for dep in plugin.optional_dependencies:
            target = declared.get(dep)
            if target is not None and _active(target, env):
                visit(target, [*stack, plugin.name])
        state[plugin.name] = "done"
        ordered.append(plugin)

    for plugin in enabled:
        visit(plugin, [])
    return ordered


def load(ctx: LoadContext) -> None:
    declared = _declarations(ctx)
    ordered = order_plugins(declared, ctx.env)
    for plugin in ordered:
        if plugin.implicit:
            ctx.logger.info("plugin %r enabled implicitly (a dependency)", plugin.name)
    ctx.target.plugins = {p.name: p for p in ordered}
    ctx.units = [
        *(LoadUnit("plugin", p.name, p.path or "") for p in ordered),
        *ctx.frameworks,
        ctx.app_unit,
    ]
