"""`eggscripts start` without --daemon: the command's process becomes the master, so the
terminal (or a process supervisor) sees the master's exit status and signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import SHOWCASE, cluster_processes, request, wait_until

EGGSCRIPTS = str(Path(sys.executable).parent / "eggscripts")


def start_foreground(title: str, port: int, *extra: str) -> tuple[subprocess.Popen, object]:
    out = tempfile.TemporaryFile()  # noqa: SIM115 (read after the process ends)
    proc = subprocess.Popen(
        [EGGSCRIPTS, "start", f"--title={title}", f"--port={port}", "--hostname=127.0.0.1",
         "--workers=2", *extra, str(SHOWCASE)],
        stdout=out,
        stderr=subprocess.STDOUT,
    )  # fmt: skip

    def ready() -> bool:
        out.seek(0)
        if proc.poll() is not None:
            raise AssertionError(out.read().decode())
        return f"{title} started on" in out.read().decode()

    wait_until(ready, timeout=15)
    return proc, out


def test_foreground_start_serves_and_sigterm_exits_0(title: str, port: int) -> None:
    proc, _ = start_foreground(title, port)
    try:
        assert request(port, "/").text == "hello world"
        procs = cluster_processes(title)
        assert [p.pid for p in procs["master"]] == [proc.pid]  # the command became the master
        assert (len(procs["agent"]), len(procs["app"])) == (1, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_foreground_ctrl_c_stops_gracefully(title: str, port: int) -> None:
    proc, out = start_foreground(title, port)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    out.seek(0)
    log = out.read().decode()
    assert "interrupted: stopping app workers" in log
    assert "exit with code 0" in log


def test_a_port_in_use_in_the_foreground_is_one_line(title: str, port: int) -> None:
    """The one line on stderr, not that line again plus the master's stop lines on stdout
    (the master's log file keeps them)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [EGGSCRIPTS, "start", f"--title={title}", f"--port={port}",
             "--hostname=127.0.0.1", str(SHOWCASE)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is already in use" in lines[0], result.stderr
