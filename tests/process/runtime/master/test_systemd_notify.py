"""systemd integration building blocks: the `$NOTIFY_SOCKET` sender and socket:
the cases with real processes (the others are in
tests/unit/runtime/master/test_systemd_notify.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.helpers import ROOT, free_port, wait_until

PROBE = """
import json, os, sys
from runtime.master.production.listener import activated_listener
if os.environ.get("SET_PID"):
    os.environ["LISTEN_PID"] = str(os.getpid())
sock = activated_listener()
info = None
if sock is not None:
    conn, _ = sock.accept() if sock.getblocking() else (None, None)
    info = {"port": sock.getsockname()[1], "proto": sock.proto,
            "blocking": sock.getblocking(), "inheritable": sock.get_inheritable()}
left = [k for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES") if k in os.environ]
print(json.dumps({"info": info, "left": left}))
"""


def run_probe(env: dict[str, str], pass_sock: socket.socket | None = None) -> dict:
    def to_fd3() -> None:
        if pass_sock is not None:
            os.dup2(pass_sock.fileno(), 3)

    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=full,
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=to_fd3,
        pass_fds=(3, pass_sock.fileno()) if pass_sock is not None else (),
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _connect(port: int) -> socket.socket | None:
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return None


def test_activation_adopts_fd3_as_a_tcp_listener() -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, like many managers
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    try:
        got = run_probe({"LISTEN_FDS": "1", "SET_PID": "1"}, srv)
    finally:
        srv.close()
    info = got["info"]
    assert info["proto"] == socket.IPPROTO_TCP  # TCP_NODELAY is only set on TCP sockets
    assert info["blocking"] is False and info["inheritable"] is False
    assert got["left"] == []


def test_activation_for_another_pid_is_ignored() -> None:
    got = run_probe({"LISTEN_FDS": "1", "LISTEN_PID": "1"})
    assert got == {"info": None, "left": []}


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="needs systemd")
def test_under_systemd_socket_activate() -> None:
    port = free_port()
    proc = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname=http",
         sys.executable, "-c", PROBE.replace("sock.getblocking()", "True")],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        client = wait_until(lambda: _connect(port), timeout=10)
        out, _ = proc.communicate(timeout=20)
        client.close()
    finally:
        proc.kill()
        proc.wait()
    got = json.loads(out.strip().splitlines()[-1])
    assert got["info"]["port"] == port
    assert got["info"]["proto"] == socket.IPPROTO_TCP
    assert got["left"] == []
