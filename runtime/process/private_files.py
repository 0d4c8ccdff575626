"""Owner-only files and directories (logs and `run/*.json` are 0600 / 0700, docs/DEPLOY.md).

Log lines and the config dump carry request data, hostnames and half-masked settings;
created with the default umask they were readable by every local user. Everything the
cluster creates for itself goes through here: directories 0700, files 0600.

Only what we create is restricted: an existing file or directory keeps its mode, since an
operator may have opened it on purpose (a log shipper running as another user).

With `--user`/`--group` the master runs as root but its children do not; what the master
creates must then belong to the user the children run as, or a worker could not append
to the `common-error.log` the master opened first. The master exports that owner in
`ENV_RUN_AS` (runtime/process/privileges.py) and every creation here hands the new path over.
"""

from __future__ import annotations

import contextlib
import os

from runtime.contract.safe_open import DIR_MODE, make_dirs, open_file

ENV_RUN_AS = "EGGSCRIPTS_RUN_AS"  # "uid:gid" of the children, set by a root master


def run_as_owner() -> tuple[int, int] | None:
    """(uid, gid) new paths must belong to, when a root master runs children as another
    user; None otherwise (then they simply belong to whoever creates them)."""
    value = os.environ.get(ENV_RUN_AS)
    if not value or os.geteuid() != 0:
        return None
    uid, _, gid = value.partition(":")
    try:
        return int(uid), int(gid)
    except ValueError:
        return None


def hand_over(path: str | int) -> None:
    """Give `path` (or an open fd) to the children's account, if they run as another."""
    owner = run_as_owner()
    if owner is not None:
        with contextlib.suppress(OSError):
            if isinstance(path, int):
                os.fchown(path, *owner)
            else:
                os.chown(path, *owner)


def make_private_dirs(path: str) -> None:
    """`os.makedirs(path)`, every directory it creates 0700 (makedirs applies its mode to
    the last component only, and through the umask)."""
    if make_dirs(
        path, run_as_owner()
    ):  # a root master of another user's children: checked on the way
        return
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
            continue
        os.chmod(directory, DIR_MODE)  # the umask may have removed bits, never added any
        hand_over(directory)


def open_private(path: str, flags: int = os.O_WRONLY | os.O_APPEND) -> int:
    """Open (creating it 0600 if missing) and return the fd, close-on-exec; never through
    a link another user can change (runtime/contract/safe_open.py)."""
    fd, created = open_file(path, run_as_owner(), flags)
    if created:
        hand_over(fd)
    return fd


def write_private(path: str, text: str) -> None:
    """Replace `path` atomically with `text` (a 0600 file renamed over it): N processes
    writing the same file never leave a torn one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a crashed writer's leftover must not lend us its mode
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
