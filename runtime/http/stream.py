"""Streamed response bodies for egg-style apps: `ctx.body` may be an async iterator, an
iterator (a generator), a binary file object or a path (`pathlib.Path`).

Each chunk goes out as soon as it is produced (`more_body`), so server-sent events and long
downloads work and a file is never loaded into memory. Files and paths get a
Content-Length; iterators are sent chunked. The plain body types (str, bytes, dict, list)
never come here: the hot path of `runtime.http.asgi` stays as it was.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from typing import Any

from runtime.http.types import Send

CHUNK = 64 * 1024
_OCTETS = "application/octet-stream"


def is_stream(body: Any) -> bool:
    if isinstance(body, (dict, list, tuple, str, bytes, bytearray, memoryview)):
        return False
    return (
        isinstance(body, os.PathLike)
        or hasattr(body, "__aiter__")
        or hasattr(body, "__next__")
        or callable(getattr(body, "read", None))
    )


class Stream:
    """A body to send chunk by chunk; `length` is known for files and paths."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.length: int | None = None
        self.path: str | None = None
        if isinstance(body, os.PathLike):
            self.path = os.fspath(body)
            self.length = os.stat(self.path).st_size
        elif callable(getattr(body, "fileno", None)):
            try:
                self.length = os.fstat(body.fileno()).st_size - body.tell()
            except (OSError, ValueError):
                self.length = None

    def content_type(self) -> str:
        if self.path is not None:
            return mimetypes.guess_type(self.path)[0] or _OCTETS
        return _OCTETS

    async def send(self, send: Send) -> None:
        body = self.body
        if self.path is not None:
            with open(self.path, "rb") as fh:
                await _send_file(fh, send)
            return
        if hasattr(body, "__aiter__"):
            async for chunk in body:
                await send(_message(chunk, True))
        elif hasattr(body, "__next__"):
            for chunk in body:
                await send(_message(chunk, True))
        else:
            try:
                await _send_file(body, send)
            finally:
                close = getattr(body, "close", None)
                if callable(close):
                    close()
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_file(fh: Any, send: Send) -> None:
    loop = asyncio.get_running_loop()
    while True:
        chunk = await loop.run_in_executor(None, fh.read, CHUNK)
        if not chunk:
            break
        await send(_message(chunk, True))
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _message(chunk: Any, more: bool) -> dict[str, Any]:
    if isinstance(chunk, str):
        chunk = chunk.encode()
    return {"type": "http.response.body", "body": bytes(chunk), "more_body": more}
