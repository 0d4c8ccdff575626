"""Config: every unit's `config.default` then every unit's `config.<env>`, deep-merged.

Units go plugins -> frameworks -> app, so the app's env file has the last word. Dicts
merge key by key; anything else (lists too) is replaced. `config_meta` records which file
set each leaf key (dotted path -> file), and `dump_config` writes the result, secrets
masked, to `run/<role>_config.json` for humans debugging a deployment.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any

from runtime.errors import StartupError
from runtime.loader.context import LoadContext
from runtime.loader.files import find_variant, load_yaml
from runtime.loader.units import LoadUnit

SECRET = re.compile(r"secret|password|pass|token|key|cookie|session", re.IGNORECASE)
MASK = "******"
BUILTIN = "<eggscripts>"


def defaults(ctx: LoadContext) -> dict[str, Any]:
    info = ctx.info
    return {
        "name": info.name,
        "env": info.env,
        "base_dir": info.base_dir,
        "rundir": os.path.join(os.path.realpath(info.base_dir), "run"),
        # egg's app_info.root: BASE_DIR in local/unittest, the home directory otherwise,
        # so a deploy that replaces the app directory keeps its logs (SPEC §5). Resolved:
        # a release symlink switched under a running process must not move its files.
        "logger": {"dir": os.path.join(os.path.realpath(info.root), "logs", info.name)},
        "core_middleware": [],
        "middleware": [],
        "bodyparser": {"enable": True, "limit": "1mb"},
        "cluster": {"listen": {}},
    }


def read_config_file(ctx: LoadContext, unit: LoadUnit, path: str) -> dict[str, Any]:
    """The dict a config file defines: `config = {...}`, `def config(app_info)`, or YAML."""
    if path.endswith(".py"):
        module = ctx.module(unit, path)
        if not hasattr(module, "config"):
            raise StartupError(f"{path}: defines no `config` (a dict or `def config(app_info)`)")
        value = module.config
        if callable(value):
            from runtime.loader.files import fail

            try:
                value = value(ctx.info)
            except Exception as exc:
                raise fail(path, exc, root=unit.path) from exc
    else:
        value = load_yaml(path)
        if value is None:
            value = {}
    if not isinstance(value, dict):
        raise StartupError(f"{path}: config must be a dict, got {type(value).__name__}")
    return value


def merge(
    target: dict[str, Any],
    source: dict[str, Any],
    meta: dict[str, str],
    origin: str,
    prefix: str = "",
) -> None:
    """Deep-merge `source` into `target`, recording `origin` for every leaf it sets."""
    for key, value in source.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value, meta, origin, dotted + ".")
            continue
        target[key] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
        for stale in [k for k in meta if k.startswith(dotted + ".")]:
            del meta[stale]
        if isinstance(value, dict) and value:
            merge({}, value, meta, origin, dotted + ".")
        else:
            meta[dotted] = origin


def _check_owner(unit: LoadUnit, path: str, layer: dict[str, Any]) -> None:
    if unit.kind == "app" and "core_middleware" in layer:
        raise StartupError(
            f"{path}: only frameworks and plugins may set `core_middleware`; use `middleware`"
        )
    if unit.kind != "app" and "middleware" in layer:
        raise StartupError(
            f"{path}: only the app may set `middleware`; a {unit.kind} sets `core_middleware`"
        )


def load(ctx: LoadContext) -> None:
    config = defaults(ctx)
    meta = {key: BUILTIN for key in _leaves(config)}
    for stem in ("config.default", f"config.{ctx.env}"):
        for unit in ctx.units:
            path = find_variant(os.path.join(unit.path, "config"), stem)
            if path is None:
                continue
            layer = read_config_file(ctx, unit, path)
            _check_owner(unit, path, layer)
            merge(config, layer, meta, path)
    ctx.target.config = config
    ctx.target.config_meta = meta


def _leaves(value: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, val in value.items():
        if isinstance(val, dict) and val:
            out.extend(_leaves(val, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key}")
    return out


def mask(value: Any, secret: bool = False) -> Any:
    """A JSON-ready copy of `value`; under a secret-looking key every scalar is masked."""
    if isinstance(value, dict):
        return {str(k): mask(v, secret or bool(SECRET.search(str(k)))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v, secret) for v in value]
    if secret and value is not None and not isinstance(value, bool):
        return MASK
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    name = getattr(value, "__qualname__", None)
    return f"<{type(value).__name__} {name}>" if name else repr(value)


def dump_config(target: Any) -> None:
    """Write `run/<application|agent>_config.json` (+ `_meta`); never fails the start."""
    role = "application" if target.role == "app" else "agent"
    rundir = target.config.get("rundir") or "run"  # honoured, relative to BASE_DIR
    rundir = os.path.join(os.path.realpath(target.base_dir), os.path.expanduser(str(rundir)))
    files = {
        f"{role}_config.json": mask(target.config),
        f"{role}_config_meta.json": target.config_meta,
    }
    try:
        os.makedirs(rundir, mode=0o700, exist_ok=True)
        for fname, data in files.items():
            path = os.path.join(rundir, fname)
            tmp = f"{path}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
            os.replace(tmp, path)  # atomic: N workers write the same file concurrently
    except OSError as exc:
        target.logger.warning("cannot write %s: %s", rundir, exc)
