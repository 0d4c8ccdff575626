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
from collections.abc import MutableMapping

from runtime.process.errors import StartupError

BACKLOG = 2048
# sd_listen_fds(3): passed sockets start at fd 3, in the order of the .socket unit.
LISTEN_FDS_START = 3
ACTIVATION_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


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
    """The host to print in a URL: for a wildcard bind, `$HOST` (egg-cluster's), else the
    address actually bound (`0.0.0.0`: every interface, not only 127.0.0.1)."""
    if host in ("0.0.0.0", "", "::"):
        env_host = os.environ.get("HOST", "").strip()
        if env_host and env_host != "0.0.0.0":
            return env_host
        host = host or "0.0.0.0"
    return f"[{host}]" if ":" in host else host


def activated_listener(
    environ: MutableMapping[str, str] | None = None, name: str = "http"
) -> socket.socket | None:
    """The listening socket systemd passed us (socket activation), or None.

    With `LISTEN_PID` equal to our pid and `LISTEN_FDS=n`, fds 3..3+n-1 are sockets systemd
    bound for us: the master serves on them instead of binding, so a master restart refuses
    no connection (they wait in the kernel's backlog). `start` in the foreground execs the
    master, so the pid systemd started is the master's. The socket named `name` in
    `LISTEN_FDNAMES` (`FileDescriptorName=` in the unit) wins, else the first. The
    variables are removed, as sd_listen_fds(unset_environment=1) does: the agent and the
    workers must not take the fds for theirs. Passed fds lack FD_CLOEXEC; every one gets it
    here, so a spawned agent never inherits one by accident.
    """
    env = os.environ if environ is None else environ
    raw_pid, raw_fds = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    names = env.get("LISTEN_FDNAMES", "")
    for key in ACTIVATION_ENV:
        env.pop(key, None)
    if not raw_fds or not raw_pid:
        return None
    try:
        if int(raw_pid) != os.getpid():
            return None  # meant for another process (e.g. a wrapper that did not exec)
        count = int(raw_fds)
    except ValueError:
        raise StartupError(
            f"socket activation: bad LISTEN_PID={raw_pid!r} or LISTEN_FDS={raw_fds!r}"
        ) from None
    fds = list(range(LISTEN_FDS_START, LISTEN_FDS_START + count))
    if not fds:
        return None
    for fd in fds:
        try:
            os.set_inheritable(fd, False)
        except OSError:
            raise StartupError(
                f"socket activation: LISTEN_FDS={count} but fd {fd} is not open"
            ) from None
    labels = names.split(":") if names else []
    chosen = fds[labels.index(name)] if name in labels[: len(fds)] else fds[0]
    return adopt_listener(chosen)


def handed_listener(fd: int) -> socket.socket:
    """The listening socket an upgrading master handed its successor (`listen_fd`,
    runtime/master/lifecycle/upgrade.py): the same socket, adopted as a socket-activated one is,
    with the fd named explicitly instead of by LISTEN_FDS (the old master cannot know the new
    one's pid before it runs, which LISTEN_PID needs)."""
    try:
        os.set_inheritable(fd, False)
    except OSError:
        raise StartupError(f"upgrade: the handed-over listening fd {fd} is not open") from None
    sock = adopt_listener(fd)
    if sock.family == socket.AF_UNIX:  # its file is ours to remove now (keep_unix_path)
        atexit.register(_unlink_if_owner, sock.getsockname(), os.getpid())
    return sock


def keep_unix_path() -> None:
    """The Unix socket file now belongs to a successor master: do not remove it at exit."""
    atexit.unregister(_unlink_if_owner)


def adopt_listener(fd: int) -> socket.socket:
    """Wrap an inherited listening fd, checked and ready for uvicorn.

    asyncio only sets TCP_NODELAY when `sock.proto == IPPROTO_TCP`; an inherited
    TCP socket re-created with protocol 0 would cost ~43 ms per request. The proto is read
    from the kernel (SO_PROTOCOL) and forced to IPPROTO_TCP for TCP sockets if it is not."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise StartupError(f"socket activation: fd {fd} is not a socket ({exc.strerror})") from None
    if sock.type != socket.SOCK_STREAM or sock.family not in (
        socket.AF_INET,
        socket.AF_INET6,
        socket.AF_UNIX,
    ):
        sock.detach()
        raise StartupError(f"socket activation: fd {fd} is not a stream socket (use ListenStream=)")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise StartupError(f"socket activation: fd {fd} is not listening")
    if sock.family != socket.AF_UNIX and sock.proto != socket.IPPROTO_TCP:
        family = sock.family
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=sock.detach())
    sock.setblocking(False)
    return sock
