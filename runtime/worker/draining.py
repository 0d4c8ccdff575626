"""uvicorn's httptools protocol, with a graceful shutdown that drops no request.

On shutdown uvicorn closes every connection with no request in progress at once. Two kinds
of such connection may have a request already on its way: one accepted just before the
worker stopped accepting (its request bytes are still in flight), and a keep-alive
connection whose client is sending its next request. Closing them loses that request
(`RemoteDisconnected` at the client), which is exactly what a rolling reload or a
scale-down must never do. So a draining worker keeps such a connection open for
`DRAIN_GRACE` seconds: a request that arrives is served with `Connection: close` (the
client reconnects, to another worker), and a connection that stays silent is closed.
"""

from __future__ import annotations

import asyncio

from runtime.worker.eager import EagerHttpToolsProtocol

DRAIN_GRACE = 1.0


class DrainingHttpToolsProtocol(EagerHttpToolsProtocol):
    draining = False
    _drain_timer: asyncio.TimerHandle | None = None

    def shutdown(self) -> None:
        """uvicorn's shutdown, except that an idle connection gets `DRAIN_GRACE` seconds."""
        self.draining = True
        if self.cycle is None or self.cycle.response_complete:
            self._drain_timer = self.loop.call_later(DRAIN_GRACE, self._close_if_idle)
        else:
            super().shutdown()  # a request in progress: answered with `Connection: close`

    def _request_while_draining(self) -> None:
        """A request's headers completed on a draining connection: it is answered with
        `Connection: close`. Called by the subclass's `on_headers_complete` when `draining`
        (http_protocol.py): an override here would cost every request a call."""
        if self.cycle is not None:
            self.cycle.keep_alive = False
            if self._drain_timer is not None:
                self._drain_timer.cancel()
                self._drain_timer = None

    def _close_if_idle(self) -> None:
        self._drain_timer = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        super().connection_lost(exc)
