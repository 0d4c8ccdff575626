"""Koa's onion, composed once at boot.

Each middleware is `async def mw(ctx, next)`; `compose` folds the list around an endpoint
into one `run(ctx)` so a request costs one call per layer and nothing else: no list
walking, no index bookkeeping, no per-request closures. A layer's `next` is its inner
handler bound to `ctx` as a method object (`types.MethodType`): one small allocation,
called at the cost of a plain call, where a `functools.partial` costs an argument tuple
and a keyword dict more (about 700 instructions a layer under callgrind).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from types import MethodType
from typing import Any, cast

Handler = Callable[[Any], Awaitable[Any]]
Middleware = Callable[[Any, Callable[[], Awaitable[Any]]], Awaitable[Any]]
Matcher = Callable[[Any], bool]
Layer = tuple[Middleware, Matcher | None, bool]
# What the ASGI entry calls for a request: `(mw, inner)` runs `mw(ctx, next)` itself, with
# `next` bound to `inner`; `(None, handler)` runs `handler(ctx)`.
Entry = tuple[Middleware | None, Handler]


# Layers are plain functions returning the next awaitable, not `async def`s: a request
# then pays one coroutine per middleware (the middleware's own), not two.


def _layer(mw: Middleware, inner: Handler) -> Handler:
    bind = MethodType

    def run(ctx: Any) -> Awaitable[Any]:
        return mw(ctx, bind(inner, ctx))

    run.__qualname__ = f"layer({getattr(mw, '__qualname__', mw)!s})"
    cast(Any, run).entry = (mw, inner)  # for `entry()`: the caller may run `mw` itself
    return run


def entry(handler: Handler) -> Entry:
    """How to call `handler` without its own frame when it is an unguarded layer: the ASGI
    entry then calls the outermost middleware itself (one Python call less a request)."""
    split: Entry | None = getattr(handler, "entry", None)
    return split if split is not None else (None, handler)


def _guarded_layer(mw: Middleware, inner: Handler, match: Matcher, when: bool) -> Handler:
    """A layer that only runs when `match(ctx) is when`, else goes straight to `inner`."""
    path_test = getattr(match, "path_test", None)
    bind = MethodType
    if path_test is not None:  # decide on the raw path, without building anything

        def run_on_path(ctx: Any) -> Awaitable[Any]:
            if path_test(ctx.scope["path"]) is not when:
                return inner(ctx)
            return mw(ctx, bind(inner, ctx))

        return run_on_path

    def run(ctx: Any) -> Awaitable[Any]:
        if bool(match(ctx)) is not when:
            return inner(ctx)
        return mw(ctx, bind(inner, ctx))

    return run


def compose(middleware: Sequence[Layer], endpoint: Handler) -> Handler:
    """Fold `(mw, matcher, when)` triples, outermost first, around `endpoint`."""
    handler = endpoint
    for mw, match, when in reversed(middleware):
        handler = _layer(mw, handler) if match is None else _guarded_layer(mw, handler, match, when)
    return handler


def layers_for_path(middleware: Sequence[Layer], path: str) -> list[Layer]:
    """The onion of one static route, with every path-only rule decided once, at boot.

    A layer whose `match`/`ignore` looks only at the path either always or never runs for
    this path, so it is kept unguarded or dropped; a callable rule stays guarded and is
    asked per request. A route no layer applies to gets no onion at all.
    """
    kept: list[Layer] = []
    for mw, match, when in middleware:
        path_test = getattr(match, "path_test", None)
        if match is None:
            kept.append((mw, None, True))
        elif path_test is None:
            kept.append((mw, match, when))
        elif path_test(path) is when:
            kept.append((mw, None, True))
    return kept


def routed(handler: Handler, dispatch: Handler, method: str, path: str) -> Handler:
    """The innermost step of a precomposed route: its handler, unless a middleware
    rewrote the method or path in the scope, in which case the router decides again."""

    def run(ctx: Any) -> Awaitable[Any]:
        scope = ctx.scope
        if scope["path"] == path and scope["method"] == method:
            return handler(ctx)
        return dispatch(ctx)

    return run


def _path_test(rule: Any) -> Callable[[str], bool] | None:
    """A predicate on the path for prefix strings and regexes; None for callables."""
    if isinstance(rule, re.Pattern):
        search = rule.search
        return lambda path: search(path) is not None
    if isinstance(rule, str):
        if rule in ("", "/"):
            return lambda path: True
        prefix = rule.rstrip("/")
        slash = prefix + "/"
        return lambda path: path == prefix or path.startswith(slash)
    if callable(rule):
        return None
    raise TypeError(f"match/ignore must be a path prefix, a regex or a callable, got {rule!r}")


def path_matcher(rule: Any) -> Matcher:
    """Compile `match`/`ignore` (prefix string, regex, callable, or a list of them).

    Rules that only look at the path get a `path_test` attribute, which lets the onion
    test the raw path and lets the app skip the onion for routes no layer applies to.
    """
    rules = list(rule) if isinstance(rule, (list, tuple)) else [rule]
    tests = [_path_test(r) for r in rules]
    path_tests = [t for t in tests if t is not None]
    if len(path_tests) == len(tests):
        path_test = (
            path_tests[0] if len(path_tests) == 1 else (lambda p: any(t(p) for t in path_tests))
        )
        matcher: Any = lambda ctx: path_test(ctx.scope["path"])  # noqa: E731
        matcher.path_test = path_test
        return cast("Matcher", matcher)  # a function with an attribute: Any until here
    checks = list(zip(tests, rules, strict=True))
    return lambda ctx: any(r(ctx) if t is None else t(ctx.scope["path"]) for t, r in checks)
