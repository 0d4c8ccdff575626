"""The child-side Messenger and the master's routing rules, in one process over real
socketpairs: the ordering guarantees around `egg-ready` and the validation that keeps bad
messages away from the master."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest

from runtime.app.messenger import MAX_UNSENT, Messenger
from runtime.contract.framing import FrameDecoder
from runtime.contract.messages import InvalidMessage, Message, Role
from runtime.master.children.channel import Channel
from runtime.master.children.handle import ChildHandle
from runtime.master.children.routing import route_targets
from runtime.master.children.states import ChildState
from runtime.worker.base import new_event_loop
from runtime.worker.link import Link, open_link


class Master:
    """The master's end of a child's channel, driven from the test."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)
        self.decoder = FrameDecoder()

    def send(self, action: str, data: Any = None, sender: str = "master") -> None:
        self.sock.sendall(Message(action, data, sender, Role.ALL).to_frame())

    def received(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                return out
            out.extend(self.decoder.feed(chunk))


def run(test: Callable[[Messenger, Master], Any]) -> None:
    loop = new_event_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))

    async def main() -> None:
        child_end, master_end = socket.socketpair()
        link = Link(Role.APP, lambda m: messenger.deliver(m), lambda: None)
        messenger = Messenger(link, Role.APP)
        await open_link(child_end, link)
        await test(messenger, Master(master_end))
        link.transport.close()
        master_end.close()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert not errors, errors  # nothing may escape as an "uncaught fault"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def test_sends_wait_for_ready_then_leave_in_order() -> None:
    async def test(messenger: Messenger, master: Master) -> None:
        messenger.broadcast("first", 1)
        messenger.send_to(4321, "second", {"a": [1, 2]})
        messenger.send_to_agent("third")
        await settle()
        assert master.received() == []
        master.send("egg-ready", {"pid": 1})
        await settle()
        got = [(m["action"], m["to"], m["receiver_pid"], m["from"]) for m in master.received()]
        assert got == [
            ("first", "all", None, "app"),
            ("second", "all", 4321, "app"),
            ("third", "agent", None, "app"),
        ]
        messenger.send_random("fourth", None)  # ready now: straight out
        await settle()
        assert [m["action"] for m in master.received()] == ["fourth"]

    run(test)


def test_user_messages_received_before_ready_are_held_until_ready() -> None:
    async def test(messenger: Messenger, master: Master) -> None:
        seen: list[tuple[str, Any]] = []
        messenger.on("hello", lambda data: seen.append(("hello", data)))
        messenger.on("egg-ready", lambda data: seen.append(("egg-ready", data)))
        messenger.on("egg-pids", lambda data: seen.append(("egg-pids", data)))
        master.send("hello", 1, sender="app")
        master.send("hello", 2, sender="agent")
        master.send("egg-pids", [10, 11])  # runtime news is not held
        await settle()
        assert seen == [("egg-pids", [10, 11])]
        master.send("egg-ready", {"pid": 1})
        master.send("hello", 3, sender="app")
        await settle()
        assert seen[1:] == [("egg-ready", {"pid": 1}), ("hello", 1), ("hello", 2), ("hello", 3)]

    run(test)


def test_a_forged_egg_ready_is_ignored() -> None:
    async def test(messenger: Messenger, master: Master) -> None:
        seen: list[Any] = []
        messenger.on("egg-ready", seen.append)
        messenger.broadcast("queued", 1)
        master.send("egg-ready", {"fake": True}, sender="app")
        await settle()
        assert not messenger.ready and seen == [] and master.received() == []
        master.send("egg-ready", {"pid": 1})
        await settle()
        assert messenger.ready and seen == [{"pid": 1}]

    run(test)


def test_unsent_messages_are_bounded_and_drops_counted(caplog: pytest.LogCaptureFixture) -> None:
    """The master does not read: a burst (one loop iteration) and a stream (one message per
    iteration) both stop at MAX_UNSENT; the rest is dropped, counted, logged once; once
    the master has read, messages flow again and the count is logged."""
    chunk = "x" * (1024 * 1024)

    async def test(messenger: Messenger, master: Master) -> None:
        master.send("egg-ready", {"pid": 1})
        await settle()
        assert messenger.ready
        for _ in range(40):  # 40 MiB in one iteration
            messenger.send_to_agent("burst", chunk)
        assert 0 < messenger.dropped < 40
        await settle()
        for _ in range(20):
            messenger.send_to_agent("stream", chunk)
            await asyncio.sleep(0)
        assert link_unsent(messenger) <= MAX_UNSENT
        assert messenger.dropped >= 15  # the kernel may have taken a message's worth
        with pytest.raises(ValueError, match="a message may have at most"):
            messenger.send_to_agent("huge", chunk * 17)
        while link_unsent(messenger):  # the master reads again
            master.received()
            await asyncio.sleep(0.005)
        messenger.send_to_agent("after", 1)
        assert messenger.dropped == 0
        await settle()
        assert [m["action"] for m in master.received()][-1] == "after"

    with caplog.at_level(logging.WARNING, "eggscripts.messenger"):
        run(test)
    lines = [r.getMessage() for r in caplog.records]
    # Each time the channel fills: one line at once, one with the count when it flows again.
    assert lines and len(lines) % 2 == 0, lines
    assert all("dropping new messages" in line for line in lines[::2]), lines
    assert all(line.endswith(" messages were dropped (channel full)") for line in lines[1::2])


def link_unsent(messenger: Messenger) -> int:
    return int(messenger._link.unsent)


def test_on_once_off() -> None:
    async def test(messenger: Messenger, master: Master) -> None:
        seen: list[tuple[str, Any]] = []

        def forever(data: Any) -> None:
            seen.append(("on", data))

        messenger.on("x", forever)
        messenger.once("x", lambda data: seen.append(("once", data)))
        master.send("egg-ready")
        for i in range(3):
            master.send("x", i, sender="app")
        await settle()
        messenger.off("x", forever)
        master.send("x", 99, sender="app")
        await settle()
        assert seen == [("on", 0), ("once", 0), ("on", 1), ("on", 2)]

    run(test)


def test_failing_handlers_are_logged_and_do_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    async def test(messenger: Messenger, master: Master) -> None:
        after: list[Any] = []

        async def fails_later(data: Any) -> None:
            await asyncio.sleep(0)
            raise RuntimeError("async boom")

        messenger.on("x", lambda data: 1 / 0)
        messenger.on("x", fails_later)
        messenger.on("x", after.append)
        master.send("egg-ready")
        master.send("x", 1, sender="app")
        await settle()
        assert after == [1]  # the others' failures did not stop it

    with caplog.at_level(logging.ERROR, logger="eggscripts.messenger"):
        run(test)
    text = caplog.text
    assert "ZeroDivisionError" in text and "async boom" in text


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda m: m.broadcast("x", {1, 2}), TypeError, "not JSON-serializable"),
        (lambda m: m.send_to_app("x", float("inf")), TypeError, "not JSON-serializable"),
        (lambda m: m.send_to_agent("x", object()), TypeError, "not JSON-serializable"),
        (lambda m: m.broadcast("egg-ready"), ValueError, "reserved"),
        (lambda m: m.send_to_app("agent-start", {}), ValueError, "reserved"),
        (lambda m: m.broadcast(""), ValueError, "non-empty string"),
        (lambda m: m.send_to("12", "x"), ValueError, "process id"),
        (lambda m: m.send_to(True, "x"), ValueError, "process id"),
        (lambda m: m.send_to(0, "x"), ValueError, "process id"),
    ],
)
def test_bad_sends_fail_in_the_sender(call: Any, error: type, text: str) -> None:
    async def test(messenger: Messenger, master: Master) -> None:
        master.send("egg-ready")
        await settle()
        with pytest.raises(error, match=text):
            call(messenger)
        circular: list[Any] = []
        circular.append(circular)
        with pytest.raises(TypeError, match="not JSON-serializable"):
            messenger.broadcast("x", circular)
        await settle()
        assert master.received() == []

    run(test)


# -- routing (the master side) ---------------------------------------------------------
def _no_kill(pid: int, sig: int) -> None:
    raise AssertionError("routing never signals")


@pytest.fixture
def handles() -> Any:
    socks: list[socket.socket] = []

    def make(role: str, pid: int, state: ChildState) -> ChildHandle:
        a, b = socket.socketpair()
        socks.extend((a, b))
        handle = ChildHandle(role, pid, pid, Channel(a), 0.0, kill=_no_kill)
        handle.state = state
        return handle

    yield make
    for s in socks:
        s.close()


def test_routing_rules(handles: Any) -> None:
    agent = handles("agent", 100, ChildState.SERVING)
    a1 = handles("app", 101, ChildState.SERVING)
    a2 = handles("app", 102, ChildState.BOOTING)
    gone = handles("app", 103, ChildState.LEAVING)
    stopping = handles("app", 104, ChildState.STOPPING)
    apps = [a1, a2, gone, stopping]
    by_pid = {h.pid: h for h in [agent, *apps]}

    def pool() -> list[ChildHandle]:
        return [h for h in apps if h.state in (ChildState.BOOTING, ChildState.SERVING)]

    def route(**fields: Any) -> list[int]:
        frame = {"action": "x", "data": None, "from": "app", "to": "all", **fields}
        try:
            msg = Message.from_frame(frame)
        except InvalidMessage:
            return []  # dropped by the master's channel before routing
        return [h.pid for h in route_targets(msg, agent, pool, by_pid)]

    assert route(to="all") == [100, 101, 102]
    assert route(to="app") == [101, 102]
    assert route(to="agent") == [100]
    assert route(to="random") == [101]  # serving workers first
    assert route(receiver_pid=102, to="all") == [102]
    assert route(receiver_pid=999) == []
    for bad in ("102", True, 1.5, [102], {"pid": 102}):
        assert route(receiver_pid=bad) == []
    for bad_to in ("master", "parent", "nowhere", None, ["all"]):
        assert route(to=bad_to) == []
    for reserved in ("egg-ready", "agent-start", "app-exit", "egg-pids", "disconnect"):
        assert route(action=reserved) == []
    assert route(action=5) == []
    assert route_targets(Message("x", to="agent"), None, list, {}) == []
    assert route_targets(Message("x", to="random"), None, list, {}) == []
