"""ASGI 3 types, named once for the HTTP layer (the shapes of the ASGI specification).

Type hints only: the hot path never checks them. A `Scope` is a plain dict here (the
server builds it); messages are plain dicts too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
