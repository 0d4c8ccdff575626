"""Koa's onion, composed once at boot.

Each middleware is `async def mw(ctx, next)`; `compose` folds the list around an endpoint
into one `async def run(ctx)` so a request costs one call per layer and nothing else: no
list walking, no index bookkeeping, no per-request closures but the `next` partial.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

Handler = Callable[[Any], Awaitable[Any]]
Middleware = Callable[[Any, Callable[[], Awaitable[Any]]], Awaitable[Any]]
Matcher = Callable[[Any], bool]


def _layer(mw: Middleware, inner: Handler) -> Handler:
    async def run(ctx: Any) -> Any:
        return await mw(ctx, partial(inner, ctx))

    run.__qualname__ = f"layer({getattr(mw, '__qualname__', mw)!s})"
    return run


def _guarded_layer(mw: Middleware, inner: Handler, match: Matcher, when: bool) -> Handler:
    """A layer that only runs when `match(ctx) is when`, else goes straight to `inner`."""

    async def run(ctx: Any) -> Any:
        if bool(match(ctx)) is not when:
            return await inner(ctx)
        return await mw(ctx, partial(inner, ctx))

    return run


def compose(
    middleware: Sequence[tuple[Middleware, Matcher | None, bool]], endpoint: Handler
) -> Handler:
    """Fold `(mw, matcher, when)` triples, outermost first, around `endpoint`."""
    handler = endpoint
    for mw, match, when in reversed(middleware):
        handler = _layer(mw, handler) if match is None else _guarded_layer(mw, handler, match, when)
    return handler


def _one_matcher(rule: Any) -> Matcher:
    if callable(rule) and not isinstance(rule, re.Pattern):
        return rule
    if isinstance(rule, re.Pattern):
        search = rule.search
        return lambda ctx: search(ctx.path) is not None
    if isinstance(rule, str):
        if rule in ("", "/"):
            return lambda ctx: True
        prefix = rule.rstrip("/")
        slash = prefix + "/"
        return lambda ctx: (p := ctx.path) == prefix or p.startswith(slash)
    raise TypeError(f"match/ignore must be a path prefix, a regex or a callable, got {rule!r}")


def path_matcher(rule: Any) -> Matcher:
    """Compile `match`/`ignore` (prefix string, regex, callable, or a list of them)."""
    if isinstance(rule, (list, tuple)):
        matchers = [_one_matcher(r) for r in rule]
        return lambda ctx: any(m(ctx) for m in matchers)
    return _one_matcher(rule)
