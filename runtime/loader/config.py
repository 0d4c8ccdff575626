"""Config: every unit's `config.default` then every unit's `config.<env>`, deep-merged.

Units go plugins -> frameworks -> app, so the app's env file has the last word, and the
`EGG_APP_CONFIG` environment variable (a JSON object, egg's) is merged over everything.
Dicts merge key by key; anything else (lists too) is replaced. A config function may take
a second argument: the app's own config (its `config.default` and `config.<env>` merged,
read first), so a plugin or framework can adapt to what the app set, as in egg; the
app's own functions get None there, as in egg. `config_meta` records which file
set each leaf key (dotted path -> file), and `dump_config` writes the result, secrets
masked, to `run/<role>_config.json` for humans debugging a deployment.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from typing import Any

from runtime.loader.files import env_json_object, find_variant, load_yaml
from runtime.loader.load_context import LoadContext
from runtime.loader.shape import check_shape
from runtime.loader.units import LoadUnit
from runtime.process.errors import StartupError
from runtime.process.log_setup import log_dir_under
from runtime.process.private_files import make_private_dirs, write_private

# Key names whose values the config dump masks (documented in docs/APP_GUIDE.md).
SECRET = re.compile(
    r"secret|password|pass|token|key|cookie|session|credential|bearer|private|signing",
    re.IGNORECASE,
)
# `scheme://user:PASSWORD@host` and `redis://:PASSWORD@host`: group 1 keeps the user part.
URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)[^/\s]*@")
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
        # so a deploy that replaces the app directory keeps its logs. Resolved:
        # a release symlink switched under a running process must not move its files.
        # A cluster with its own title logs under it (runtime/process/log_setup.py).
        "logger": {"dir": log_dir_under(os.path.realpath(info.root), info.name, _title(ctx))},
        "core_middleware": [],
        "middleware": [],
        "bodyparser": {"enable": True, "limit": "1mb"},
        "cluster": {"listen": {}},
    }


def _title(ctx: LoadContext) -> str | None:
    title = getattr(getattr(ctx.target, "boot_info", None), "title", None)
    return title if isinstance(title, str) else None


def _wants_app_config(fn: Any) -> bool:
    """Does `def config(...)` take a second positional argument (`app_config`)?"""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def read_config_file(
    ctx: LoadContext, unit: LoadUnit, path: str, app_config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The dict a config file defines: `config = {...}`, `def config(app_info)`,
    `def config(app_info, app_config)`, or YAML."""
    if path.endswith(".py"):
        module = ctx.module(unit, path)
        if not hasattr(module, "config"):
            raise StartupError(f"{path}: defines no `config` (a dict or `def config(app_info)`)")
        value = module.config
        if callable(value):
            from runtime.loader.files import fail

            try:
                args = (ctx.info, app_config) if _wants_app_config(value) else (ctx.info,)
                value = value(*args)
            except Exception as exc:
                raise fail(path, exc, root=unit.path) from exc
        check_shape(value, path)  # load_yaml checks YAML files itself
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


def _app_layers(ctx: LoadContext) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The app's own config files, read once: {path: layer}, and their merge (egg's
    preloaded app config, handed to other units' config functions)."""
    layers: dict[str, dict[str, Any]] = {}
    merged: dict[str, Any] = {}
    unit = ctx.app_unit
    for stem in ("config.default", f"config.{ctx.env}"):
        path = find_variant(os.path.join(unit.path, "config"), stem)
        if path is not None:
            layers[path] = read_config_file(ctx, unit, path, None)
            merge(merged, layers[path], {}, path)
    return layers, merged


def _private_copy(value: dict[str, Any]) -> dict[str, Any]:
    """Each unit gets its own copy, so one plugin cannot edit what the next one sees."""
    try:
        return copy.deepcopy(value)
    except Exception:  # an uncopyable value (a lock, a socket): share it then
        return dict(value)


def env_app_config() -> dict[str, Any]:
    """`EGG_APP_CONFIG`: a JSON object merged over the whole config, last."""
    return env_json_object("EGG_APP_CONFIG")


def load(ctx: LoadContext) -> None:
    config = defaults(ctx)
    meta = {key: BUILTIN for key in _leaves(config)}
    app_layers, app_config = _app_layers(ctx)
    for stem in ("config.default", f"config.{ctx.env}"):
        for unit in ctx.units:
            path = find_variant(os.path.join(unit.path, "config"), stem)
            if path is None:
                continue
            if unit == ctx.app_unit and path in app_layers:
                layer = app_layers[path]
            else:
                layer = read_config_file(ctx, unit, path, _private_copy(app_config))
            _check_owner(unit, path, layer)
            merge(config, layer, meta, path)
    merge(config, env_app_config(), meta, "EGG_APP_CONFIG")
    from runtime.loader import listen_config

    listen_config.check(config, ctx.info.base_dir, meta)
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


def mask(value: Any, secret: bool = False, memo: dict[tuple[int, bool], Any] | None = None) -> Any:
    """A JSON-ready copy of `value`: under a secret-looking key every scalar is masked, and
    a password inside a URL anywhere. Memoised by identity, so structure shared through
    YAML aliases is masked once and shared in the copy, never expanded."""
    if isinstance(value, (dict, list, tuple)):
        memo = {} if memo is None else memo
        key = (id(value), secret)
        if key not in memo:
            if isinstance(value, dict):
                memo[key] = out = {}
                for k, v in value.items():
                    out[str(k)] = mask(v, secret or bool(SECRET.search(str(k))), memo)
            else:
                memo[key] = [mask(v, secret, memo) for v in value]
        return memo[key]
    if secret and value is not None and not isinstance(value, bool):
        return MASK
    if isinstance(value, str):
        return URL_PASSWORD.sub(rf"\g<1>{MASK}@", value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    name = getattr(value, "__qualname__", None)
    return f"<{type(value).__name__} {name}>" if name else repr(value)


def dump_config(target: Any) -> None:
    """Write `run/<application|agent>_config.json` (+ `_meta`), owner-only (0600 in a 0700
    directory, runtime/process/private_files.py); never fails the start."""
    role = "application" if target.role == "app" else "agent"
    rundir = target.config.get("rundir") or "run"  # honoured, relative to BASE_DIR
    rundir = os.path.join(os.path.realpath(target.base_dir), os.path.expanduser(str(rundir)))
    files = {
        f"{role}_config.json": mask(target.config),
        f"{role}_config_meta.json": target.config_meta,
    }
    try:
        make_private_dirs(rundir)
        for fname, data in files.items():
            # Atomic: N workers write the same file concurrently.
            write_private(os.path.join(rundir, fname), json.dumps(data, indent=2, sort_keys=True))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: a cyclic value
        target.logger.warning("cannot write %s: %s", rundir, exc)
