"""The private endpoint of leader/follower clients (docs/MESSENGER.md), prepared by the master.

A Unix socket in a fresh 0700 directory: unreachable from other hosts, and other local
users cannot even reach the path. Connections must also present the per-cluster secret.
The master owns the listening socket and hands it to every agent incarnation, so after an
agent restart followers reconnect to the same path with the same secret.

A SIGKILLed master cannot remove its directory; each directory therefore records its
master (pid and start time), and the next start of the same user removes those whose
master is provably gone.
"""

from __future__ import annotations

import contextlib
import os
import socket

from runtime.process.private_files import hand_over, run_as_owner

ENV_LEADER_PATH = "EGGSCRIPTS_LEADER_PATH"
ENV_CLUSTER_SECRET = "EGGSCRIPTS_CLUSTER_SECRET"

DIR_PREFIX = "eggscripts-"
OWNER_FILE = "master"  # "<pid> <start ticks>": proves, later, whether that master is gone


def _temp_base() -> str:
    base = os.environ.get("TMPDIR") or "/tmp"
    if len(base) > 60 or not os.path.isdir(base):  # sun_path is 108 bytes
        base = "/tmp"
    return base


def _start_ticks(pid: int) -> str | None:
    """When `pid` started (field 22 of /proc/<pid>/stat): a pid plus this names one
    process for good, even after the pid is recycled."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        return data[data.rfind(b")") + 2 :].split()[19].decode()
    except (OSError, IndexError):
        return None


def _private_dir() -> str:
    """A fresh 0700 directory (tempfile.mkdtemp's contract without importing tempfile,
    which costs the master's start-up more than these lines), signed with the master's
    identity so that a later start can prove it stale (`remove_stale`)."""
    base = _temp_base()
    while True:
        path = os.path.join(base, f"{DIR_PREFIX}{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        with open(os.path.join(path, OWNER_FILE), "w") as fh:
            fh.write(f"{os.getpid()} {_start_ticks(os.getpid())}\n")
        return path


def _no_link(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def _is_stale(path: str) -> bool:
    """Only what is provably dead: the master that signed the directory no longer runs
    (its pid is gone or now names a later process) and nothing listens on its socket (a
    master in another pid namespace sharing this /tmp would still answer). Unsigned or
    unreadable: kept."""
    try:
        with open(os.path.join(path, OWNER_FILE), opener=_no_link) as fh:
            pid, ticks = fh.read().split()
        if _start_ticks(int(pid)) == ticks:
            return False
    except (OSError, ValueError):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(os.path.join(path, "leader.sock"))
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    except OSError:  # busy or unknown: not proven dead
        return False
    finally:
        probe.close()
    return False


def _our_uids() -> set[int]:
    """Ours, and the `--user` account's: a root master hands its directory over."""
    owner = run_as_owner()
    return {os.getuid()} | ({owner[0]} if owner else set())


def remove_stale() -> list[str]:
    """Remove the endpoint directories of this user's SIGKILLed masters (a master that
    exits normally removes its own); returns what was removed."""
    base = _temp_base()
    removed: list[str] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(DIR_PREFIX) or len(name) != len(DIR_PREFIX) + 12:
            continue
        with contextlib.suppress(OSError):
            owner = entry.stat(follow_symlinks=False).st_uid
            if owner not in _our_uids() or not entry.is_dir(follow_symlinks=False):
                continue
            if _is_stale(entry.path):
                fd = os.open(entry.path, _DIR_FLAGS)
                try:
                    if os.fstat(fd).st_uid in _our_uids():
                        _remove_in(fd, entry.path)
                        removed.append(entry.path)
                finally:
                    os.close(fd)
    return removed


# A root master hands its directory to the `--user` account, which may then rename it and
# put a link to a directory of root's in its place: every removal goes through an fd of
# the directory opened without following a link, never through its path.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _remove_in(dir_fd: int, path: str) -> None:
    """Remove the endpoint's files in `dir_fd`, then the directory at `path` (a link put
    in its place meanwhile is not followed by rmdir: ENOTDIR)."""
    for leftover in ("leader.sock", OWNER_FILE):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover, dir_fd=dir_fd)
    os.rmdir(path)


class LeaderEndpoint:
    def __init__(self) -> None:
        remove_stale()
        self.dir = _private_dir()
        self.dir_fd = os.open(self.dir, _DIR_FLAGS)
        self.path = os.path.join(self.dir, "leader.sock")
        self.secret = os.urandom(32).hex()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(128)
        # --user: the children connect as that account. The socket first: once the
        # directory is theirs, they could put a link in its place for chown to follow.
        for path in (self.path, self.dir):
            hand_over(path)

    def export(self) -> None:
        """Children learn the endpoint from their environment (inherited at fork/spawn)."""
        os.environ[ENV_LEADER_PATH] = self.path
        os.environ[ENV_CLUSTER_SECRET] = self.secret

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            _remove_in(self.dir_fd, self.dir)
        with contextlib.suppress(OSError):
            os.close(self.dir_fd)
