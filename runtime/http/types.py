"""ASGI 3 types, named once for the HTTP layer (the shapes of the ASGI specification).

Type hints only: the hot path never checks them. A `Scope` is a plain dict here (the
server builds it); messages are plain dicts too. `HTTPScope` names the keys the Context
reads from an `http` scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:  # typing has it from Python 3.11 on; annotations are not evaluated
    from typing import NotRequired

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HTTPScope(TypedDict):
    """The keys of an `http` scope the Context reads (the server may send more)."""

    type: str
    method: str
    path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    scheme: NotRequired[str]
    client: NotRequired[tuple[str, int] | None]
    root_path: NotRequired[str]
