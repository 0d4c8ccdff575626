"""Leader/follower clients, egg's cluster-client for eggscripts.

`app.cluster(ClientClass, **options).create(*args)` returns, in the agent, a `LeaderClient`
around the one real client of that class and args; in an app worker, a `FollowerClient`
that forwards `subscribe(reg, listener)`, `publish(reg)` and the methods the class lists in
`follower_methods` to it, over the private endpoint the master prepared:

    app worker #1 ──┐  one Unix-socket connection each,
    app worker #2 ──┼─ authenticated by the cluster secret ──> agent: LeaderServer
    app worker #N ──┘  (pushes: one write per follower)              └ Leader(s)

Why a leader at all: one connection to a config server or one file watcher per cluster
instead of one per worker. Why not through the master: the master runs no app code and
must not relay data volumes; the endpoint is direct.

Options of `cluster()`: `name` (the leader's name; default the class's `__qualname__`) and
`response_timeout` (seconds a follower call may wait, reconnects included; default 10).
Outside a cluster (no endpoint in the environment) an app hosts its leaders itself.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from runtime.cluster_client.follower import ClusterClientTimeout, FollowerClient, FollowerConnection
from runtime.cluster_client.leader import LeaderClient, LeaderRegistry
from runtime.cluster_client.protocol import (
    ClusterClientError,
    class_ref,
    client_key,
    follower_methods,
    import_file,
)
from runtime.cluster_client.server import LeaderServer
from runtime.ipc.leader_endpoint import ENV_CLUSTER_SECRET, ENV_LEADER_PATH

__all__ = [
    "ClientFactory",
    "ClusterClientError",
    "ClusterClientTimeout",
    "FollowerClient",
    "LeaderClient",
    "cluster",
    "import_file",
    "serve_leaders",
]
DEFAULT_TIMEOUT = 10.0
log = logging.getLogger("eggscripts.cluster_client")


class _Process:
    """This process's leaders (agent) or its connection to them (app worker). One per
    process, checked against the pid so a fork never shares the parent's."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.registry = LeaderRegistry()
        self.connection: FollowerConnection | None = None
        path, secret = os.environ.get(ENV_LEADER_PATH), os.environ.get(ENV_CLUSTER_SECRET)
        if path and secret:
            self.connection = FollowerConnection(path, secret)


_process: _Process | None = None


def _here() -> _Process:
    global _process
    if _process is None or _process.pid != os.getpid():
        _process = _Process()
    return _process


class ClientFactory:
    def __init__(
        self,
        role: str,
        client_class: type,
        name: str | None = None,
        response_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not isinstance(client_class, type):
            raise TypeError(f"cluster() needs a client class, not {client_class!r}")
        self.role = role
        self.client_class = client_class
        self.name = name or client_class.__qualname__
        self.methods = follower_methods(client_class)
        self.timeout = float(response_timeout)

    def create(self, *args: Any, **kwargs: Any) -> LeaderClient | FollowerClient:
        """The leader (agent, or no cluster) or a follower (app worker) of `Class(*args)`.
        Arguments must be JSON-serializable: they name the leader across processes."""
        key = client_key(self.name, args, kwargs)
        here = _here()
        if self.role == "agent" or here.connection is None:
            return LeaderClient(here.registry.get_or_create(key, self.client_class, args, kwargs))
        here.connection.attach(key, class_ref(self.client_class), args, kwargs)
        return FollowerClient(here.connection, key, self.methods, self.timeout)


def cluster(owner: Any, client_class: type, **options: Any) -> ClientFactory:
    """`owner.cluster(ClientClass, **options)` for an Application or Agent."""
    return ClientFactory(getattr(owner, "role", "app"), client_class, **options)


async def serve_leaders(sock: socket.socket | None) -> LeaderServer | None:
    """In the agent: serve this process's leaders on the master's endpoint socket."""
    secret = os.environ.get(ENV_CLUSTER_SECRET)
    if sock is None or not secret:
        return None
    server = LeaderServer(_here().registry, sock, secret)
    await server.start()
    return server
