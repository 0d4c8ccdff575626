"""One cluster per title and user, atomically: the title lock.

Looking for running processes by title cannot stop two starts made at the same instant:
both look, both find nothing, both start. An exclusive `flock` on a per-user, per-title
file can: the kernel grants it to one process only, and releases it when the last
descriptor of it closes, so a crashed or SIGKILLed cluster never leaves a stale lock.

`eggscripts start` takes the lock before it launches anything and hands the descriptor
down (`lock_fd`); the master checks it holds the very same file and keeps it for its whole
life. A master started directly (`python -m runtime.start_cluster`) takes it itself. The
file is `<title>.lock` next to the control socket (`paths.py`) and is removed when the
cluster stops: `release` unlinks it while still holding it, and `acquire` retries when the
file it locked was unlinked meanwhile, so a removal never lets two holders in.
"""

from __future__ import annotations

import contextlib
import fcntl
import os


class LockBusy(Exception):
    """Another process holds the lock; `holder` is its pid when it wrote one."""

    def __init__(self, holder: int | None) -> None:
        super().__init__(f"held by pid {holder}" if holder else "held")
        self.holder = holder


def busy_message(title: str, holder: int | None) -> str:
    pid = f" (pid {holder})" if holder else ""
    return (
        f"a cluster titled {title} is already running or starting{pid}; stop it first: "
        f"eggscripts stop --title={title}"
    )


def acquire(path: str, inherited_fd: int | None = None, claim_it: bool = True) -> int:
    """A descriptor holding the lock at `path` (non-inheritable); raises LockBusy or
    OSError. `inherited_fd`: a descriptor of that file already locked by our launcher
    (a flock on the same open file succeeds for whoever shares it). `claim_it=False`: a
    new master started by `reload --upgrade` shares the old master's open file and writes
    its pid there (`claim`) only once the old one has let go."""
    for _ in range(100):
        fd = inherited_fd
        if fd is None or not same_file(fd, path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        inherited_fd = None
        os.set_inheritable(fd, False)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LockBusy(holder) from None
        if same_file(fd, path):
            if claim_it:
                claim(fd)
            return fd
        os.close(fd)  # its holder removed it as we locked it: lock the new file
    raise OSError(f"{path} keeps being replaced")


def claim(fd: int, pid: int | None = None) -> None:
    """Write our pid (or `pid`: an upgrading master names its successor before it lets go)
    into the lock file: the pid a refused start names as the holder, and the one owner
    that removes the file at exit."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid or os.getpid()}\n".encode(), 0)


def release(fd: int, path: str) -> None:
    """Remove the lock file (while still holding it), then close. Only the lock's owner
    (the pid written in it) removes it: after `reload --upgrade` the old master shares the
    open file with the new one, which has claimed it; a new master that failed never did."""
    with contextlib.suppress(OSError):
        if same_file(fd, path) and _holder(fd) == os.getpid():
            os.unlink(path)
    with contextlib.suppress(OSError):
        os.close(fd)


def same_file(fd: int, path: str) -> bool:
    with contextlib.suppress(OSError):
        mine, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
        return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
    return False


def _holder(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    return None
