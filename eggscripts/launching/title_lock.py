"""Taking a cluster's title lock before anything is launched.

The lock itself is part of the contract (runtime/contract/locks.py documents it): an
exclusive `flock` on `<title>.lock` next to the control socket. `start` takes it first, so
of two starts made at the same instant the second fails here, in one line, before it has
spawned anything that a cleanup could get wrong. The descriptor is then inherited by the
master (`lock_fd`), which keeps holding the very same lock for the cluster's life and
removes the file when the cluster stops.
"""

from __future__ import annotations

import os

from eggscripts.errors import AlreadyRunning, EggScriptsError
from runtime.contract import locks, paths


def take(title: str, directory: str) -> int:
    """An inheritable descriptor holding the title's lock; raises AlreadyRunning."""
    path = paths.lock_path(title, directory)
    try:
        fd = locks.acquire(path)
    except locks.LockBusy as exc:
        raise AlreadyRunning(locks.busy_message(title, exc.holder)) from None
    except OSError as exc:
        raise EggScriptsError(f"cannot take the title lock {path}: {exc}") from None
    os.set_inheritable(fd, True)
    return fd
