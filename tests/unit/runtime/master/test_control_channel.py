"""The control channel on its own: the master's ControlServer driven by a selector loop of
the test's (as the master loop drives it), and the real CLI (`eggscripts reload`) as its
client. Real sockets, real processes; no cluster needed.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.contract import paths
from runtime.contract.control import Reply
from runtime.contract.framing import FrameDecoder, encode
from runtime.master.control import connections as control
from runtime.master.control import control_socket
from runtime.master.control.connections import ControlServer, Request
from runtime.master.lifecycle.timers import Timers
from runtime.process.errors import StartupError


class LoopThread:
    """A ControlServer in a selector loop on a thread: the master's loop in miniature
    (`key.data.on_event(mask)` for every ready key)."""

    def __init__(self, path: str, handlers: dict[str, Callable[[Request], None]]) -> None:
        import logging

        self.selector = selectors.DefaultSelector()
        self.server = ControlServer(path, self.selector, handlers, logging.getLogger("test"))
        self.server.open()
        self.calls: list[Callable[[], None]] = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping:
            for key, mask in self.selector.select(0.02):
                key.data.on_event(mask)
            with self.lock:
                calls, self.calls = self.calls, []
            for call in calls:
                call()

    def later(self, call: Callable[[], None]) -> None:
        with self.lock:
            self.calls.append(call)

    def close(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.server.close()
        self.selector.close()


@pytest.fixture(name="runtime_dir")  # also tests/process/runtime/master/
def runtime_dir_fixture(tmp_path: Path) -> Path:
    """An XDG_RUNTIME_DIR of our own: the CLI's control dir is `<it>/eggscripts`, 0700."""
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture(name="serve")
def serve_fixture(runtime_dir: Path) -> Iterator[Callable[..., LoopThread]]:
    loops: list[LoopThread] = []

    def start(title: str, handlers: dict[str, Callable[[Request], None]]) -> LoopThread:
        directory = str(runtime_dir / "eggscripts")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        loop = LoopThread(paths.socket_path(title, directory), handlers)
        loops.append(loop)
        return loop

    yield start
    for loop in loops:
        loop.close()


def exchange(path: str, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Send requests on one connection; every frame until the final one of the last."""
    frames: list[dict[str, Any]] = []
    decoder = FrameDecoder()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        for req in requests:
            sock.sendall(encode(req))
            while not frames or frames[-1]["action"] not in ("done", "error"):
                data = sock.recv(65536)
                if not data:
                    return frames
                frames += decoder.feed(data)
            if req is not requests[-1]:
                frames.append({"action": "--"})
    return frames


def test_replies_stream_then_finish_and_errors_are_frames(serve: Any, title: str) -> None:
    def streaming(request: Request) -> None:
        for k in (1, 2):
            request.reply(Reply.PROGRESS, {"replaced": k, "total": 2})
        request.finish({"workers": [1, 2]})
        request.reply(Reply.PROGRESS, {"late": True})  # after finish: dropped

    def broken(request: Request) -> None:
        raise RuntimeError("boom")

    loop = serve(title, {"reload": streaming, "broken": broken})
    path = loop.server.path
    frames = exchange(path, {"action": "reload", "data": {}})
    assert [f["action"] for f in frames] == ["progress", "progress", "done"]
    assert frames[-1] == {"action": "done", "data": {"workers": [1, 2]}, "exit": 0}
    # Several requests on one connection, each answered in turn.
    frames = exchange(path, {"action": "nope"}, {"action": "broken", "data": None})
    assert frames[0]["action"] == "error" and frames[0]["exit"] == 2
    assert "unknown control action 'nope'" in frames[0]["data"]["message"]
    assert frames[2]["data"]["message"] == "internal error in the master: RuntimeError: boom"
    # Garbage is answered with one error frame and the connection is closed.
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b"\x00\x00\x00\x05hello")
        data = sock.recv(65536)
        assert FrameDecoder().feed(data)[0]["action"] == "error"
        assert sock.recv(65536) == b""


def test_socket_is_private_and_released(serve: Any, title: str, runtime_dir: Path) -> None:
    loop = serve(title, {})
    path = loop.server.path
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not [p for p in os.listdir(os.path.dirname(path)) if p.endswith(".tmp")]
    loop.close()
    assert not os.path.exists(path)


def test_unsafe_directory_is_refused(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    open_dir.chmod(0o755)
    with pytest.raises(StartupError, match="has mode 755, not 700"):
        control_socket.bind(str(open_dir / "x.sock"))
    link = tmp_path / "link"
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link.symlink_to(private)
    with pytest.raises(StartupError, match="is not a directory"):
        control_socket.bind(str(link / "x.sock"))
    # The contract finds the same places unsafe, with one line (the CLI then falls back).
    with pytest.raises(paths.UnsafeDir, match="mode 755, not 700"):
        paths.check_dir(str(open_dir))


def test_stale_socket_is_replaced_and_a_live_one_is_not(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir(mode=0o700)
    path = str(directory / "t.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)  # what a SIGKILLed master leaves: the file, nobody accepting
    dead.close()
    assert not control_socket.is_live(path)
    sock, inode = control_socket.bind(path)
    try:
        assert control_socket.is_live(path)
        with pytest.raises(StartupError, match="in use: a master with this title is running"):
            control_socket.bind(path)
        assert os.stat(path).st_ino == inode  # the loser did not touch the winner's name
    finally:
        sock.close()
        control_socket.release(path, inode)
    assert not os.path.exists(path)


def test_long_titles_get_a_short_socket_name(tmp_path: Path) -> None:
    title = "x" * 200
    path = paths.socket_path(title, str(tmp_path))
    assert len(os.fsencode(path)) <= paths.MAX_PATH
    assert path != paths.socket_path("x" * 199, str(tmp_path))
    assert paths.lock_path(title, str(tmp_path)) == path.removesuffix(".sock") + ".lock"


# ---- `eggscripts reload` against a fake master ----------------------------------------------


def reload_handlers(loop_ref: list[LoopThread], script: list[Any]) -> dict[str, Any]:
    """A reload handler that plays `script` (frames, or "close") one per loop pass."""

    def handle(request: Request) -> None:
        steps = list(script)

        def step() -> None:
            if not steps:
                return
            item = steps.pop(0)
            if item == "close":
                request.conn.close()
                return
            action, data, *exit_code = item
            if action == "done":
                request.finish(data)
            elif action == "error":
                request.fail(data["message"], exit_code[0], data)
            else:
                request.reply(Reply(action), data)
            loop_ref[0].later(step)

        step()

    return {"reload": handle}


class Stepped:
    """A ControlServer driven step by step on the test's own selector, with a fake clock
    and the master's Timers: the limits' decisions, deterministic and fast."""

    def __init__(self, path: str, reply_size: int = 1000) -> None:
        import logging

        self.now = 0.0
        self.timers = Timers(lambda: self.now)
        self.selector = selectors.DefaultSelector()
        handlers = {"status": lambda r: r.finish({"pad": "x" * reply_size})}
        log = logging.getLogger("test")
        self.server = ControlServer(path, self.selector, handlers, log, self.timers)
        self.server.open()

    def pump(self) -> None:
        for _ in range(3):
            for key, mask in self.selector.select(0.01):
                key.data.on_event(mask)
            self.timers.run_due()

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(self.server.path)
        self.pump()
        return sock

    def live_timers(self) -> int:
        return sum(not timer.cancelled for _, _, timer in self.timers._heap)

    def close(self) -> None:
        self.server.close()
        self.selector.close()


@pytest.fixture
def stepped(tmp_path: Path) -> Iterator[Stepped]:
    directory = tmp_path / "ctl"
    directory.mkdir(mode=0o700)
    server = Stepped(str(directory / "t.sock"))
    yield server
    server.close()


def gone(sock: socket.socket) -> bool:
    """Whether the master closed this client's connection (nothing to read is not that)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_a_newcomer_evicts_the_longest_idle_and_idle_ones_time_out(stepped: Stepped) -> None:
    clients = []
    for _ in range(control.MAX_CONNECTIONS):
        clients.append(stepped.connect())
        stepped.now += 0.1
    assert len(stepped.server.connections) == control.MAX_CONNECTIONS
    newcomer = stepped.connect()
    newcomer.sendall(encode({"action": "status", "data": {}}))
    stepped.pump()
    assert FrameDecoder().feed(newcomer.recv(65536))[0]["action"] == "done"
    assert gone(clients[0]) and not any(gone(c) for c in clients[1:])
    assert len(stepped.server.connections) == control.MAX_CONNECTIONS
    assert stepped.live_timers() == 1  # one sweep pending, however many admissions
    stepped.now += control.IDLE_TIMEOUT
    stepped.pump()
    assert all(gone(c) for c in [*clients[1:], newcomer])
    assert not stepped.server.connections and stepped.live_timers() == 0


def test_a_connection_busy_with_a_request_is_neither_evicted_nor_timed_out(
    stepped: Stepped,
) -> None:
    stepped.server.handlers["reload"] = lambda request: None  # answers later, streams
    busy = stepped.connect()
    busy.sendall(encode({"action": "reload", "data": {}}))
    stepped.pump()
    idle = []
    for _ in range(control.MAX_CONNECTIONS - 1):
        stepped.now += 0.1
        idle.append(stepped.connect())
    newcomer = stepped.connect()
    assert gone(idle[0]) and not gone(busy)  # the oldest is the busy one: kept
    stepped.now += 10 * control.IDLE_TIMEOUT
    stepped.pump()
    assert not gone(busy) and len(stepped.server.connections) == 1
    newcomer.close()


def test_replies_nobody_reads_stop_the_reading_not_grow_the_master(stepped: Stepped) -> None:
    client = socket.socket(socket.AF_UNIX)
    client.connect(stepped.server.path)
    client.setblocking(False)
    count, sent = 3000, 0
    request = encode({"action": "status", "data": {}})
    with contextlib.suppress(BlockingIOError):
        while sent < count:
            client.send(request)
            sent += 1
            if sent % 100 == 0:
                stepped.pump()
    for _ in range(20):
        stepped.pump()
    (conn,) = stepped.server.connections
    assert len(conn.out) < control.MAX_UNREAD + 2000  # one reply past the mark at most
    assert conn.waiting and not conn.mask & selectors.EVENT_READ
    # The client reads again: every request it managed to send is answered, in order.
    decoder, answered = FrameDecoder(), 0
    while answered < sent:
        with contextlib.suppress(BlockingIOError):
            while sent < count:
                client.send(request)
                sent += 1
        stepped.pump()
        with contextlib.suppress(BlockingIOError):
            while True:
                data = client.recv(1 << 20)
                assert data
                answered += len(decoder.feed(data))
    assert answered == sent == count
    client.close()
