"""Leader server and follower connection in one process, over a real Unix socket: the
reconnect and resubscribe logic, call semantics and the wire format, without a cluster.

The test plays the master: it owns the listening socket and hands a duplicate to each
"agent" (LeaderServer), so killing one and starting the next is what an agent restart is.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.cluster_client import ClusterClientError, ClusterClientTimeout, LeaderClient, cluster
from runtime.cluster_client.follower import FollowerClient, FollowerConnection
from runtime.cluster_client.leader import LeaderRegistry
from runtime.cluster_client.protocol import (
    Decoder,
    canonical,
    class_ref,
    client_key,
    frame,
    import_file,
    resolve_class,
)
from runtime.cluster_client.server import LeaderServer
from runtime.contract.framing import ProtocolError
from runtime.worker.base import new_event_loop

SECRET = "s3cret"


class Store:
    follower_methods = ("get", "add", "boom", "pid", "sleep")

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.values: dict[str, Any] = {}
        self.listeners: dict[str, list[Any]] = {}

    def subscribe(self, reg: dict[str, Any], listener: Any) -> None:
        if reg.get("topic") == "forbidden":
            raise PermissionError("no")
        self.listeners.setdefault(reg["topic"], []).append(listener)
        if reg["topic"] in self.values:
            listener(self.values[reg["topic"]])

    def publish(self, reg: dict[str, Any]) -> None:
        self.values[reg["topic"]] = reg["value"]
        for listener in self.listeners.get(reg["topic"], []):
            listener(reg["value"])

    async def get(self, topic: str) -> Any:
        return self.values.get(topic)

    def add(self, a: int, b: int) -> int:
        return a + b

    def boom(self) -> None:
        raise KeyError("missing")

    def pid(self) -> int:
        return id(self)

    async def sleep(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds


class Env:
    """A listening socket (the master's) and the current agent's LeaderServer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.registry: LeaderRegistry | None = None
        self.server: LeaderServer | None = None

    async def start_agent(self) -> LeaderRegistry:
        self.registry = LeaderRegistry()
        self.server = LeaderServer(self.registry, self.listener.dup(), SECRET)
        await self.server.start()
        return self.registry

    async def kill_agent(self) -> None:
        assert self.server is not None
        await self.server.close()
        self.server = None

    def follower(self, timeout: float = 3.0) -> FollowerClient:
        conn = FollowerConnection(self.path, SECRET)
        key = client_key("Store", ("main",), {})
        conn.attach(key, class_ref(Store), ["main"], {})
        return FollowerClient(conn, key, Store.follower_methods, timeout)


def run(test: Callable[[Env], Awaitable[None]], tmp_path: Path) -> None:
    loop = new_event_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    env = Env(str(tmp_path / "leader.sock"))
    try:
        loop.run_until_complete(asyncio.wait_for(test(env), 20))
    finally:
        env.listener.close()
        loop.close()
    assert not errors, errors


async def until(pred: Callable[[], Any], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.01)


def test_subscribe_publish_and_calls(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        registry = await env.start_agent()
        leader = LeaderClient(registry.get_or_create('Store["main"]', Store, ["main"], {}))
        local: list[Any] = []
        leader.subscribe({"topic": "t"}, local.append)
        a, b = env.follower(), env.follower()
        got_a: list[Any] = []
        got_b: list[Any] = []
        a.subscribe({"topic": "t"}, got_a.append)
        b.subscribe({"topic": "t"}, got_b.append)
        assert await a.add(2, 3) == 5  # also: both subscriptions reached the leader
        assert await b.add(1, 1) == 2
        a.publish({"topic": "t", "value": 1})
        await until(lambda: got_a == [1] and got_b == [1] and local == [1])
        leader.publish({"topic": "t", "value": 2})  # the leader's own publish
        await until(lambda: got_a == [1, 2] and got_b == [1, 2] and local == [1, 2])
        assert await a.get("t") == 2 and await leader.get("t") == 2
        assert await a.pid() == await b.pid() == await leader.pid()  # one real client
        with pytest.raises(ClusterClientError, match="KeyError") as info:
            await a.boom()
        assert info.value.remote_type == "KeyError"  # type: ignore[attr-defined]
        with pytest.raises(AttributeError, match="follower_methods"):
            a.values  # noqa: B018 (not declared: never forwarded)
        with pytest.raises(TypeError, match="not JSON-serializable"):
            await a.add({1}, 2)
        late: list[Any] = []
        b.subscribe({"topic": "t"}, late.append)  # second listener, same reg: cached value
        await until(lambda: late == [2])
        b.unsubscribe({"topic": "t"})
        leader.publish({"topic": "t", "value": 3})
        await until(lambda: got_a[-1] == 3)
        await asyncio.sleep(0.05)
        assert got_b == [1, 2] and late == [2]
        await env.kill_agent()

    run(test, tmp_path)


def test_reconnect_resubscribes_and_waiting_calls_go_through(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        await env.start_agent()
        follower = env.follower(timeout=5)
        got: list[Any] = []
        follower.subscribe({"topic": "t"}, got.append)
        first = await follower.pid()
        await env.kill_agent()
        await asyncio.sleep(0.05)
        # while no agent serves: a call and a publish wait for the next one
        call = asyncio.ensure_future(follower.get("t"))
        follower.publish({"topic": "t", "value": "queued"})
        await asyncio.sleep(0.2)
        assert not call.done()
        registry = await env.start_agent()  # a new agent; nobody created the leader there
        assert await asyncio.wait_for(call, 3) == "queued"
        assert await follower.pid() != first  # a new real client, built from the class ref
        await until(lambda: got == ["queued"])  # the subscription came back on its own
        registry.leaders['Store["main"]'].client.publish({"topic": "t", "value": "again"})
        await until(lambda: got == ["queued", "again"])
        await env.kill_agent()

    run(test, tmp_path)


def test_call_in_flight_when_the_leader_dies_is_sent_again_once(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        await env.start_agent()
        follower = env.follower(timeout=5)
        assert await follower.add(0, 0) == 0
        call = asyncio.ensure_future(follower.sleep(0.3))
        await asyncio.sleep(0.1)  # in the leader now
        await env.kill_agent()
        await asyncio.sleep(0.05)
        await env.start_agent()
        assert await asyncio.wait_for(call, 3) == 0.3  # re-sent to the new leader
        await env.kill_agent()

    run(test, tmp_path)


def test_calls_time_out_when_no_leader_answers(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        follower = env.follower(timeout=0.3)  # nothing serves the endpoint
        with pytest.raises(ClusterClientTimeout, match=r"not reachable within 0\.3s"):
            await follower.add(1, 2)
        await env.start_agent()
        slow = FollowerClient(follower._conn, follower.key, Store.follower_methods, 0.2)
        with pytest.raises(TimeoutError, match="no answer"):
            await slow.sleep(1.0)
        assert await follower.add(1, 2) == 3
        await env.kill_agent()

    run(test, tmp_path)


def test_failed_subscribe_leaves_no_stale_topic(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        registry = await env.start_agent()
        follower = env.follower()
        follower.subscribe({"topic": "forbidden"}, lambda data: None)
        assert await follower.add(0, 0) == 0
        leader = registry.leaders['Store["main"]']
        assert canonical({"topic": "forbidden"}) not in leader.topics
        await env.kill_agent()

    run(test, tmp_path)


def test_push_from_another_thread_is_delivered_on_the_loop(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        registry = await env.start_agent()
        follower = env.follower()
        got: list[Any] = []
        follower.subscribe({"topic": "t"}, got.append)
        assert await follower.add(0, 0) == 0
        client = registry.leaders['Store["main"]'].client
        thread = threading.Thread(target=client.publish, args=({"topic": "t", "value": 9},))
        thread.start()
        thread.join()
        await until(lambda: got == [9])
        await env.kill_agent()

    run(test, tmp_path)


def raw_exchange(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(path)
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(4096):
            out += chunk
            if len(out) >= 4 and len(out) >= 4 + struct.unpack(">I", out[:4])[0]:
                break
        return out


def test_server_refuses_peers_without_the_secret(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        await env.start_agent()
        loop = asyncio.get_running_loop()
        for bad in (
            frame("hello", secret="nope"),
            frame("hello"),
            frame("attach", secret=SECRET, key="x"),
            struct.pack(">I", 10_000) + b"{" * 10_000,
            b"\x00\x00\x00\x03abc",
        ):
            assert await loop.run_in_executor(None, raw_exchange, env.path, bad) == b""
        welcome = await loop.run_in_executor(
            None, raw_exchange, env.path, frame("hello", secret=SECRET)
        )
        assert Decoder().feed(welcome) == [{"action": "welcome", "pid": os.getpid()}]
        await env.kill_agent()

    run(test, tmp_path)


def test_outside_a_cluster_an_app_hosts_its_leaders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EGGSCRIPTS_LEADER_PATH", raising=False)

    class App:
        role = "app"

    client = cluster(App(), Store).create("solo")
    assert isinstance(client, LeaderClient) and client.key == 'Store["solo"]'
    assert cluster(App(), Store, name="Other").create("solo").key == 'Other["solo"]'
    with pytest.raises(TypeError, match="not JSON-serializable"):
        cluster(App(), Store).create(object())
    with pytest.raises(TypeError, match="client class"):
        cluster(App(), Store()).create()  # type: ignore[arg-type]

    class Bad:
        follower_methods = ("missing",)

    with pytest.raises(TypeError, match="no public method 'missing'"):
        cluster(App(), Bad)


def test_decoder_and_keys() -> None:
    frames = frame("a", x=1) + frame("b", y=[1, 2]) + frame("c")
    decoder = Decoder()
    out = []
    for i in range(len(frames)):  # byte by byte: frames split anywhere
        out.extend(decoder.feed(frames[i : i + 1]))
    assert [m["action"] for m in out] == ["a", "b", "c"]
    for bad in (b"\x00\x00\x00\x02{]", b"\x00\x00\x00\x02[]", b"\x00\x00\x00\x02\xff\xfe"):
        with pytest.raises(ProtocolError):
            Decoder().feed(bad)
    assert canonical({"b": (1, 2), 1: "x"}) == canonical({"1": "x", "b": [1, 2]})
    assert client_key("KV", ("main",), {}) == 'KV["main"]'
    assert client_key("KV", (), {"a": 1}) == 'KV[[],{"a":1}]'


def test_import_file_and_resolve_class(tmp_path: Path) -> None:
    path = tmp_path / "client_mod.py"
    path.write_text("class Client:\n    class Inner:\n        pass\n")
    module = import_file(str(path))
    assert import_file(str(path)) is module  # once per process
    ref = class_ref(module.Client.Inner)
    assert ref["file"] == str(path) and ref["qualname"] == "Client.Inner"
    assert resolve_class(ref) is module.Client.Inner
    with pytest.raises(LookupError):
        resolve_class({"module": "_nowhere_", "qualname": "X", "file": None})
