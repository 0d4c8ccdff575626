"""Rotating the daemon's stdout/stderr logs before a start, the way egg-scripts does.

A start begins with empty logs so that "anything in the stderr log" means "this start
wrote to stderr" (the daemon check relies on it), while the previous run's output is kept:
a non-empty log is renamed to `<file>.<YYYYMMDD>.<HHMMSS>`, never truncated or deleted.
"""

from __future__ import annotations

import os
import time
from typing import BinaryIO

from runtime.contract.safe_open import open_file


def rotated_name(path: str, now: float | None = None) -> str:
    """`<path>.<YYYYMMDD>.<HHMMSS>`, or with `.1`, `.2`... appended if that exists (two
    starts within one second must not overwrite each other's logs)."""
    stamp = time.strftime("%Y%m%d.%H%M%S", time.localtime(now))
    candidate = f"{path}.{stamp}"
    n = 0
    while os.path.lexists(candidate):
        n += 1
        candidate = f"{path}.{stamp}.{n}"
    return candidate


def make_private_parents(path: str) -> None:
    """Create the missing parent directories of `path`, each 0700 (log directories
    are owner-only, docs/DEPLOY.md; `os.makedirs` would give intermediate ones 0755)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        make_private_parents(parent)
        try:
            os.mkdir(parent, 0o700)
        except FileExistsError:
            return
        os.chmod(parent, 0o700)  # the umask may have removed bits, never added any


def open_private(path: str, owner: tuple[int, int] | None = None) -> BinaryIO:
    """Open a log for appending, creating it 0600 (owner-only) if it does not exist.

    `owner`: the account a root start runs the cluster's children as (`--user`); the file
    is then opened the way the root master reopens it at SIGUSR1, never through a link
    that account can change (runtime/contract/safe_open.py)."""
    fd, _ = open_file(path, owner, os.O_WRONLY | os.O_APPEND, by_app=False)
    return os.fdopen(fd, "ab")


def rotate(path: str, now: float | None = None) -> str | None:
    """Create the parent directory; rename a non-empty `path` aside. The new name, if any."""
    make_private_parents(path)
    try:
        if os.path.getsize(path) == 0:
            return None
    except FileNotFoundError:
        return None
    target = rotated_name(path, now)
    os.rename(path, target)
    return target
