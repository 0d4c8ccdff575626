"""WebSocket routes of egg-style apps: `app.router.websocket(path, handler)`.

`async def handler(ws)` gets a `WebSocket`, a thin layer over the ASGI WebSocket messages
(the protocol itself is uvicorn's `websockets` implementation):

    async def echo(ws):
        await ws.accept()
        async for message in ws:          # str or bytes, until the client disconnects
            await ws.send(message)

A path nobody handles is refused during the handshake (HTTP 403), never answered as a
plain 404 page, and a handler that returns without accepting refuses it the same way.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from runtime.http.router import compile_path
from runtime.http.types import Receive, Scope, Send


class WebSocketDisconnect(Exception):
    def __init__(self, code: int = 1000) -> None:
        super().__init__(code)
        self.code = code


class WebSocket:
    def __init__(
        self, app: Any, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> None:
        self.app = app
        self.scope = scope
        self.params = params
        self._receive = receive
        self._send = send
        self.accepted = False
        self.closed = False

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))

    def get(self, header: str) -> str:
        name = header.lower().encode("latin-1")
        for key, value in self.scope["headers"]:
            if key == name:
                text: str = value.decode("latin-1")
                return text
        return ""

    async def accept(self, subprotocol: str | None = None) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            raise WebSocketDisconnect(message.get("code", 1000))
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol})
        self.accepted = True

    async def receive(self) -> str | bytes:
        """The next message; raises WebSocketDisconnect when the client is gone."""
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def send(self, data: str | bytes) -> None:
        key = "text" if isinstance(data, str) else "bytes"
        await self._send({"type": "websocket.send", key: data})

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code})

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        try:
            while True:
                yield await self.receive()
        except WebSocketDisconnect:
            return


class SocketRoutes:
    """Path -> handler for WebSocket routes (`:param` paths as in HTTP routes)."""

    def __init__(self) -> None:
        self.static: dict[str, Any] = {}
        self.dynamic: list[tuple[re.Pattern[str], Any]] = []

    def __bool__(self) -> bool:
        return bool(self.static or self.dynamic)

    def add(self, path: str, handler: Any) -> None:
        pattern = compile_path(path)
        if pattern is None:
            self.static[path] = handler
        else:
            self.dynamic.append((pattern, handler))

    def find(self, path: str) -> tuple[Any, dict[str, str]] | None:
        handler = self.static.get(path)
        if handler is not None:
            return handler, {}
        for pattern, candidate in self.dynamic:
            m = pattern.match(path)
            if m is not None:
                return candidate, {k: v for k, v in m.groupdict().items() if v is not None}
        return None


async def refuse(receive: Receive, send: Send) -> None:
    """Refuse a WebSocket handshake: uvicorn answers it with HTTP 403."""
    await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 1008})


async def serve(
    app: Any, scope: Scope, receive: Receive, send: Send, found: tuple[Any, dict[str, str]]
) -> None:
    handler, params = found
    ws = WebSocket(app, scope, receive, send, params)
    try:
        await handler(ws)
    except WebSocketDisconnect:
        return
    except Exception as exc:
        app.logger.error("websocket %s failed: %r", scope["path"], exc, exc_info=exc)
        if ws.accepted:
            await ws.close(1011)
            return
    if not ws.accepted:
        await refuse(receive, send)
    elif not ws.closed:
        await ws.close()
