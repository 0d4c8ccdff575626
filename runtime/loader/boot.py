"""Boot hooks: `class Boot` in `app.py` (app workers) or `agent.py` (the agent) of each unit.

Hooks run plugins -> frameworks -> app, `before_close` in reverse. A raising hook fails
the startup with a message naming the Boot file and the hook. `did_ready`,
`server_did_ready` and `before_close` failures are logged instead, as in egg: the app is
already loaded (or closing), and one bad plugin must not stop the others.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from runtime.loader.files import fail
from runtime.loader.load_context import LoadContext
from runtime.process.errors import StartupError

# Hooks whose failure is logged, not fatal (egg: the app is ready, or closing, by then).
LOGGED_ONLY = frozenset(("did_ready", "server_did_ready", "before_close"))


async def load(ctx: LoadContext) -> None:
    target = ctx.target
    fname = "app.py" if ctx.role == "app" else "agent.py"
    for unit in ctx.units:
        path = os.path.join(unit.path, fname)
        if not os.path.isfile(path):
            continue
        module = ctx.module(unit, path)
        boot_cls = getattr(module, "Boot", None)
        if boot_cls is None:
            continue
        if not isinstance(boot_cls, type):
            raise StartupError(f"{path}: Boot must be a class taking the {ctx.role}")
        try:
            instance = boot_cls(target)
        except Exception as exc:
            raise fail(path, exc, f"Boot() in {path} failed", root=unit.path) from exc
        target.boots.append((path, unit.path, instance))
    await trigger(target, "config_will_load")
    await trigger(target, "config_did_load")


def _takes_argument(method: Any) -> bool:
    """True when `method` can be called with one positional argument (`did_ready(err)`)."""
    try:
        inspect.signature(method).bind(None)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect (a builtin): call it without
        return False
    return True


async def trigger(target: Any, hook: str, *error: BaseException | None) -> None:
    """Run `hook` on every Boot in order; the first failure becomes a StartupError.

    `did_ready` is triggered with the boot error (None when the boot succeeded), handed
    to the hooks that take an argument (egg's `didReady(err)`); one declared without it
    is still called, as egg calls it."""
    boots = target.boots if hook != "before_close" else reversed(target.boots)
    for path, root, instance in list(boots):
        method = getattr(instance, hook, None)
        if method is None:
            continue
        try:
            result = method(*error) if error and _takes_argument(method) else method()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            if hook in LOGGED_ONLY:
                target.logger.error("Boot.%s in %s failed", hook, path, exc_info=exc)
                continue
            raise fail(path, exc, f"Boot.{hook} in {path} failed", root=root) from exc
