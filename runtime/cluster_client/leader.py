"""The leader side: the real client objects, living in the agent (one per class + args).

A `Leader` subscribes its real client once per distinct `reg`, whoever asked (agent code,
one follower or fifty), caches the latest data of each and fans it out: local listeners are
called, remote followers get the same encoded frame, one write each. A subscriber that
arrives after data was published gets the cached data at once, as in egg's cluster-client.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from runtime.cluster_client.protocol import (
    follower_methods,
    push_frame,
    push_prefix,
    reg_key,
    resolve_class,
)
from runtime.process.tasks import call_guarded

log = logging.getLogger("eggscripts.cluster_client")
Listener = Callable[[Any], Any]


class Peer(Protocol):
    """A follower connection, as the leader sees it."""

    def write(self, data: bytes) -> None: ...


def call_listener(listener: Listener, data: Any, what: str) -> None:
    """Run a listener (sync or async); its failure is logged, never fatal to the process."""
    call_guarded(listener, data, f"listener of {what}", log)


class _Topic:
    """One subscribed `reg` of one leader: who listens, and the latest data."""

    __slots__ = ("has_data", "last", "listeners", "peers", "prefix", "reg")

    def __init__(self, reg: Any, prefix: bytes) -> None:
        self.reg = reg
        self.prefix = prefix
        self.listeners: list[Listener] = []
        self.peers: set[Peer] = set()
        self.has_data = False
        self.last: Any = None


class Leader:
    def __init__(self, key: str, client: Any, methods: tuple[str, ...]) -> None:
        self.key = key
        self.client = client
        self.methods = frozenset(methods)
        self.topics: dict[str, _Topic] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    # -- subscriptions -------------------------------------------------------------------
    def subscribe(
        self, reg: Any, listener: Listener | None = None, peer: Peer | None = None
    ) -> None:
        key = reg_key(reg)
        topic = self.topics.get(key)
        if topic is None:
            topic = self.topics[key] = _Topic(reg, push_prefix(self.key, key))
            self._add(topic, listener, peer)
            try:
                self.client.subscribe(reg, lambda data: self._on_data(key, data))
            except BaseException:
                del self.topics[key]  # the next subscriber asks the client again
                raise
            return
        self._add(topic, listener, peer)
        if topic.has_data:  # a late subscriber gets the latest data now
            if listener is not None:
                call_listener(listener, topic.last, f"{self.key} {key}")
            if peer is not None:
                with contextlib.suppress(TypeError, ValueError, RecursionError):
                    peer.write(push_frame(topic.prefix, topic.last))

    @staticmethod
    def _add(topic: _Topic, listener: Listener | None, peer: Peer | None) -> None:
        if listener is not None:
            topic.listeners.append(listener)
        if peer is not None:
            topic.peers.add(peer)

    def unsubscribe(
        self, reg: Any, listener: Listener | None = None, peer: Peer | None = None
    ) -> None:
        topic = self.topics.get(reg_key(reg))
        if topic is None:
            return
        if peer is not None:
            topic.peers.discard(peer)
        if listener is not None:
            topic.listeners = [x for x in topic.listeners if x is not listener]
        elif peer is None:
            topic.listeners.clear()

    def drop_peer(self, peer: Peer) -> None:
        for topic in self.topics.values():
            topic.peers.discard(peer)

    def publish(self, reg: Any) -> None:
        self.client.publish(reg)

    def _on_data(self, key: str, data: Any) -> None:
        """The real client's listener: cache, then fan out (on the agent's loop thread,
        whatever thread the client called from)."""
        if self._loop is not None and threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self._on_data, key, data)
            return
        topic = self.topics.get(key)
        if topic is None:
            return
        topic.has_data, topic.last = True, data
        for listener in list(topic.listeners):
            call_listener(listener, data, f"{self.key} {key}")
        if topic.peers:
            try:
                push = push_frame(topic.prefix, data)
            except (TypeError, ValueError, RecursionError) as exc:
                log.error("%s pushed data followers cannot receive (not JSON): %s", self.key, exc)
                return
            for peer in list(topic.peers):
                peer.write(push)

    # -- calls ---------------------------------------------------------------------------
    async def invoke(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if method not in self.methods:
            raise AttributeError(
                f"{type(self.client).__qualname__}.{method} is not in its follower_methods"
            )
        result = getattr(self.client, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result


class LeaderRegistry:
    """The leaders of this process (the agent; or an app run outside a cluster)."""

    def __init__(self) -> None:
        self.leaders: dict[str, Leader] = {}

    def get_or_create(
        self, key: str, cls: type, args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Leader:
        leader = self.leaders.get(key)
        if leader is None:
            client = cls(*args, **kwargs)
            leader = self.leaders[key] = Leader(key, client, follower_methods(cls))
            log.info("leader %s created", key)
        return leader

    def attach(self, key: str, ref: dict[str, Any], args: Any, kwargs: Any) -> Leader:
        """A follower's attach: the existing leader of `key`, or one built from the class it
        names (the agent never created it)."""
        leader = self.leaders.get(key)
        if leader is not None:
            return leader
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("attach: args must be a list and kwargs an object")
        cls = resolve_class(ref)
        log.info("building leader %s for a follower (the agent did not create it)", key)
        return self.get_or_create(key, cls, args, kwargs)

    async def close(self) -> None:
        for leader in list(self.leaders.values()):
            try:
                await leader.close()
            except Exception:
                log.exception("closing leader %s failed", leader.key)
        self.leaders.clear()


class LeaderClient:
    """What `cluster(...).create()` returns in the agent: the follower's API, served by
    the real client in this process (declared methods are awaitable here too)."""

    is_leader = True

    def __init__(self, leader: Leader) -> None:
        self._leader = leader
        self.key = leader.key

    @property
    def client(self) -> Any:
        """The real client object."""
        return self._leader.client

    def subscribe(self, reg: Any, listener: Listener) -> None:
        self._leader.subscribe(reg, listener=listener)

    def unsubscribe(self, reg: Any, listener: Listener | None = None) -> None:
        self._leader.unsubscribe(reg, listener=listener)

    def publish(self, reg: Any) -> None:
        self._leader.publish(reg)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._leader.methods:
            raise AttributeError(f"{self.key}: no follower method {name!r}")

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._leader.invoke(name, list(args), kwargs)

        call.__name__ = name
        return call
