"""`--access-log`: one line per request in the common log format, plus the request time.

`127.0.0.1 - - [26/Nov/2026:13:40:16 +0000] "GET /items/1 HTTP/1.1" 200 27 0.0012`

Installed as an ASGI wrapper only when asked for, so a worker without it pays nothing.
uvicorn's own access log has no date, size or duration; gunicorn's default format is this
one. Lines go to the `eggscripts.access` logger: the app's web log for a daemon, stdout for
a cluster running in the foreground (where the user is watching), as JSON objects with
`--log-format=json`.
"""

from __future__ import annotations

import logging
import sys
import time

from runtime.http.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("eggscripts.access")


def setup(foreground: bool) -> None:
    """Route the access logger (after the worker's own logging setup, whose
    --log-format it follows on stdout)."""
    if foreground:
        from runtime.process.log_setup import access_formatter

        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(access_formatter())
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.INFO)


def wrap(app: ASGIApp) -> ASGIApp:
    """`app` with every HTTP request logged once its response is complete (or abandoned)."""

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0
        size = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive, counting_send)
        finally:
            log.info(line(scope, status or 500, size, time.monotonic() - started))

    return logged


def line(scope: Scope, status: int, size: int, seconds: float) -> str:
    client = scope.get("client")
    host = client[0] if client else "-"
    query = scope.get("query_string") or b""
    target = scope.get("raw_path") or scope["path"].encode()
    if isinstance(target, str):
        target = target.encode()
    if query:
        target += b"?" + query
    when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
    request = f"{scope['method']} {target.decode('latin-1')} HTTP/{scope['http_version']}"
    return f'{host} - - [{when}] "{request}" {status} {size or "-"} {seconds:.4f}'
