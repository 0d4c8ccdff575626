"""HTTP errors raised by handlers (`ctx.throw`) and turned into responses by the ASGI entry."""

from __future__ import annotations

from http import HTTPStatus

_PHRASES = {s.value: s.phrase for s in HTTPStatus}


def reason(status: int) -> str:
    """The standard reason phrase; Koa uses it as the body of a response that has none."""
    return _PHRASES.get(status, str(status))


class HttpError(Exception):
    """An error with an HTTP status; 4xx messages reach the client, 5xx are hidden (Koa)."""

    def __init__(self, status: int = 500, message: str | None = None, **headers: str) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"HttpError status must be 4xx or 5xx, got {status}")
        self.status = status
        self.message = message if message is not None else reason(status)
        self.expose = status < 500
        self.headers = headers
        super().__init__(self.message)
