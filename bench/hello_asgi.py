"""The bare hello-world ASGI app raw uvicorn serves in the benchmark (the 1.0x baseline)."""

from __future__ import annotations

from typing import Any

HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"11")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"hello world"})
