"""One cluster per title and user, atomically (SPEC §4, issue 9 defect 5).

Looking for running processes by title cannot stop two starts made at the same instant:
both look, both find nothing, both start. An exclusive `flock` on a per-user, per-title
file can: the kernel grants it to one process only, and releases it when the last
descriptor of it closes, so a crashed or SIGKILLed cluster never leaves a stale lock.

`eggscripts start` takes the lock before it launches anything and hands the descriptor
down (`lock_fd`); the master checks it is still the holder and keeps it for its whole life.
A master started directly (`python -m runtime.start_cluster`) takes the lock itself. Forked
app workers share the master's descriptor, so the title is free again only when the last
process of the cluster has exited; the agent (a new interpreter) does not get it.

Location: `/tmp/eggscripts-<uid>/<title>.lock`, a fixed path so every start of the user
sees the same lock whatever its `$TMPDIR` or `$HOME`. The directory must be the user's own
and 0700, or the start is refused (another user could otherwise hold our locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat

from runtime.errors import StartupError

LOCK_ROOT = "/tmp"


def lock_dir() -> str:
    return os.path.join(LOCK_ROOT, f"eggscripts-{os.getuid()}")


def lock_path(title: str) -> str:
    return os.path.join(lock_dir(), f"{title}.lock")


def _private_dir(path: str) -> str:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise StartupError(
            f"refusing to use {path} for the title locks: it must be a directory owned by "
            f"uid {os.getuid()} with mode 0700 (found uid {st.st_uid}, mode "
            f"{stat.S_IMODE(st.st_mode):o})"
        )
    return path


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip() or 0)
        if pid:
            return f" (pid {pid})"
    return ""


def _is_our_lock_file(fd: int, path: str) -> bool:
    with contextlib.suppress(OSError):
        mine, there = os.fstat(fd), os.stat(path)
        return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
    return False


def hold_title(title: str, inherited_fd: int | None = None, claim_title: bool = True) -> int:
    """Hold the title's lock for the life of this process; returns its descriptor.

    `inherited_fd`: the lock `eggscripts start` already took (flock on the same open file
    succeeds for whoever shares it). Raises StartupError when another cluster holds it.
    `claim_title=False`: a new master started by an upgrade shares the old master's open file,
    so the lock never has a moment without an owner; it writes its pid there (`claim`)
    only once the old master has let go (runtime/master/successor.py).
    """
    try:
        path = os.path.join(_private_dir(lock_dir()), f"{title}.lock")
        fd = inherited_fd
        if fd is None or not _is_our_lock_file(fd, path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.set_inheritable(fd, False)  # the agent's interpreter must not hold it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StartupError(
                f"a cluster titled {title} is already running or starting{holder}; stop it "
                f"first: eggscripts stop --title={title}"
            ) from None
        if claim_title:
            claim(fd)
    except OSError as exc:
        raise StartupError(f"cannot take the title lock in {lock_dir()}: {exc}") from None
    return fd


def claim(fd: int) -> None:
    """Write our pid into the lock file: the pid a refused start names as the holder."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
