"""The private endpoint of leader/follower clients (SPEC §8), prepared by the master.

A Unix socket in a fresh 0700 directory: unreachable from other hosts, and other local
users cannot even reach the path. Connections must also present the per-cluster secret.
The master owns the listening socket and hands it to every agent incarnation, so after an
agent restart followers reconnect to the same path with the same secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile

ENV_LEADER_PATH = "EGGSCRIPTS_LEADER_PATH"
ENV_LEADER_FD = "EGGSCRIPTS_LEADER_FD"
ENV_CLUSTER_SECRET = "EGGSCRIPTS_CLUSTER_SECRET"


class LeaderEndpoint:
    def __init__(self) -> None:
        base = tempfile.gettempdir()
        if len(base) > 60:  # sun_path is 108 bytes
            base = "/tmp"
        self.dir = tempfile.mkdtemp(prefix="eggscripts-", dir=base)
        self.path = os.path.join(self.dir, "leader.sock")
        self.secret = secrets.token_hex(32)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(128)

    def export(self) -> None:
        """Children learn the endpoint from their environment (inherited at fork/spawn)."""
        os.environ[ENV_LEADER_PATH] = self.path
        os.environ[ENV_CLUSTER_SECRET] = self.secret

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def inherited_leader_socket() -> socket.socket | None:
    """In the agent: the listening socket the master passed down, if any."""
    fd = os.environ.pop(ENV_LEADER_FD, None)
    return socket.socket(fileno=int(fd)) if fd else None
