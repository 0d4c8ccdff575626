"""Middleware: `app/middleware/<name>.py` of every unit (a later unit overrides an earlier
one), used in the order `config["core_middleware"]` then `config["middleware"]`.

Options are `config[<name>]`; the generic `enable`, `match` and `ignore` are handled here,
so a middleware only sees requests it applies to. The onion is composed once, at boot.
"""

from __future__ import annotations

import os
from typing import Any

from runtime.http.bodyparser import parse_limit
from runtime.http.compose import compose, path_matcher
from runtime.loader.files import check_name, fail, skipped
from runtime.loader.load_context import LoadContext
from runtime.process.errors import StartupError


def _factories(ctx: LoadContext) -> dict[str, tuple[Any, str, str]]:
    found: dict[str, tuple[Any, str, str]] = {}
    for unit in ctx.units:
        directory = os.path.join(unit.path, "app", "middleware")
        if not os.path.isdir(directory):
            continue
        for fname in sorted(os.listdir(directory)):
            if not fname.endswith(".py") or skipped(fname):
                continue
            path = os.path.join(directory, fname)
            check_name(fname[:-3], path)
            factory = getattr(ctx.module(unit, path), "middleware", None)
            if not callable(factory):
                raise StartupError(f"{path}: defines no `def middleware(options, app)`")
            found[fname[:-3]] = (factory, path, unit.path)
    return found


def _names(config: dict[str, Any], meta: dict[str, str]) -> list[str]:
    names: list[str] = []
    for key in ("core_middleware", "middleware"):
        value = config.get(key) or []
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise StartupError(f"{meta.get(key, 'config')}: `{key}` must be a list of names")
        for name in value:
            if name in names:
                raise StartupError(
                    f"{meta.get(key, 'config')}: middleware {name!r} is listed twice "
                    f"(core_middleware + middleware)"
                )
            names.append(name)
    return names


def _options(config: dict[str, Any], meta: dict[str, str], name: str) -> dict[str, Any]:
    options = config.get(name)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise StartupError(
            f"{meta.get(name, 'config')}: options of middleware {name!r} must be a dict"
        )
    return options


def _body_parser(ctx: LoadContext) -> None:
    app, config, meta = ctx.target, ctx.target.config, ctx.target.config_meta
    options = config.get("bodyparser") or {}
    try:
        app.bodyparser_limit = parse_limit(options.get("limit", "1mb"))
    except ValueError as exc:
        raise StartupError(f"{meta.get('bodyparser.limit', 'config')}: {exc}") from None
    app.read_bodies = options.get("enable", True) is not False


def load(ctx: LoadContext) -> None:
    app = ctx.target
    _body_parser(ctx)
    factories = _factories(ctx)
    meta = app.config_meta
    layers = []
    for name in _names(app.config, meta):
        if name not in factories:
            raise StartupError(
                f"middleware {name!r} (listed in {meta.get('middleware', 'config')}) not found: "
                f"no app/middleware/{name}.py in the app, its plugins or framework"
            )
        factory, path, root = factories[name]
        options = _options(app.config, meta, name)
        if options.get("enable", True) is False:
            continue
        if "match" in options and "ignore" in options:
            raise StartupError(
                f"{meta.get(name + '.match', path)}: middleware {name!r} sets both "
                f"`match` and `ignore`; use one"
            )
        try:
            matcher = None
            if "match" in options:
                matcher, when = path_matcher(options["match"]), True
            elif "ignore" in options:
                matcher, when = path_matcher(options["ignore"]), False
            else:
                when = True
            mw = factory(options, app)
        except Exception as exc:
            raise fail(path, exc, f"middleware {name!r}", root=root) from exc
        if not callable(mw):
            raise StartupError(f"{path}: middleware() must return `async def mw(ctx, next)`")
        app.middleware.append((name, mw))
        layers.append((mw, matcher, when))
    app.middleware_layers = layers
    app.handler = compose(layers, app.router.endpoint())
