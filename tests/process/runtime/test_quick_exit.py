"""`runtime.process.quick_exit.exit_process`: the status, atexit handlers and buffered output of a
normal exit, and a normal exit (which joins it) while a non-daemon thread runs."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, sys, threading, time
from runtime.process.quick_exit import exit_process
atexit.register(lambda: print("atexit ran"))
sys.stdout.write("buffered ")
if sys.argv[1] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.2), print("thread done"))).start()
exit_process(7)
"""


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=30
    )


def test_exit_keeps_status_atexit_and_buffered_output() -> None:
    done = run("plain")
    assert (done.returncode, done.stdout, done.stderr) == (7, "buffered atexit ran\n", "")


def test_a_running_non_daemon_thread_is_waited_for() -> None:
    done = run("thread")
    assert done.returncode == 7
    assert done.stdout.splitlines() == ["buffered thread done", "atexit ran"]
