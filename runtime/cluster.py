"""The cluster, as seen from inside any app: `from runtime import cluster`.

Egg-style apps reach these through `app.messenger` and `app.cluster(...)`; an ASGI or WSGI
app (FastAPI, Flask, ...) has no such object, so the worker binds its own here before it
imports the app, and the agent does the same before it runs `agent.py`:

    from runtime import cluster

    cluster.messenger.broadcast("cache-clear", {"key": key})   # SPEC §7
    cluster.messenger.on("cache-clear", handler)
    registry = cluster.client(Registry).create("orders")        # SPEC §8: leader/follower

`messenger` is None outside a cluster process (a unit test importing the app), so code
that must also run there checks `cluster.messenger is not None`.
"""

from __future__ import annotations

from typing import Any

messenger: Any = None
role: str | None = None  # "app" in an app worker, "agent" in the agent


def bind(owner: Any) -> None:
    """Called by the runtime with the worker's (or agent's) target once its messenger is
    set, before any app code runs."""
    global messenger, role
    messenger = owner.messenger
    role = owner.role


def client(client_class: type, **options: Any) -> Any:
    """`cluster.client(ClientClass, **options).create(*args)`: the leader in the agent, a
    follower proxy in app workers (same as `app.cluster(...)` in an egg-style app)."""
    from runtime.cluster_client import ClientFactory

    if role is None:
        raise RuntimeError("runtime.cluster is only available inside a running cluster")
    return ClientFactory(role, client_class, **options)
