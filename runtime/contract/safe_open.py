"""Opening the files a master writes so that no other account can redirect them.

With `--user`, the master runs as root while the app user owns the log directory (its
workers write there). Opening `<log dir>/master.log` by its path would follow whatever the
app user put there: a symbolic link to a root-only file, and the root master appends its
log lines to that file (at start, and again at every SIGUSR1 from logrotate). So a root
master whose children run as another user (`guarded`) opens its files like this:

- the path is walked one directory at a time from `/`, each opened relative to the one
  before (`dir_fd`) with `O_NOFOLLOW`. A symbolic link is followed only where root alone
  could have made it (a directory owned by root and writable by nobody else, e.g.
  `/var/run -> /run`); anywhere else the open is refused.
- the file itself is opened `O_NOFOLLOW | O_CLOEXEC` relative to its directory and must be
  a regular file with no other hard link (a hard link to `/etc/shadow` is no symlink).
- a directory named by the app (the app config's `logger.dir`, reported by an agent that
  runs the app's code) must belong to the app user, and the master creates a missing one
  only inside a directory of the app user's: the app cannot make the root master write
  into, or create directories in, `/etc` by naming it.

A refusal is an `UnsafePath` (an `OSError`) whose message names the path and why; the
callers turn it into their one line (a failed start, or the log writer's one warning).

Without `--user` (or not as root) nothing changes, except that a file in a directory the
running user does not own is opened `O_NOFOLLOW`: another user's link (in a shared group
directory, say) never redirects our writes into one of our own files. A link in our own
directory is followed as before (a `master.log -> /dev/stdout` in a container keeps
working). docs/DEPLOY.md says what a root master writes where.

Only the standard library: the runtime opens its log files through here, and the CLI the
daemon's stdout/stderr logs (a root `start --daemon --user` opens them before the master
exists), so both open them the same way.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat

DIR_MODE = 0o700
FILE_MODE = 0o600
MAX_LINKS = 40  # symbolic links followed in one path, as the kernel allows


class UnsafePath(OSError):
    """The path is not one the master may open; `strerror` says why, naming it."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(errno.EPERM, f"{path} {why}", path)


def guarded(owner: tuple[int, int] | None) -> tuple[int, int] | None:
    """`owner` (uid, gid of the children) when this process is root and they run as
    another user; None when there is nobody to guard against."""
    if os.geteuid() != 0 or owner is None or owner[0] == 0:
        return None
    return owner


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _root_only(fd: int) -> bool:
    """Only root can change the entries of this directory."""
    st = os.fstat(fd)
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


class _Walk:
    """One guarded resolution of a path: the directory fds, the links followed."""

    def __init__(self, owner: tuple[int, int], by_app: bool) -> None:
        self.uid, self.gid = owner
        self.by_app = by_app  # the app named it: its directories must be the app user's
        self.links = 0

    def refuse_link(self, path: str, dir_fd: int) -> UnsafePath:
        owner = os.fstat(dir_fd).st_uid
        who = _user(owner) if owner != 0 else "a group or others"
        return UnsafePath(
            path,
            f"is a symbolic link in a directory {who} can change; a root master running "
            f"children as {_user(self.uid)} (--user) does not follow it",
        )

    def follow(self, fd: int, name: str, path: str, parent: str) -> str | None:
        """The target of `name` if it is a link root alone made; None if no link."""
        try:
            target = os.readlink(name, dir_fd=fd)
        except OSError:
            return None
        if not _root_only(fd):
            raise self.refuse_link(path, fd)
        self.links += 1
        if self.links > MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        return os.path.normpath(os.path.join(parent, target))

    def directory(self, path: str, create: bool = False) -> int:
        """An fd of directory `path`, reached without a link the app user can change."""
        fd = os.open("/", _ROOT_FLAGS)
        parts = [p for p in os.path.abspath(path).split("/") if p]
        done = "/"
        try:
            while parts:
                name = parts.pop(0)
                here = os.path.join(done, name)
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    child = self.make(fd, name, here, done)
                except OSError as exc:  # ELOOP / ENOTDIR: a link, or not a directory
                    target = self.follow(fd, name, here, done)
                    if target is None:
                        raise OSError(exc.errno, exc.strerror, here) from None
                    os.close(fd)
                    fd = os.open("/", _ROOT_FLAGS)
                    parts = [p for p in target.split("/") if p] + parts
                    done = "/"
                    continue
                os.close(fd)
                fd, done = child, here
            if self.by_app:
                self.check_app_dir(fd, done)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def make(self, parent_fd: int, name: str, path: str, parent: str) -> int:
        """Create one missing directory (0700; the app user's when the app named it)."""
        if self.by_app:
            self.check_app_dir(parent_fd, parent, f"cannot create {name} in it: ")
        try:
            os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        fd = os.open(name, _DIR_FLAGS & ~os.O_PATH, dir_fd=parent_fd)  # fchmod needs it
        try:
            os.fchmod(fd, DIR_MODE)  # the umask may have removed bits, never added any
            if self.by_app:
                os.fchown(fd, self.uid, self.gid)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def check_app_dir(self, fd: int, path: str, doing: str = "") -> None:
        owner = os.fstat(fd).st_uid
        if owner != self.uid:
            raise UnsafePath(
                path,
                f"belongs to {_user(owner)}, not to {_user(self.uid)} (--user): {doing}"
                "a root master writes the app's logs only in the app user's own directories",
            )


_NOT_REGULAR = "is not a regular file; a root master does not open it"
# O_PATH: a directory we may search but not list (mode 0711) can still be walked.
_ROOT_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_DIR_FLAGS = _ROOT_FLAGS | os.O_NOFOLLOW


def make_dirs(path: str, owner: tuple[int, int] | None, *, by_app: bool = True) -> bool:
    """Guarded: create the missing directories of `path` (see `_Walk.make`). Returns
    False when there is nobody to guard against (the caller does as it always did)."""
    account = guarded(owner)
    if account is None:
        return False
    os.close(_Walk(account, by_app).directory(path, create=True))
    return True


def open_file(
    path: str,
    owner: tuple[int, int] | None,
    flags: int = os.O_WRONLY | os.O_APPEND,
    *,
    by_app: bool = True,
) -> tuple[int, bool]:
    """Open `path` for writing, creating it 0600 if missing; returns (fd, created).

    `owner`: (uid, gid) the children run as (`--user`), None without. `by_app`: the app
    named the directory (log files); False for paths from root's own command line (the
    daemon's stdout/stderr logs)."""
    account = guarded(owner)
    walk = _Walk(account, by_app) if account is not None else None
    for _ in range(MAX_LINKS):
        parent, name = os.path.split(os.path.abspath(path))
        dir_fd = walk.directory(parent) if walk is not None else os.open(parent, _ROOT_FLAGS)
        try:
            mine = os.fstat(dir_fd).st_uid == os.geteuid()
            nofollow = 0 if walk is None and mine else os.O_NOFOLLOW
            try:
                return _open_at(dir_fd, name, path, flags | nofollow, strict=walk is not None)
            except OSError as exc:
                if exc.errno != errno.ELOOP or not nofollow:
                    raise
            if walk is None:
                other = _user(os.fstat(dir_fd).st_uid)
                raise UnsafePath(path, f"is a symbolic link in {parent}, which belongs to "
                                 f"{other}; it is not followed") from None  # fmt: skip
            target = walk.follow(dir_fd, name, path, parent)
            if target is None:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            path = target
        finally:
            os.close(dir_fd)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def _open_at(dir_fd: int, name: str, path: str, flags: int, strict: bool) -> tuple[int, bool]:
    """Open (or create 0600) `name` in `dir_fd`. `strict`: it must be a regular file with
    one link, opened without blocking (a FIFO put in its place cannot hang the master)."""
    flags |= os.O_CLOEXEC | (os.O_NONBLOCK if strict else 0)
    try:
        fd, created = os.open(name, flags, dir_fd=dir_fd), False
    except OSError as exc:
        if exc.errno == errno.ENXIO and strict:  # a FIFO nobody reads (or a socket)
            raise UnsafePath(path, _NOT_REGULAR) from None
        if not isinstance(exc, FileNotFoundError):
            raise
        try:  # O_EXCL: never through a link, and never someone else's file
            fd, created = (
                os.open(name, flags | os.O_CREAT | os.O_EXCL, FILE_MODE, dir_fd=dir_fd),
                True,
            )
        except FileExistsError:  # another process of the cluster was quicker
            fd, created = os.open(name, flags, dir_fd=dir_fd), False
    if not strict:
        return fd, created
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(path, _NOT_REGULAR)
        if st.st_nlink > 1:
            raise UnsafePath(
                path, f"has {st.st_nlink} hard links; a root master does not write to it"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, created
