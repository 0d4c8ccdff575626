"""The cluster, as seen from inside any app: `from runtime import cluster`.

Egg-style apps reach these through `app.messenger` and `app.cluster(...)`; an ASGI or WSGI
app (FastAPI, Flask, ...) has no such object, so the worker binds its own here before it
imports the app, and the agent does the same before it runs `agent.py`:

    from runtime.app import cluster
    cluster.messenger.broadcast("cache-clear", {"key": key})   # docs/MESSENGER.md
    cluster.messenger.on("cache-clear", handler)
    registry = cluster.client(Registry).create("orders")        # leader/follower

`messenger` is None outside a cluster process (a unit test importing the app), so code
that must also run there checks `cluster.messenger is not None`. Its send methods may be
called from any thread (a WSGI app runs in a thread pool): off the event loop's thread they
are handed to the loop with `call_soon_threadsafe`. Leader/follower clients are asyncio
objects: use them from async code (ASGI apps, the lifespan, the agent).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

_SENDS = frozenset(("broadcast", "send_to_app", "send_to_agent", "send_random", "send_to"))

messenger: Any = None
role: str | None = None  # "app" in an app worker, "agent" in the agent


def bind(owner: Any) -> None:
    """Called by the runtime with the worker's (or agent's) target once its messenger is
    set, before any app code runs."""
    global messenger, role
    messenger = ThreadSafeMessenger(owner.messenger, asyncio.get_running_loop())
    role = owner.role


class ThreadSafeMessenger:
    """The process's Messenger, callable from any thread."""

    def __init__(self, inner: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in _SENDS:
            return value

        def send(*args: Any, **kwargs: Any) -> None:
            if threading.get_ident() == self._loop_thread:
                value(*args, **kwargs)
            else:
                self._loop.call_soon_threadsafe(lambda: value(*args, **kwargs))

        return send


def client(client_class: type, **options: Any) -> Any:
    """`cluster.client(ClientClass, **options).create(*args)`: the leader in the agent, a
    follower proxy in app workers (same as `app.cluster(...)` in an egg-style app)."""
    from runtime.cluster_client import ClientFactory

    if role is None:
        raise RuntimeError("runtime.cluster is only available inside a running cluster")
    return ClientFactory(role, client_class, **options)
