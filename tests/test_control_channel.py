"""The control channel on its own: the master's ControlServer driven by a selector loop of
the test's (as the master loop drives it), and the real CLI (`eggscripts reload`) as its
client. Real sockets, real processes; no cluster needed.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eggscripts import __version__
from runtime.contract import paths
from runtime.contract.control import Reply
from runtime.contract.framing import FrameDecoder, encode
from runtime.errors import StartupError
from runtime.master import control, control_socket
from runtime.master.control import ControlServer, Request
from runtime.master.timers import Timers
from tests.cli_helpers import cli_env, run_cli


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


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """An XDG_RUNTIME_DIR of our own: the CLI's control dir is `<it>/eggscripts`, 0700."""
    path = tmp_path / "xdg"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def serve(runtime_dir: Path) -> Iterator[Callable[..., LoopThread]]:
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


def test_other_uid_is_refused_by_peer_credentials(serve: Any, title: str, tmp_path: Path) -> None:
    """Even past the 0700 directory (here: a hard link in an open directory, the socket
    made world-writable on purpose), a process of another uid gets one error frame."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to connect as another user")
    loop = serve(title, {"status": lambda r: r.finish({"secret": 1})})
    public = Path(tempfile.mkdtemp(prefix="eggscripts-test-"))  # reachable by anyone
    public.chmod(0o755)
    link = public / "s.sock"
    os.link(loop.server.path, link)
    os.chmod(link, 0o666)
    script = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])\n"
        "try: s.sendall(b'\\x00\\x00\\x00\\x13' + b'{\"action\":\"status\"}')\n"
        "except BrokenPipeError: pass\n"
        "data=b''\n"
        "while True:\n"
        "    try: chunk=s.recv(4096)\n"
        "    except ConnectionResetError: break\n"
        "    if not chunk: break\n"
        "    data+=chunk\n"
        "print(data[4:].decode())\n"
    )
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "/usr/bin/python3", "-c", script, str(link)],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    shutil.rmtree(public)
    assert out.returncode == 0, out.stderr
    assert "permission denied: not the owner of this cluster" in out.stdout
    assert "secret" not in out.stdout


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


def run_reload(serve: Any, title: str, runtime_dir: Path, script: list[Any], *args: str) -> Any:
    ref: list[LoopThread] = []
    ref.append(serve(title, reload_handlers(ref, script)))
    env = cli_env(runtime_dir, XDG_RUNTIME_DIR=str(runtime_dir))
    return run_cli("reload", f"--title={title}", *args, env=env)


def test_reload_prints_progress_and_the_new_pids(serve: Any, title: str, runtime_dir: Path) -> None:
    script = [
        ("accepted", {"pid": 1, "version": __version__, "workers": 2}),
        ("progress", {"phase": "agent", "message": "agent replaced (pid 10)"}),
        ("progress", {"replaced": 1, "total": 2}),
        ("progress", {"replaced": 2, "total": 2}),
        ("done", {"agent": 10, "workers": [11, 12], "release_dir": "/srv/r42"}),
    ]
    result = run_reload(serve, title, runtime_dir, script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"[eggscripts] reloading {title}: agent replaced (pid 10)",
        f"[eggscripts] reloading {title}: 1/2 replaced",
        f"[eggscripts] reloading {title}: 2/2 replaced",
    ]
    assert lines[3].startswith(f"[eggscripts] {title} reloaded (agent pid 10; app pids 11, 12) in ")
    assert lines[3].endswith("; serving /srv/r42")


def test_reload_failure_is_one_line_with_the_masters_exit_status(
    serve: Any, title: str, runtime_dir: Path
) -> None:
    script = [
        ("accepted", {"pid": 1, "version": "0.0.1", "workers": 2}),
        ("error", {"message": "app/router.py:3: RuntimeError: nope", "replaced": 0, "total": 2}, 4),
    ]
    result = run_reload(serve, title, runtime_dir, script)
    assert result.returncode == 4
    assert "master of " in result.stdout and "runs eggscripts 0.0.1" in result.stdout
    assert result.stderr == (
        f"[eggscripts] error: reload of {title} failed: app/router.py:3: RuntimeError: nope "
        "(0/2 workers run the new code)\n"
    )


def test_reload_connection_lost_and_no_wait(serve: Any, title: str, runtime_dir: Path) -> None:
    result = run_reload(
        serve, title, runtime_dir, [("progress", {"replaced": 0, "total": 2}), "close"]
    )
    assert result.returncode == 1
    assert "closed the control connection" in result.stderr
    result = run_reload(serve, title + "b", runtime_dir, [("done", {"waited": False})], "--no-wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"[eggscripts] reload of {title}b requested (not waiting for it)\n"


def test_reload_of_a_title_not_running_exits_3(title: str, runtime_dir: Path) -> None:
    env = cli_env(runtime_dir, XDG_RUNTIME_DIR=str(runtime_dir))
    result = run_cli("reload", f"--title={title}", env=env)
    assert result.returncode == 3
    assert f"no running cluster found with title {title}" in result.stderr


def test_cli_falls_back_from_a_control_dir_that_is_not_private(
    title: str, runtime_dir: Path
) -> None:
    """Never used, never chmod-ed, never a denial of service: one line, then the private
    fallback in the home directory (where no cluster of that title runs: exit 3)."""
    (runtime_dir / "eggscripts").mkdir(mode=0o755)
    (runtime_dir / "eggscripts").chmod(0o755)
    env = cli_env(runtime_dir, XDG_RUNTIME_DIR=str(runtime_dir))
    fallback = Path(env["HOME"]) / ".local/state/eggscripts/run"
    for command in ("status", "scale", "reload"):
        args = [command, f"--title={title}"] + (["2"] if command == "scale" else [])
        result = run_cli(*args, env=env)
        assert result.returncode == 3, (command, result.stderr)
        assert result.stderr.splitlines()[0] == (
            f"[eggscripts] warning: {runtime_dir}/eggscripts has mode 755, not 700; using "
            f"{fallback} instead"
        )
    with contextlib.suppress(OSError):
        (runtime_dir / "eggscripts").rmdir()


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
