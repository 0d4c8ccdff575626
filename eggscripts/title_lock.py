"""Taking a cluster's title lock before anything is launched (SPEC §4).

The lock itself belongs to the runtime (runtime/title_lock.py documents it): an exclusive
`flock` on `/tmp/eggscripts-<uid>/<title>.lock`. `start` takes it first, so of two starts
made at the same instant the second fails here, in one line, before it has spawned
anything that a cleanup could get wrong. The descriptor is then inherited by the master
(`lock_fd`), which keeps holding the very same lock for the cluster's life.
"""

from __future__ import annotations

import fcntl
import os
import stat

from eggscripts.errors import AlreadyRunning, EggScriptsError


def take(title: str) -> int:
    """An inheritable descriptor holding the title's lock; raises AlreadyRunning."""
    directory = f"/tmp/eggscripts-{os.getuid()}"
    try:
        if not os.path.lexists(directory):
            os.mkdir(directory, 0o700)
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o77:
            raise EggScriptsError(f"{directory} must be a 0700 directory of yours (it holds locks)")
        fd = os.open(os.path.join(directory, f"{title}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except FileExistsError:
        return take(title)  # a concurrent start created the directory first
    except OSError as exc:
        raise EggScriptsError(f"cannot take the title lock in {directory}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise AlreadyRunning(
            f"a cluster titled {title} is already running or starting{pid}; stop it first: "
            f"eggscripts stop --title={title}"
        ) from None
    os.set_inheritable(fd, True)
    return fd
