"""ASGI or WSGI? Auto-detection, and the WSGI adapter.

Detection looks at how the callable is called, which is right for every framework we test:
an `async def __call__(scope, receive, send)` (FastAPI, Starlette, Django's ASGIHandler, any
ASGI 3 middleware) is ASGI; a plain `__call__(environ, start_response)` with two parameters
(Flask, Django's WSGIHandler, any PEP 3333 app) is WSGI. Anything else needs
`--interface`, rather than a guess that fails on the first request.

WSGI apps run through a2wsgi's `WSGIMiddleware`: maintained, dependency-free, recommended
by Starlette (whose own WSGI middleware is deprecated, as is uvicorn's), streams the WSGI
iterable instead of buffering it, and runs the app in a thread pool of a size we choose
(`--threads`, 10 by default, per worker); runtime/apptarget/wsgi.py extends it.
"""

from __future__ import annotations

import inspect
from typing import Any

from runtime.process.errors import StartupError


def detect(app: Any, requested: str, target: str) -> str:
    if requested in ("asgi", "wsgi"):
        return requested
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app):
        return "asgi"
    try:
        params = [
            p
            for p in inspect.signature(app).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    if len(params) == 2:
        return "wsgi"
    if len(params) == 3:
        return "asgi"
    raise StartupError(
        f"--app {target}: cannot tell whether {type(app).__name__} is an ASGI or a WSGI "
        "application; pass --interface=asgi or --interface=wsgi"
    )


def as_asgi(app: Any, interface: str, threads: int) -> Any:
    """An ASGI 3 callable serving `app`."""
    if interface == "asgi":
        return app
    from runtime.apptarget.wsgi import WSGIApp

    return WSGIApp(app, threads)
