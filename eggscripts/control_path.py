"""Where a cluster's control socket lives: one rule, owned by the CLI, no configuration.

`$XDG_RUNTIME_DIR/eggscripts/` when the session has a runtime directory (systemd gives
every logged-in user a private tmpfs there), else `<temp dir>/eggscripts-<uid>/`; the
socket is `<title>.sock` inside. `start` hands the full path to the master
(`control_path`, docs/INTERNALS.md §1); `status`, `scale` and `reload` compute the same
path from the title. The runtime never computes it, so the two sides cannot drift apart
(gunicorn's default control path changed three times and broke deployments each time).

The directory is the security boundary: created 0700, and before every use checked to be
a real directory owned by this user with no group/other access. Anything else (a
directory another user planted in /tmp, a symlink) is refused with one line, never
"fixed" by chmod or used anyway.
"""

from __future__ import annotations

import os
import stat

from eggscripts.errors import EggScriptsError

SUFFIX = ".sock"
# sun_path holds 108 bytes with its NUL; long titles get a shortened, hashed name.
MAX_PATH = 100


class UnsafeControlDir(EggScriptsError):
    """The control directory exists but is not private to this user."""


def control_dir() -> str:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isabs(runtime_dir):
        return os.path.join(runtime_dir, "eggscripts")
    import tempfile  # not for every command: only here, and cheap enough then

    return os.path.join(tempfile.gettempdir(), f"eggscripts-{os.geteuid()}")


def socket_path(title: str, directory: str | None = None) -> str:
    directory = directory or control_dir()
    path = os.path.join(directory, title + SUFFIX)
    if len(os.fsencode(path)) <= MAX_PATH:
        return path
    import hashlib

    digest = hashlib.sha256(title.encode()).hexdigest()[:16]
    room = max(MAX_PATH - len(os.fsencode(directory)) - len(SUFFIX) - 18, 1)
    return os.path.join(directory, f"{title[:room]}-{digest}{SUFFIX}")


def check_dir(directory: str) -> bool:
    """True if `directory` is safe to use, False if it does not exist; raises
    UnsafeControlDir (one line) when it exists but is not private to this user."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UnsafeControlDir(f"control directory {directory}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeControlDir(f"control directory {directory} is not a directory; remove it")
    if st.st_uid != os.geteuid():
        raise UnsafeControlDir(
            f"control directory {directory} belongs to uid {st.st_uid}, not to you; "
            "remove it or set XDG_RUNTIME_DIR"
        )
    if st.st_mode & 0o077:
        raise UnsafeControlDir(
            f"control directory {directory} has mode {stat.S_IMODE(st.st_mode):o}, "
            "not 700; remove it or chmod 700 it"
        )
    return True


def ensure_dir(directory: str | None = None) -> str:
    """The control directory, created 0700 if missing, checked in any case."""
    directory = directory or control_dir()
    if not check_dir(directory):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # created meanwhile by a concurrent start: checked below like any other
        except OSError as exc:
            raise UnsafeControlDir(f"cannot create {directory}: {exc.strerror}") from None
        check_dir(directory)
    return directory
