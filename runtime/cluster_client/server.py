"""The leader server: serves followers on the endpoint the master prepared.

Runs on the agent's event loop, on the listening Unix socket the master owns and hands to
every agent incarnation: while the agent restarts, followers' reconnects simply wait in
the socket's backlog and are served by the next agent. A peer is nobody until its first
frame carries the cluster secret (checked with `hmac.compare_digest`); anything else, a
hello that is too big or too late, and the connection is closed without a word.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
import sys
from typing import Any

from runtime.cluster_client.leader import Leader, LeaderRegistry
from runtime.cluster_client.protocol import (
    ATTACH,
    AUTH_TIMEOUT,
    ERROR,
    HELLO,
    INVOKE,
    MAX_HELLO,
    PUBLISH,
    RESULT,
    SUBSCRIBE,
    UNSUBSCRIBE,
    WELCOME,
    Decoder,
    frame,
)
from runtime.contract.framing import HEADER, ProtocolError
from runtime.process.tasks import WriteCoalescer, run_in_background

log = logging.getLogger("eggscripts.cluster_client")


class FollowerPeer(asyncio.Protocol):
    """One follower connection in the agent."""

    def __init__(self, server: LeaderServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.authed = False
        self.pid: Any = None
        self._pre = bytearray()
        self._decoder = Decoder()
        self._timer: asyncio.TimerHandle | None = None
        self.errors: dict[str, str] = {}  # key -> why its attach failed
        self._out = WriteCoalescer(self._send)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(AUTH_TIMEOUT, self.close)
        self.server.peers.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
        self.server.drop(self)

    def write(self, data: bytes) -> None:
        """Queue a frame; what one loop iteration writes leaves in one syscall (a client
        publishing in a loop would otherwise cost a write and a wake-up per value)."""
        self._out.write(data)

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self.authed:
            data = self._authenticate(data)
            if not data:
                return
        try:
            messages = self._decoder.feed(data)
        except ProtocolError as exc:
            log.warning("follower %s sent a bad frame (%s): closing", self.pid, exc)
            self.close()
            return
        for msg in messages:
            try:
                self.server.dispatch(self, msg)
            except Exception:
                log.exception("follower %s: %r failed", self.pid, msg.get("action"))

    def _authenticate(self, data: bytes) -> bytes:
        """Consume the hello; return what follows it (empty while incomplete or refused)."""
        self._pre += data
        if len(self._pre) < HEADER.size:
            return b""
        (size,) = HEADER.unpack_from(self._pre)
        if size > MAX_HELLO:
            log.warning("refused a connection to the leader endpoint (not a hello)")
            self.close()
            return b""
        end = HEADER.size + size
        if len(self._pre) < end:
            return b""
        try:
            hello = json.loads(bytes(self._pre[HEADER.size : end]))
        except ValueError:
            hello = None
        secret = hello.get("secret") if isinstance(hello, dict) else None
        if (
            not isinstance(hello, dict)
            or hello.get("action") != HELLO
            or not isinstance(secret, str)
            or not hmac.compare_digest(secret.encode(), self.server.secret)
        ):
            log.warning("refused a connection to the leader endpoint (no valid secret)")
            self.close()
            return b""
        self.authed, self.pid = True, hello.get("pid")
        if self._timer is not None:
            self._timer.cancel()
        self.write(frame(WELCOME, pid=os.getpid()))
        rest, self._pre = bytes(self._pre[end:]), bytearray()
        return rest


class LeaderServer:
    def __init__(self, registry: LeaderRegistry, sock: socket.socket, secret: str) -> None:
        self.registry = registry
        self.sock = sock
        self.secret = secret.encode()
        self.peers: set[FollowerPeer] = set()
        self.server: asyncio.AbstractServer | None = None
        self.handlers = {
            ATTACH: self.on_attach,
            SUBSCRIBE: self.on_subscribe,
            UNSUBSCRIBE: self.on_unsubscribe,
            PUBLISH: self.on_publish,
            INVOKE: self.on_invoke,
        }

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        extra: dict[str, Any] = {}
        if sys.version_info >= (3, 13):
            # The path is the master's, for the next agent: on 3.13 asyncio and uvloop
            # (>= 0.21, the first for 3.13) both unlink it at close unless told not to.
            extra["cleanup_socket"] = False
        self.server = await loop.create_unix_server(
            lambda: FollowerPeer(self), sock=self.sock, **extra
        )

    async def close(self) -> None:
        """Stop serving and close the leaders. The master keeps the listening socket."""
        if self.server is not None:
            self.server.close()
        for peer in list(self.peers):
            peer.close()
        await self.registry.close()

    def drop(self, peer: FollowerPeer) -> None:
        self.peers.discard(peer)
        for leader in self.registry.leaders.values():
            leader.drop_peer(peer)

    def dispatch(self, peer: FollowerPeer, msg: dict[str, Any]) -> None:
        handler = self.handlers.get(msg["action"])
        if handler is None:
            log.warning("follower %s: unknown action %r", peer.pid, msg["action"])
            return
        handler(peer, msg)

    def leader(self, peer: FollowerPeer, key: Any) -> Leader:
        leader = self.registry.leaders.get(key) if isinstance(key, str) else None
        if leader is None:
            why = peer.errors.get(key) if isinstance(key, str) else None
            raise LookupError(f"no leader {key!r} in the agent" + (f": {why}" if why else ""))
        return leader

    def on_attach(self, peer: FollowerPeer, msg: dict[str, Any]) -> None:
        key = msg.get("key")
        try:
            if not isinstance(key, str):
                raise TypeError("attach without a key")
            self.registry.attach(key, msg.get("ref") or {}, msg.get("args"), msg.get("kwargs"))
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            log.error("cannot build leader %s for follower %s: %s", key, peer.pid, text)
            peer.errors[str(key)] = text
            peer.write(frame(ERROR, key=key, message=f"cannot build the leader: {text}"))

    def on_subscribe(self, peer: FollowerPeer, msg: dict[str, Any]) -> None:
        self._each(peer, msg, lambda leader: leader.subscribe(msg.get("reg"), peer=peer))

    def on_unsubscribe(self, peer: FollowerPeer, msg: dict[str, Any]) -> None:
        self._each(peer, msg, lambda leader: leader.unsubscribe(msg.get("reg"), peer=peer))

    def on_publish(self, peer: FollowerPeer, msg: dict[str, Any]) -> None:
        self._each(peer, msg, lambda leader: leader.publish(msg.get("reg")))

    def _each(self, peer: FollowerPeer, msg: dict[str, Any], op: Any) -> None:
        """Run a fire-and-forget operation; its failure goes back as an `error` frame."""
        key = msg.get("key")
        try:
            op(self.leader(peer, key))
        except Exception as exc:
            log.error("%s %s from follower %s failed: %s", msg["action"], key, peer.pid, exc)
            text = f"{msg['action']} failed: {type(exc).__name__}: {exc}"
            peer.write(frame(ERROR, key=key, message=text))

    def on_invoke(self, peer: FollowerPeer, msg: dict[str, Any]) -> None:
        run_in_background(self._invoke(peer, msg))

    async def _invoke(self, peer: FollowerPeer, msg: dict[str, Any]) -> None:
        call_id = msg.get("id")
        try:
            args, kwargs = msg.get("args") or [], msg.get("kwargs") or {}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("invoke: args must be a list and kwargs an object")
            leader = self.leader(peer, msg.get("key"))
            value = await leader.invoke(str(msg.get("method")), args, kwargs)
            try:
                reply = frame(RESULT, id=call_id, value=value)
            except (TypeError, ValueError, RecursionError) as exc:
                raise TypeError(f"result is not JSON-serializable: {exc}") from None
        except Exception as exc:
            error = {"type": type(exc).__name__, "message": str(exc)}
            reply = frame(RESULT, id=call_id, error=error)
        peer.write(reply)
