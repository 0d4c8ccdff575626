"""Where a cluster's control socket and title lock live: one rule, no configuration.

Both sit in one private directory, the first usable of:

1. `$XDG_RUNTIME_DIR/eggscripts/` when the session has a runtime directory (systemd gives
   every logged-in user a private tmpfs there), else `<temp dir>/eggscripts-<uid>/`
   (`$TMPDIR` honoured, `/tmp` by default);
2. `~/.local/state/eggscripts/run/` when that directory is unusable: not a directory, not
   owned by this user, or open to group/others (another local user may create
   `/tmp/eggscripts-<uid>` before we do, and we could then never remove it). Only this user
   can write in their home, so nobody can take this one away.

The socket is `<title>.sock`, the lock `<title>.lock`. `start` resolves the directory and
hands the socket's full path to the master (`control_path`, docs/INTERNALS.md §1); the
master takes the lock next to it; `status`, `scale` and `reload` resolve the same
directory from the title. A directory is never "fixed" by chmod or used anyway: the
caller prints the `notice` (one line) and the fallback is used.
"""

from __future__ import annotations

import dataclasses
import os
import stat

SOCKET = ".sock"
LOCK = ".lock"
# sun_path holds 108 bytes with its NUL; long titles get a shortened, hashed name.
MAX_PATH = 100


class UnsafeDir(Exception):
    """A directory for sockets and locks exists but is not private to this user."""


@dataclasses.dataclass(frozen=True)
class Place:
    """The directory to use; `notice` says (one line) why the preferred one was not."""

    directory: str
    notice: str | None = None


def preferred_dir() -> str:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isabs(runtime_dir):
        return os.path.join(runtime_dir, "eggscripts")
    return os.path.join(temp_dir(), f"eggscripts-{os.geteuid()}")


TEMP_VARS = ("TMPDIR", "TEMP", "TMP")
TEMP_DIRS = ("/tmp", "/var/tmp", "/usr/tmp")


def temp_dir() -> str:
    """`tempfile.gettempdir()`'s first candidates, in its order: the environment's, then
    the usual directories, the first writable one. Importing tempfile (shutil, bz2, lzma,
    random) was an eighth of every CLI command's CPU, for a lookup that ends at `/tmp`
    (or `$TMPDIR`) on any usable system; when none of these is writable, tempfile decides
    (it also tries the current directory)."""
    for candidate in (*(os.environ.get(name) for name in TEMP_VARS), *TEMP_DIRS):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return os.path.abspath(candidate)
    import tempfile

    return tempfile.gettempdir()


def fallback_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".local", "state", "eggscripts", "run")


def check_dir(directory: str) -> bool:
    """True if `directory` is safe to use, False if it does not exist; raises UnsafeDir
    (one line) when it exists but is not private to this user."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UnsafeDir(f"{directory}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDir(f"{directory} is not a directory")
    if st.st_uid != os.geteuid():
        raise UnsafeDir(f"{directory} belongs to uid {st.st_uid}, not to you")
    if st.st_mode & 0o077:
        raise UnsafeDir(f"{directory} has mode {stat.S_IMODE(st.st_mode):o}, not 700")
    return True


def find_dir() -> Place:
    """The directory in use, without creating anything (`status`, `scale`, `reload`)."""
    preferred = preferred_dir()
    try:
        check_dir(preferred)
    except UnsafeDir as exc:
        return Place(fallback_dir(), _notice(exc))
    return Place(preferred)


def ensure_dir() -> Place:
    """The directory to use, created 0700 if missing (`start`, a master started without
    `control_path`); raises UnsafeDir only when the fallback is unusable too."""
    preferred = preferred_dir()
    try:
        return Place(_ensure(preferred, parents=False))
    except UnsafeDir as exc:
        return Place(_ensure(fallback_dir(), parents=True), _notice(exc))


def _notice(exc: UnsafeDir) -> str:
    return f"{exc}; using {fallback_dir()} instead"


def _ensure(directory: str, parents: bool) -> str:
    if not check_dir(directory):
        try:
            if parents:
                os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # created meanwhile by a concurrent start (or a squatter): checked below
        except OSError as exc:
            raise UnsafeDir(f"cannot create {directory}: {exc.strerror}") from None
        check_dir(directory)
    return directory


def named_path(title: str, directory: str, suffix: str) -> str:
    """`<directory>/<title><suffix>`, shortened with a hash when too long for a socket."""
    path = os.path.join(directory, title + suffix)
    if len(os.fsencode(path)) <= MAX_PATH:
        return path
    import hashlib

    digest = hashlib.sha256(title.encode()).hexdigest()[:16]
    room = max(MAX_PATH - len(os.fsencode(directory)) - len(suffix) - 18, 1)
    return os.path.join(directory, f"{title[:room]}-{digest}{suffix}")


def socket_path(title: str, directory: str) -> str:
    return named_path(title, directory, SOCKET)


def lock_path(title: str, directory: str) -> str:
    return named_path(title, directory, LOCK)
