"""The master's side of the title lock (`runtime/contract/locks.py` documents the lock).

The lock file sits next to the control socket `start` chose (`control_path`); a master
started without one resolves the same directory itself (`runtime/contract/paths.py`).
"""

from __future__ import annotations

import dataclasses
import os

from runtime.contract import locks, paths
from runtime.process.errors import StartupError, report


def lock_file(title: str, control_path: str | None) -> str:
    if control_path:
        return paths.lock_path(title, os.path.dirname(control_path))
    try:
        place = paths.ensure_dir()
    except paths.UnsafeDir as exc:
        raise StartupError(f"no private directory for the title lock: {exc}") from None
    if place.notice:
        report(f"warning: {place.notice}")
    return paths.lock_path(title, place.directory)


@dataclasses.dataclass(frozen=True)
class HeldLock:
    fd: int
    path: str
    pid: int  # the holder: forked children share the descriptor but must not remove it


def hold_title(
    title: str,
    inherited_fd: int | None = None,
    control_path: str | None = None,
    claim_title: bool = True,
) -> HeldLock:
    """Hold the title's lock for the life of this process. Raises StartupError (one line)
    when another cluster holds it. `claim_title=False`: a new master started by an upgrade
    shares the old master's open file, so the lock never has a moment without an owner; it
    writes its pid there (`claim`) only once the old master has let go
    (runtime/master/lifecycle/successor.py)."""
    path = lock_file(title, control_path)
    try:
        fd = locks.acquire(path, inherited_fd, claim_title)
    except locks.LockBusy as exc:
        raise StartupError(locks.busy_message(title, exc.holder)) from None
    except OSError as exc:
        raise StartupError(f"cannot take the title lock {path}: {exc}") from None
    return HeldLock(fd, path, os.getpid())


def release_title(held: HeldLock) -> None:
    """Remove the lock file of a cluster that has stopped, in its holder only."""
    if os.getpid() == held.pid:
        locks.release(held.fd, held.path)
