"""The core body parser: reads request bodies up to `bodyparser.limit`, parses on access.

Only methods that carry a body are read before the middleware chain, so a GET never awaits
`receive()`. Reading is eager (a property cannot await) but parsing is lazy: `request.body`
decodes JSON or a form the first time it is accessed; malformed JSON is a 400 then.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from runtime.http.errors import HttpError
from runtime.http.types import Scope

BODY_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*$", re.IGNORECASE)


def parse_limit(value: Any) -> int:
    """`bodyparser.limit` as bytes: an int, or a string like `"100kb"` / `"1mb"`."""
    if isinstance(value, bool):
        raise ValueError(f"bodyparser.limit must be a size, got {value!r}")
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"bodyparser.limit must be bytes or like '1mb', got {value!r}")
    unit = match.group(2).lower()
    unit = unit if unit.endswith("b") or not unit else unit + "b"
    return int(float(match.group(1)) * _UNITS[unit])


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise HttpError(400, "Invalid Content-Length") from None
    return None


async def read_body(ctx: Any, limit: int) -> bytes:
    """Receive the whole body into `ctx._raw_body`; 413 as soon as it exceeds `limit`."""
    body: bytes | None = getattr(ctx, "_raw_body", None)  # no exception when unread
    if body is not None:
        return body
    declared = _declared_length(ctx.scope)
    if declared is not None and declared > limit:
        raise HttpError(413, "Request Entity Too Large")
    receive = ctx._receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise HttpError(413, "Request Entity Too Large")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    ctx._raw_body = body = b"".join(chunks)
    return body


def parse_body(ctx: Any) -> Any:
    """Decode `ctx._raw_body` by the request content type (JSON, form, text), else `{}`."""
    raw = getattr(ctx, "_raw_body", b"")
    ctype = ctx.get("content-type").split(";", 1)[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # 1000-deep nesting too
            raise HttpError(400, "Invalid JSON body") from None
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qs(raw.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise HttpError(400, "Invalid form body") from None
        return {k: v[0] if len(v) == 1 else v for k, v in pairs.items()}
    if ctype.startswith("text/"):
        return raw.decode(errors="replace")
    return {}
