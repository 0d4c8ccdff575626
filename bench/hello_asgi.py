"""The bare hello-world ASGI app raw uvicorn and gunicorn serve in the benchmark; `/pid`
says which worker answered (the SIGKILL check needs it)."""

from __future__ import annotations

import os
from typing import Any

HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"11")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"hello world"
    headers = HEADERS
    if scope["path"] == "/pid":
        body = str(os.getpid()).encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
