"""The early start's handoff message (runtime/contract/handoff.py): one launch and its
descriptors over a socketpair, EOF for none, a malformed one refused with its descriptors
closed."""

from __future__ import annotations

import os
import socket

import pytest

from runtime.contract import handoff


def _pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def test_a_launch_and_its_descriptors_arrive_whole() -> None:
    cli, runtime = _pair()
    read_fd, write_fd = os.pipe()
    env = {"A": "1", "BIG": "x" * 100_000}  # more than one read: the rest follows the fds
    launch = handoff.Launch("run", ["py", "-m", "m", "{}"], env, "/srv/app", {"lock_fd": write_fd})
    handoff.send(cli, launch)
    cli.close()
    got = handoff.receive(runtime)
    assert got is not None
    assert (got.kind, got.argv, got.env, got.cwd) == ("run", launch.argv, env, "/srv/app")
    assert set(got.fds) == {"lock_fd"} and got.fds["lock_fd"] != write_fd
    os.write(got.fds["lock_fd"], b"through the passed descriptor")
    assert os.read(read_fd, 100) == b"through the passed descriptor"
    for fd in (read_fd, write_fd, got.fds["lock_fd"]):
        os.close(fd)
    runtime.close()


def test_eof_without_a_message_is_no_launch() -> None:
    cli, runtime = _pair()
    cli.close()
    assert handoff.receive(runtime) is None
    runtime.close()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"kind": "explode", "argv": [], "env": {}, "cwd": "/", "fds": ["lock_fd"]}',
        b'{"kind": "run", "argv": [1], "env": {}, "cwd": "/", "fds": ["lock_fd"]}',
        b'{"kind": "run", "argv": [], "env": {}, "cwd": "/", "fds": []}',  # one fd, no name
        b'{"kind": "run", "argv": [], "env": {}, "cwd": "/", "fds": ["secret"]}',
    ],
)
def test_a_malformed_launch_is_refused_and_its_descriptors_closed(payload: bytes) -> None:
    cli, runtime = _pair()
    read_fd, write_fd = os.pipe()
    socket.send_fds(cli, [payload], [write_fd])
    cli.close()
    os.close(write_fd)
    with pytest.raises(ValueError, match="malformed handoff"):
        handoff.receive(runtime)
    assert os.read(read_fd, 1) == b""  # every write end closed: the passed copy too
    os.close(read_fd)
    runtime.close()
