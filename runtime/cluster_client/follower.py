"""The follower side: app workers reach the leaders in the agent over one connection each.

The connection is lazy (opened at the first subscribe, publish or call) and permanent: when
the agent dies it reconnects (at once, then with backoff up to 1 s), and as soon as the new
agent welcomes it, re-attaches every client and re-subscribes every `reg`, so app code never
notices beyond fresh data arriving. While disconnected, calls wait for the connection (up to
their timeout) and publishes are queued. A call in flight when the connection drops is sent
again, once, to the next leader: nobody can tell whether the dead one ran it, and the
leader's in-memory state died with it, so calls are at-least-once (keep follower methods
idempotent, as egg's APIClient reads are).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import os
from typing import Any

from runtime.cluster_client.leader import Listener, call_listener
from runtime.cluster_client.protocol import (
    ATTACH,
    ERROR,
    HELLO,
    INVOKE,
    PUBLISH,
    PUSH,
    RESULT,
    SUBSCRIBE,
    UNSUBSCRIBE,
    WELCOME,
    ClusterClientError,
    frame,
    reg_key,
)
from runtime.ipc.framed_stream import FramedProtocol
from runtime.process.tasks import run_in_background

log = logging.getLogger("eggscripts.cluster_client")
# Long enough for an agent restart (1 s delay + its boot) to happen behind one connect.
WELCOME_TIMEOUT = 30.0
MAX_BACKOFF = 1.0
MAX_QUEUED_PUBLISHES = 1000


class ClusterClientTimeout(ClusterClientError, TimeoutError):
    """The leader did not answer (or could not be reached) within the client's timeout."""


class _Sub:
    __slots__ = ("has_data", "last", "listeners", "reg")

    def __init__(self, reg: Any) -> None:
        self.reg = reg
        self.listeners: list[Listener] = []
        self.has_data = False
        self.last: Any = None


class _Call:
    __slots__ = ("data", "fut", "resent")

    def __init__(self, fut: asyncio.Future[Any], data: bytes) -> None:
        self.fut = fut
        self.data = data
        self.resent = False


class _Wire(FramedProtocol):
    """One physical connection; the FollowerConnection outlives it."""

    peer = "leader"

    def __init__(self, owner: FollowerConnection) -> None:
        super().__init__()
        self.owner = owner
        loop = asyncio.get_running_loop()
        self.welcomed: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()

    def on_frame(self, msg: dict[str, Any]) -> None:
        if msg["action"] == WELCOME:
            if not self.welcomed.done():
                self.welcomed.set_result(None)
        else:
            self.owner.on_frame(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError("closed before welcome"))
            self.welcomed.exception()  # retrieved: not an "exception never retrieved"
        if not self.lost.done():
            self.lost.set_result(None)


class FollowerConnection:
    """The app worker's one connection to the leader server, shared by all its followers."""

    def __init__(self, path: str, secret: str) -> None:
        self.path = path
        self.secret = secret
        self.attaches: dict[str, bytes] = {}  # key -> its attach frame
        self.subs: dict[tuple[str, str], _Sub] = {}
        self.calls: dict[int, _Call] = {}
        self.ids = itertools.count(1)
        self.outbox: collections.deque[bytes] = collections.deque(maxlen=MAX_QUEUED_PUBLISHES)
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Event | None = None
        self.task: asyncio.Future[Any] | None = None
        self.closed = False

    # -- the connection ------------------------------------------------------------------
    def start(self) -> asyncio.Event:
        if self.connected is None or self.task is None:
            self.connected = asyncio.Event()
            self.task = run_in_background(self._run())
        return self.connected

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay, warned = 0.0, False
        hello = frame(HELLO, secret=self.secret, pid=os.getpid())
        while not self.closed:
            if delay:
                await asyncio.sleep(delay)
            delay = min(max(delay * 2, 0.05), MAX_BACKOFF)
            transport: asyncio.Transport | None = None
            try:
                transport, wire = await loop.create_unix_connection(lambda: _Wire(self), self.path)
                transport.write(hello)
                await asyncio.wait_for(asyncio.shield(wire.welcomed), WELCOME_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as exc:
                if transport is not None:
                    transport.close()
                if not warned:
                    log.warning("leader endpoint %s not reachable yet: %r", self.path, exc)
                    warned = True
                continue
            delay, warned = 0.0, False
            self._on_welcome(transport)
            await wire.lost
            self._on_lost()

    def _on_welcome(self, transport: asyncio.Transport) -> None:
        """(Re)attach every client and (re)subscribe every reg, then release waiting calls:
        all on the loop thread, so no call can overtake the attach of its client."""
        frames = list(self.attaches.values())
        for (key, _), sub in self.subs.items():
            if sub.listeners:
                frames.append(frame(SUBSCRIBE, key=key, reg=sub.reg))
        frames.extend(self.outbox)
        self.outbox.clear()
        frames.extend(call.data for call in self.calls.values())
        transport.writelines(frames)
        self.transport = transport
        assert self.connected is not None
        self.connected.set()
        log.info(
            "connected to the leaders (%d clients, %d subscriptions)",
            len(self.attaches),
            len(self.subs),
        )

    def _on_lost(self) -> None:
        self.transport = None
        if self.connected is not None:
            self.connected.clear()
        for call_id, call in list(self.calls.items()):
            if call.resent or call.fut.done():
                del self.calls[call_id]
                if not call.fut.done():
                    call.fut.set_exception(ClusterClientError("connection to the leader lost"))
            else:
                call.resent = True  # sent again on the next welcome
        if not self.closed:
            log.warning("connection to the leaders lost; reconnecting")

    def _write(self, data: bytes) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self.task is not None:
            self.task.cancel()

    # -- frames from the leader ----------------------------------------------------------
    def on_frame(self, msg: dict[str, Any]) -> None:
        action = msg["action"]
        if action == PUSH:
            sub = self.subs.get((msg.get("key"), msg.get("reg")))  # type: ignore[arg-type]
            if sub is not None:
                sub.has_data, sub.last = True, msg.get("data")
                for listener in list(sub.listeners):
                    call_listener(listener, sub.last, f"{msg.get('key')} {msg.get('reg')}")
        elif action == RESULT:
            call = self.calls.pop(msg.get("id"), None)  # type: ignore[arg-type]
            fut = call.fut if call is not None else None
            if fut is not None and not fut.done():
                error = msg.get("error")
                if isinstance(error, dict):
                    exc = ClusterClientError(f"{error.get('type')}: {error.get('message')}")
                    exc.remote_type = error.get("type")  # type: ignore[attr-defined]
                    fut.set_exception(exc)
                else:
                    fut.set_result(msg.get("value"))
        elif action == ERROR:
            log.error("leader %s: %s", msg.get("key"), msg.get("message"))

    # -- what FollowerClient uses --------------------------------------------------------
    def attach(self, key: str, ref: dict[str, Any], args: Any, kwargs: Any) -> None:
        if key not in self.attaches:
            data = frame(ATTACH, key=key, ref=ref, args=list(args), kwargs=kwargs)
            self.attaches[key] = data
            self._write(data)

    def subscribe(self, key: str, reg: Any, listener: Listener) -> None:
        rk = reg_key(reg)
        sub = self.subs.get((key, rk))
        if sub is None:
            sub = self.subs[(key, rk)] = _Sub(json.loads(rk))
        sub.listeners.append(listener)
        self.start()
        if len(sub.listeners) == 1:
            self._write(frame(SUBSCRIBE, key=key, reg=sub.reg))
        elif sub.has_data:  # like the leader: a late listener gets the latest data
            asyncio.get_running_loop().call_soon(call_listener, listener, sub.last, key)

    def unsubscribe(self, key: str, reg: Any, listener: Listener | None) -> None:
        rk = reg_key(reg)
        sub = self.subs.get((key, rk))
        if sub is None:
            return
        if listener is not None:
            sub.listeners = [x for x in sub.listeners if x is not listener]
        if listener is None or not sub.listeners:
            del self.subs[(key, rk)]
            self._write(frame(UNSUBSCRIBE, key=key, reg=sub.reg))

    def publish(self, key: str, reg: Any) -> None:
        data = frame(PUBLISH, key=key, reg=reg)
        self.start()
        if not self._write(data):
            self.outbox.append(data)

    async def invoke(self, key: str, method: str, args: Any, kwargs: Any, timeout: float) -> Any:
        call_id = next(self.ids)
        try:
            data = frame(INVOKE, id=call_id, key=key, method=method, args=list(args), kwargs=kwargs)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"{key}.{method}: arguments are not JSON-serializable: {exc}") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        connected = self.start()
        if not connected.is_set():
            try:
                await asyncio.wait_for(connected.wait(), timeout)
            except asyncio.TimeoutError:
                raise ClusterClientTimeout(
                    f"{key}.{method}: leader not reachable within {timeout:g}s"
                ) from None
        fut: asyncio.Future[Any] = loop.create_future()
        self.calls[call_id] = _Call(fut, data)
        self._write(data)
        try:
            return await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise ClusterClientTimeout(
                f"{key}.{method}: no answer from the leader within {timeout:g}s"
            ) from None
        finally:
            self.calls.pop(call_id, None)


class FollowerClient:
    """What `cluster(...).create()` returns in an app worker: the client's API, served by
    the leader in the agent."""

    is_leader = False

    def __init__(
        self, conn: FollowerConnection, key: str, methods: tuple[str, ...], timeout: float
    ) -> None:
        self._conn = conn
        self._methods = frozenset(methods)
        self.key = key
        self.timeout = timeout

    def subscribe(self, reg: Any, listener: Listener) -> None:
        """`listener(data)` (sync or async) now if the leader has data, and on every push."""
        self._conn.subscribe(self.key, reg, listener)

    def unsubscribe(self, reg: Any, listener: Listener | None = None) -> None:
        self._conn.unsubscribe(self.key, reg, listener)

    def publish(self, reg: Any) -> None:
        """Ask the leader to publish `reg` (its client's `publish(reg)`); fire and forget."""
        self._conn.publish(self.key, reg)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(f"{self.key}: no follower method {name!r} (see follower_methods)")

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._conn.invoke(self.key, name, args, kwargs, self.timeout)

        call.__name__ = name
        return call
