"""The one listening socket every app worker accepts on (owned by the master).

Created with `IPPROTO_TCP` explicitly: asyncio only sets TCP_NODELAY when `sock.proto` is
IPPROTO_TCP, and without it uvicorn's separate header/body writes meet Nagle + delayed ACK
(~43 ms per request). SO_REUSEADDR only, never SO_REUSEPORT: a second cluster on the same
port must fail to bind, not silently share the traffic.
"""

from __future__ import annotations

import errno
import socket

from runtime.errors import StartupError

BACKLOG = 2048


def bind_listener(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot resolve hostname {host!r}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} is already in use on {host} (choose another --port or stop "
                "what listens there)"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(f"permission denied binding {host}:{port}") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def url_host(host: str) -> str:
    """The host to print in a URL: wildcard binds are reachable on 127.0.0.1."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
