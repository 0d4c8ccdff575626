"""Serving the connections still queued in the listen backlog when a worker stops.

A client whose connection the kernel has completed but no worker has accepted yet sits in
the listening socket's backlog. When the last fd of that socket closes, the kernel resets
every such connection (gunicorn #2593, #3397). Measured here before this module: two
workers busy in slow requests at the moment the drain began, 20 requests queued behind
them, 18 reset. The master closes its own copy of the listener first, then each worker
closes its copy as it stops, so the last worker to stop is the one that must take them.

So every stopping worker, after its event loop stops accepting and just before it lets go
of the listener, accepts (non-blocking) everything still queued and serves it like any
connection of the drain (answered with `Connection: close`). The accept loop runs until
EAGAIN and the fd is closed right after, with no await in between: what a stopping
cluster can still lose is a connection completed in those microseconds, after the
shutdown delay already took the pod out of the load balancer. The loop's own listener is
a dup of the same socket, so closing it does not close the one drained here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

log = logging.getLogger("eggscripts.app")


def take_queued(listener: socket.socket) -> list[socket.socket]:
    """Accept every connection waiting in the backlog now, then close `listener`."""
    queued: list[socket.socket] = []
    try:
        listener.setblocking(False)
        while True:
            conn, _ = listener.accept()
            queued.append(conn)
    except OSError:  # BlockingIOError: the backlog is empty; anything else: give up
        pass
    finally:
        listener.close()
    return queued


async def serve_queued(
    queued: list[socket.socket],
    protocol_factory: Callable[[], asyncio.Protocol],
    tls: ssl.SSLContext | None = None,
) -> None:
    """Hand each accepted connection to the event loop, as the server's accept would."""
    loop = asyncio.get_running_loop()
    for conn in queued:
        conn.setblocking(False)
        try:
            await loop.connect_accepted_socket(protocol_factory, conn, ssl=tls)
        except Exception as exc:  # one broken connection must not stop the drain
            log.warning("could not serve a queued connection: %s", exc)
            with contextlib.suppress(OSError):
                conn.close()
    if queued:
        log.info("serving %d connection(s) still queued in the listen backlog", len(queued))
