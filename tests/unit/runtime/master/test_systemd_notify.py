"""systemd integration building blocks: the `$NOTIFY_SOCKET` sender and socket
activation, tested against a real datagram socket and a real `systemd-socket-activate`."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from runtime.master.production import listener, notify
from runtime.process.errors import StartupError


def receiver(tmp_path: Path) -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(2.0)
    return sock, path


def fields(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_messages_arrive_as_datagrams(tmp_path: Path) -> None:
    sock, path = receiver(tmp_path)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    sender = notify.Notifier.from_environ(env)
    assert env == {}, "the variables are unset so children do not speak for the master"
    try:
        assert sender.enabled and sender.watchdog_interval == 1.0
        sender.status("1/2 workers\nready")
        assert fields(sock) == {"STATUS": "1/2 workers ready"}
        sender.ready("2/2 workers")
        assert fields(sock) == {"READY": "1", "STATUS": "2/2 workers"}
        before = notify.monotonic_usec()
        sender.reloading("reloading")
        got = fields(sock)
        assert got["RELOADING"] == "1" and got["STATUS"] == "reloading"
        assert before <= int(got["MONOTONIC_USEC"]) <= notify.monotonic_usec()
        sender.extend_timeout(2.5)
        assert fields(sock) == {"EXTEND_TIMEOUT_USEC": "2500000"}
        sender.stopping()
        assert fields(sock) == {"STOPPING": "1"}
        sender.watchdog()
        assert fields(sock) == {"WATCHDOG": "1"}
    finally:
        sender.close()
        sock.close()


def test_abstract_namespace_address() -> None:
    name = f"eggscripts-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    sender = notify.Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
    try:
        assert sender.ready()
        assert sock.recv(100) == b"READY=1"
    finally:
        sender.close()
        sock.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    sender = notify.Notifier.from_environ({})
    assert not sender.enabled
    assert not sender.ready() and not sender.watchdog() and not sender.stopping()
    assert sender.fileno() is None


def test_a_vanished_systemd_never_raises(tmp_path: Path) -> None:
    sender = notify.Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert sender.enabled
    assert sender.ready() is False
    assert sender.status("still fine") is False
    sender.close()


def test_watchdog_interval_rules() -> None:
    assert notify.watchdog_interval({}) is None
    assert notify.watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert notify.watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert notify.watchdog_interval({"WATCHDOG_USEC": "500000"}) == 0.25
    other = {"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert notify.watchdog_interval(other) is None
    assert notify.socket_address("vsock:2:1234") is None


def test_watchdog_at_the_expected_rate(tmp_path: Path) -> None:
    """A loop calling `watchdog()` every `watchdog_interval` sends ~2 per WATCHDOG_USEC."""
    sock, path = receiver(tmp_path)
    sender = notify.Notifier.from_environ({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    assert sender.watchdog_interval == pytest.approx(0.1)
    start = time.monotonic()
    while time.monotonic() - start < 1.0:
        sender.watchdog()
        time.sleep(sender.watchdog_interval or 1)
    sock.setblocking(False)
    count = 0
    while True:
        try:
            assert sock.recv(100) == b"WATCHDOG=1"
        except BlockingIOError:
            break
        count += 1
    assert 5 <= count <= 11
    sender.close()
    sock.close()


# -- socket activation ---------------------------------------------------------------------


def test_activation_rejects_what_is_not_a_listening_stream_socket() -> None:
    env = {"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())}
    r, w = os.pipe()
    saved = os.dup(3) if _fd_open(3) else None
    try:
        os.dup2(r, 3)
        with pytest.raises(StartupError, match="fd 3 is not a socket"):
            listener.activated_listener(dict(env))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        os.dup2(udp.fileno(), 3)
        with pytest.raises(StartupError, match="not a stream socket"):
            listener.activated_listener(dict(env))
        udp.close()
        with pytest.raises(StartupError, match="bad LISTEN_PID"):
            listener.activated_listener({"LISTEN_FDS": "x", "LISTEN_PID": str(os.getpid())})
    finally:
        if saved is not None:
            os.dup2(saved, 3)
            os.close(saved)
        else:
            os.close(3)
        os.close(r)
        os.close(w)


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
