"""uvicorn's sans-I/O `websockets` protocol, imported on a worker's first WebSocket upgrade.

Handing uvicorn the implementation by name makes `Config.load()` import it, and with it the
`websockets` package, in every worker (or, preloaded, in the master and every process forked
from it), whether or not the app ever sees an upgrade. This stand-in is what uvicorn
instantiates per upgraded connection; it builds uvicorn's own protocol instead, so upgrades
behave exactly as with `ws="websockets-sansio"`, and the import happens once per worker, on
the first upgrade.
"""

from __future__ import annotations

import asyncio
from typing import Any


class LazyWebSocketProtocol(asyncio.Protocol):
    def __new__(cls, *args: Any, **kwargs: Any) -> asyncio.Protocol:  # type: ignore[misc]
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

        return WebSocketsSansIOProtocol(*args, **kwargs)
