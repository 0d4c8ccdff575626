"""`python -m runtime.check '<options JSON>'`: load the app as a worker would, then stop.

The second door from the CLI into the runtime (docs/INTERNALS.md §1b), behind
`eggscripts check` (gunicorn's `--check-config`): the same ClusterOptions JSON as
`runtime.start_cluster`, the same `--require` imports and the same `create_app` +
`boot()` an app worker runs (config, plugins, extends, Boot hooks up to `did_ready`,
services, middleware, controllers, router), and no port bound, no process forked, no
agent. Success prints what was loaded and exits 0; a failure prints `check failed:` and
the one line a failed start prints for it and exits 1. `before_close` hooks run either way.

`module:attr` targets (ASGI/WSGI apps, docs/ASGI.md) are dispatched in `load_target`; until the
runtime knows the `app` option they are refused in one line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from typing import Any

from runtime.contract.exitcodes import ExitCode
from runtime.process.cluster_options import ClusterOptions
from runtime.process.errors import PREFIX, OptionsError, StartupError, describe_exception, report
from runtime.process.import_path import enter_as_app, enter_as_master


class Collected(logging.Handler):
    """Keeps WARNING+ records of the load, shown after the summary (never on stderr, so a
    failed check stays one line)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def parse(text: str) -> ClusterOptions:
    options = ClusterOptions.from_json(text)
    if options.name is None:
        from runtime.process.app_name import app_name

        options = dataclasses.replace(options, name=app_name(options.base_dir))
    return options


async def load_target(options: ClusterOptions) -> Any:
    """Boot what a worker would serve; raises what the app raises."""
    from runtime.apptarget import app_factory
    from runtime.worker.base import boot_info
    from runtime.worker.requires import import_requires

    import_requires(options.require, options.base_dir)
    app = app_factory(options)(boot_info(options))
    try:
        await asyncio.wait_for(app.boot(), options.startup_timeout / 1000)
    except asyncio.TimeoutError:
        raise StartupError(f"boot did not finish within {options.startup_timeout} ms") from None
    finally:
        await app.close()
    return app


def summary(app: Any) -> list[str]:
    """What was loaded: counts and every route, one per line (for `module:attr`: the
    interface it is served with and whether its lifespan ran)."""
    if getattr(app, "options", None) is not None and getattr(app.options, "app", None):
        return [f"app: {app.options.app} ({app.interface}), {_lifespan(app)}"]
    lines = [f"plugins ({len(app.plugins)}): {', '.join(app.plugins) or '-'}"]
    names = [name for name, _ in app.middleware]
    lines.append(f"middleware ({len(names)}): {', '.join(names) or '-'}")
    services = _leaves(app.services)
    lines.append(f"services ({len(services)}): {', '.join(services) or '-'}")
    lines.append(f"controllers: {_count_handlers(app.controller)} handlers")
    routes = app.router.routes
    lines.append(f"routes ({len(routes)}):")
    for route in routes:
        path = route.path if isinstance(route.path, str) else f"/{route.path.pattern}/"
        handler = getattr(route.handler, "__qualname__", type(route.handler).__name__)
        name = f"  (name: {route.name})" if route.name else ""
        lines.append(f"  {','.join(route.methods):<8} {path}  -> {handler}{name}")
    return lines


def _lifespan(app: Any) -> str:
    """Only what happened: WSGI has no lifespan, and an ASGI app may not support it."""
    if app.interface != "asgi":
        return "no lifespan (WSGI)"
    if app.lifespan is None or app.lifespan.mode == "off":
        return "lifespan off"
    return "lifespan startup ran" if app.lifespan.completed else "no lifespan support"


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in sorted(tree.items()):
        if isinstance(value, dict):
            out.extend(_leaves(value, f"{prefix}{key}."))
        else:
            out.append(prefix + key)
    return out


def _count_handlers(namespace: Any) -> int:
    count = 0
    for name, value in vars(namespace).items():
        if name.startswith("_"):
            continue
        count += _count_handlers(value) if hasattr(value, "_where") else 1
    return count


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        report("usage: python -m runtime.check '<options JSON>'")
        return ExitCode.USAGE
    collected = Collected()
    root = logging.getLogger()
    root.handlers[:] = [collected]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    started = time.monotonic()
    options: ClusterOptions | None = None
    try:
        options = parse(argv[0])
        enter_as_master(options.base_dir)  # then as the app: check is both
        enter_as_app(options.base_dir)
        os.environ["EGG_SERVER_ENV"] = options.env
        app = asyncio.run(load_target(options))
    except OptionsError as exc:
        report(str(exc))
        return ExitCode.USAGE
    except BaseException as exc:  # app code may even raise SystemExit while loading
        if isinstance(exc, KeyboardInterrupt):
            raise
        base = options.base_dir if options is not None else None
        report(f"check failed: {describe_exception(exc, base)}")
        return ExitCode.ERROR
    ms = (time.monotonic() - started) * 1000
    name, env = getattr(app, "name", options.app), getattr(app, "env", options.env)
    print(f"{PREFIX} check passed: {name} (env {env}) loaded in {ms:.0f} ms")
    for line in summary(app):
        print(f"  {line}")
    for record in collected.records:
        print(f"  {record.levelname.lower()}: {record.name}: {record.getMessage()}")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
