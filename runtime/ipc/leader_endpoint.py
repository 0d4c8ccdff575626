"""The private endpoint of leader/follower clients (SPEC §8), prepared by the master.

A Unix socket in a fresh 0700 directory: unreachable from other hosts, and other local
users cannot even reach the path. Connections must also present the per-cluster secret.
The master owns the listening socket and hands it to every agent incarnation, so after an
agent restart followers reconnect to the same path with the same secret.
"""

from __future__ import annotations

import contextlib
import os
import socket

from runtime.private_files import hand_over

ENV_LEADER_PATH = "EGGSCRIPTS_LEADER_PATH"
ENV_LEADER_FD = "EGGSCRIPTS_LEADER_FD"
ENV_CLUSTER_SECRET = "EGGSCRIPTS_CLUSTER_SECRET"


def _private_dir() -> str:
    """A fresh 0700 directory (tempfile.mkdtemp's contract without importing tempfile,
    which costs the master's start-up more than these lines)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    if len(base) > 60 or not os.path.isdir(base):  # sun_path is 108 bytes
        base = "/tmp"
    while True:
        path = os.path.join(base, f"eggscripts-{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path


class LeaderEndpoint:
    def __init__(self) -> None:
        self.dir = _private_dir()
        self.path = os.path.join(self.dir, "leader.sock")
        self.secret = os.urandom(32).hex()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(128)
        for path in (self.dir, self.path):  # --user: the children connect as that account
            hand_over(path)

    def export(self) -> None:
        """Children learn the endpoint from their environment (inherited at fork/spawn)."""
        os.environ[ENV_LEADER_PATH] = self.path
        os.environ[ENV_CLUSTER_SECRET] = self.secret

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self.dir)


def inherited_leader_socket() -> socket.socket | None:
    """In the agent: the listening socket the master passed down, if any."""
    fd = os.environ.pop(ENV_LEADER_FD, None)
    return socket.socket(fileno=int(fd)) if fd else None
