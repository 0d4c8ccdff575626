"""Plugins: read `config/plugin.*` of frameworks and app, resolve, order by dependencies.

Settings merge framework(s) then app, per plugin and per field, so the app wins; the
`EGG_PLUGINS` environment variable (a JSON object, egg's) is merged over all of them. A
unit's `config/plugin.default.*` replaces its `config/plugin.*` when present (egg's file
name; `plugin.py` is the older one). Every plugin enabled by config is located and its own
`plugin.yaml` read *before* the env filter, so a plugin's own `env` list counts even when
no other plugin depends on it.

Enabled plugins are ordered so that every plugin comes after its dependencies and after
its optional dependencies that end up enabled: implicit enabling is resolved first (to a
fixed point), then the order is computed, so a plugin optionally depending on one that
another plugin pulls in still loads after it (egg orders `tracelog` after `rpcServer`).
A dependency disabled only by a framework is enabled implicitly, like egg; one the app
disabled (or whose `env` excludes this env) stays disabled, and that is a startup error
naming both plugins (egg enables it with a warning, see APP_GUIDE "Differences
from egg").
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from runtime.loader.files import env_json_object, fail, find_variant, load_yaml
from runtime.loader.load_context import LoadContext
from runtime.loader.units import LoadUnit
from runtime.process.errors import StartupError

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
    located_in: str = ""  # the plugin config file that set its path or package
    located_unit: str = ""  # the unit (framework, app) of that file
    repointed: bool = False  # already warned that a later unit points it elsewhere
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


def plugin_files(ctx: LoadContext, unit: LoadUnit) -> list[str]:
    """The plugin config files of one unit: `plugin.default` (else `plugin`), then
    `plugin.<env>`. egg's loader reads `plugin.default` and falls back to `plugin`."""
    config_dir = os.path.join(unit.path, "config")
    base = find_variant(config_dir, "plugin.default")
    if base is not None:
        ignored = find_variant(config_dir, "plugin")
        if ignored is not None:
            ctx.logger.warning("%s is ignored: %s replaces it", ignored, base)
    else:
        base = find_variant(config_dir, "plugin")
    env_file = find_variant(config_dir, f"plugin.{ctx.env}")
    return [p for p in (base, env_file) if p is not None]


def _env_plugins() -> dict[str, Any]:
    """`EGG_PLUGINS`: a JSON object of plugin settings merged over every config file."""
    return env_json_object("EGG_PLUGINS", "a JSON object of plugin name -> settings")


def _declarations(ctx: LoadContext) -> dict[str, Plugin]:
    plugins: dict[str, Plugin] = {}
    layers = [
        (unit, path, _read_plugin_file(path, ctx))
        for unit in [*ctx.frameworks, ctx.app_unit]
        for path in plugin_files(ctx, unit)
    ]
    from_env = _env_plugins()
    if from_env:
        layers.append((ctx.app_unit, "EGG_PLUGINS", from_env))
    for unit, path, layer in layers:
        for name, spec in layer.items():
            if isinstance(spec, bool):
                spec = {"enable": spec}
            if not isinstance(spec, dict) or set(spec) - _FIELDS:
                raise StartupError(
                    f"{path}: plugin {name!r} must be a bool or a dict with keys "
                    f"{sorted(_FIELDS)}, got {spec!r}"
                )
            plugin = plugins.setdefault(name, Plugin(name))
            if "path" in spec or "package" in spec:
                _relocate(ctx, plugin, spec, unit, path)
            if "env" in spec:
                plugin.env = list(spec["env"] or [])
            if "enable" in spec:
                plugin.enable = bool(spec["enable"])
                plugin.disabled_by_app = unit.kind == "app" and not plugin.enable
            plugin.declared_in = path
    return plugins


def _relocate(
    ctx: LoadContext, plugin: Plugin, spec: dict[str, Any], unit: LoadUnit, path: str
) -> None:
    """Set where `plugin` lives. When a later unit (the app, or a derived framework) points
    a plugin another unit defined to another place, warn once, naming both places, as egg
    does; defining it again with the same `path`/`package` changes nothing and is quiet."""
    if "package" in spec:
        package, where = spec["package"], None
    else:
        package, where = None, os.path.normpath(os.path.join(unit.path, spec["path"]))
    moved = (package, where) != (plugin.package, plugin.path)
    if moved and plugin.located_in and plugin.located_unit != unit.key and not plugin.repointed:
        plugin.repointed = True
        ctx.logger.warning(
            "plugin %r is defined in %s (%s) and pointed to %s by %s; using %s",
            plugin.name,
            plugin.located_in,
            plugin.package or plugin.path,
            package or where,
            path,
            package or where,
        )
    plugin.package, plugin.path = package, where
    plugin.located_in, plugin.located_unit = path, unit.key


def _locate(plugin: Plugin, logger: Any = None) -> str:
    """Directory of the plugin (its real path, symlinks resolved, like egg); reads its
    plugin.yaml (name, dependencies, env). A name there that differs from the config key
    is a warning, as in egg: the config key is the plugin's name."""
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
        if meta.get("name") not in (None, plugin.name) and logger is not None:
            logger.warning(
                "%s names the plugin %r but %s configures it as %r; using %r",
                meta_path,
                meta["name"],
                plugin.declared_in,
                plugin.name,
                plugin.name,
            )
        plugin.dependencies = list(meta.get("dependencies") or [])
        plugin.optional_dependencies = list(meta.get("optional_dependencies") or [])
        if not plugin.env:
            plugin.env = list(meta.get("env") or [])
    directory = os.path.realpath(directory)
    plugin.path = directory
    return directory


def _active(plugin: Plugin, env: str) -> bool:
    return plugin.enable and (not plugin.env or env in plugin.env)


def _enable_dependencies(declared: dict[str, Plugin], env: str, logger: Any) -> None:
    """Implicitly enable, to a fixed point, every dependency of an active plugin; errors
    name the plugin and the dependency that cannot be enabled."""
    queue = [p for p in declared.values() if _active(p, env)]
    while queue:
        plugin = queue.pop(0)
        for dep in plugin.dependencies:
            target = declared.get(dep)
            if target is None:
                raise StartupError(
                    f"plugin {plugin.name!r} depends on {dep!r}, which is not configured "
                    f"in any config/plugin file"
                )
            if _active(target, env):
                continue
            if target.disabled_by_app or (target.enable and target.env):
                why = "disabled by the app" if target.disabled_by_app else f"not for env {env!r}"
                raise StartupError(
                    f"plugin {plugin.name!r} depends on {dep!r}, which is {why} "
                    f"({target.declared_in})"
                )
            target.enable = target.implicit = True
            _locate(target, logger)
            if not _active(target, env):  # its own plugin.yaml excludes this env
                raise StartupError(
                    f"plugin {plugin.name!r} depends on {dep!r}, which is not for env "
                    f"{env!r} ({os.path.join(target.path or '', 'plugin.yaml')})"
                )
            queue.append(target)


def order_plugins(declared: dict[str, Plugin], env: str, logger: Any = None) -> list[Plugin]:
    """Enabled plugins in dependency order (declaration order where free)."""
    for plugin in declared.values():
        if plugin.enable and (not plugin.env or env in plugin.env):
            _locate(plugin, logger)  # its plugin.yaml may restrict `env` further
    enabled = [p for p in declared.values() if _active(p, env)]
    _enable_dependencies(declared, env, logger)
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
            visit(declared[dep], [*stack, plugin.name])
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
    ordered = order_plugins(declared, ctx.env, ctx.logger)
    for plugin in ordered:
        if plugin.implicit:
            needed_by = [p.name for p in ordered if plugin.name in p.dependencies]
            ctx.logger.info(
                "plugin %r enabled implicitly: required by [%s]", plugin.name, ", ".join(needed_by)
            )
    ctx.target.plugins = {p.name: p for p in ordered}
    ctx.units = [
        *(LoadUnit("plugin", p.name, p.path or "") for p in ordered),
        *ctx.frameworks,
        ctx.app_unit,
    ]
