"""The control socket's file: checking its directory, taking its name, giving it back.

The CLI picks the path (`control_path` in the cluster options, docs/INTERNALS.md §1); the
master never computes it, so the two can never disagree about where it lives. What the
master does is refuse an unsafe place and a name a live master already holds:

- the directory must be a real directory (not a symlink) owned by the master's uid with no
  access for group or others: the socket's own mode is not a security boundary on every
  system, a 0700 directory is (gunicorn's control socket, created in a shared directory
  with default permissions, was reachable by other users);
- the name is taken atomically: the socket is bound under a private temporary name and
  hard-linked to the final one, and `link()` fails if the name exists. Two masters of one
  title starting at the same instant cannot both win; the loser sees a live socket.
- a name left by a SIGKILLed master (nobody accepts on it: connect is refused) is stale
  and removed; a live one means another master runs: the start fails.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from runtime.contract import paths
from runtime.process.errors import StartupError

BACKLOG = 16


def check_directory(path: str) -> None:
    """Raise StartupError (one line) unless `path` is a directory only this user can enter:
    the CLI's rule (runtime/contract/paths.py), so both ends judge a directory alike."""
    try:
        if paths.check_dir(path):
            return
    except paths.UnsafeDir as exc:
        raise StartupError(f"control directory {exc}") from None
    raise StartupError(f"control directory {path}: No such file or directory")


def is_live(path: str) -> bool:
    """Whether a process accepts connections on the Unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:  # ECONNREFUSED (stale), ENOENT (gone), anything else: nobody there
        return False
    finally:
        probe.close()
    return True


def bind(path: str) -> tuple[socket.socket, int]:
    """A listening, non-blocking socket at `path` and its inode (to unlink only our own)."""
    check_directory(os.path.dirname(path))
    # Short, whatever the title: the final name is as long as sun_path allows.
    temp = os.path.join(os.path.dirname(path), f".{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)  # ours by name: a previous master with our pid died here
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(0o177)  # born 0600: never a moment with a wider mode
        try:
            sock.bind(temp)
        finally:
            os.umask(old_umask)
        sock.listen(BACKLOG)
        sock.setblocking(False)
        inode = os.stat(temp).st_ino
        _take_name(temp, path)
    except BaseException:
        sock.close()
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return sock, inode


def inherit(fd: int, path: str) -> tuple[socket.socket, int]:
    """The socket at `path` an upgrading master handed down as `fd`, and its inode: the
    name is already taken (by the same socket), so nothing is bound."""
    try:
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        inode = os.stat(path).st_ino
    except OSError as exc:
        raise StartupError(f"upgrade: cannot adopt the control socket {path}: {exc}") from None
    sock.setblocking(False)
    return sock, inode


def _take_name(temp: str, path: str) -> None:
    for _ in range(2):
        try:
            os.link(temp, path)
            return
        except FileExistsError:
            if is_live(path):
                raise StartupError(
                    f"control socket {path} is in use: a master with this title is running"
                ) from None
            remove_stale(path)
        except OSError as exc:
            raise StartupError(f"control socket {path}: {exc.strerror}") from None
    raise StartupError(f"control socket {path}: could not take the name")


def remove_stale(path: str) -> None:
    """Unlink a socket nobody listens on (left by a master that was SIGKILLed)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)


def release(path: str, inode: int) -> None:
    """Unlink `path` if it is still our socket (a new master may have taken the name)."""
    with contextlib.suppress(OSError):  # cleanup never fails the master's exit
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
