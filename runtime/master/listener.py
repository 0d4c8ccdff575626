"""The one listening socket every app worker accepts on (owned by the master).

Created with `IPPROTO_TCP` explicitly: asyncio only sets TCP_NODELAY when `sock.proto` is
IPPROTO_TCP, and without it uvicorn's separate header/body writes meet Nagle + delayed ACK
(~43 ms per request). SO_REUSEADDR only, never SO_REUSEPORT: a second cluster on the same
port must fail to bind, not silently share the traffic.

The app config's `cluster.listen.path` (egg's) makes it a Unix socket instead (absolute:
the loader resolves it against BASE_DIR). A socket file left by a cluster that died is
replaced; one something still listens on is "in use", like a port. Its mode is the
umask's (0777 & ~umask, as node's) unless `cluster.listen.mode` says otherwise; the file is
removed when the master exits.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import socket
import stat

from runtime.errors import StartupError

BACKLOG = 2048


def bind_listener(
    host: str, port: int, path: str | None = None, mode: int | None = None
) -> socket.socket:
    """The listening socket: TCP on host:port, or the Unix socket `path` when given."""
    if path:
        return bind_unix(path, mode)
    return bind_tcp(host, port)


def bind_unix(path: str, mode: int | None = None) -> socket.socket:
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on unix socket {path}: {exc.strerror}") from None
    owner = os.getpid()
    atexit.register(_unlink_if_owner, path, owner)
    sock.setblocking(False)
    return sock


def _remove_stale(path: str) -> None:
    """A socket file nobody listens on is a dead cluster's leftover: remove it. One that
    accepts connections is in use; anything else at that path is not ours to delete."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StartupError(f"cannot use unix socket path {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(info.st_mode):
        raise StartupError(f"cannot listen on {path}: it exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise StartupError(f"unix socket {path} is already in use (another server listens there)")


def _unlink_if_owner(path: str, owner: int) -> None:
    if os.getpid() == owner:  # never from a forked child that inherited the hook
        with contextlib.suppress(OSError):
            os.unlink(path)


def listening_port(sock: socket.socket) -> int | None:
    """The TCP port a listener is bound to; None for a Unix socket."""
    if sock.family == socket.AF_UNIX:
        return None
    return int(sock.getsockname()[1])


def listener_url(sock: socket.socket | None, host: str, port: int | None, https: bool) -> str:
    """What `started on` prints: `http(s)://host:port`, or the socket path (as egg)."""
    if sock is not None and sock.family == socket.AF_UNIX:
        with contextlib.suppress(OSError):  # closed: the master is closing
            return str(sock.getsockname())
        return "unix socket"
    scheme = "https" if https else "http"
    return f"{scheme}://{url_host(host)}:{port}"


def bind_tcp(host: str, port: int) -> socket.socket:
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
    """The host to print in a URL: for a wildcard bind, `$HOST` (egg-cluster's), else
    127.0.0.1, where a wildcard bind is reachable."""
    if host in ("0.0.0.0", "", "::"):
        env_host = os.environ.get("HOST", "").strip()
        return env_host if env_host and env_host != "0.0.0.0" else "127.0.0.1"
    return f"[{host}]" if ":" in host else host
