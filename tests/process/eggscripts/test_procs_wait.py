"""`procs.wait_gone`: returns once the processes exit (a zombie counts as gone), and
reports what is still alive at the timeout."""

from __future__ import annotations

import subprocess
import sys

import psutil

from eggscripts.finding import procs


def test_wait_gone_returns_when_they_exit_and_reports_the_living() -> None:
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        gone, alive = procs.wait_gone([psutil.Process(quick.pid)], 10)
        assert [p.pid for p in gone] == [quick.pid] and alive == []  # unreaped: a zombie
        gone, alive = procs.wait_gone([psutil.Process(slow.pid)], 0.1)
        assert gone == [] and [p.pid for p in alive] == [slow.pid]
    finally:
        slow.kill()
        slow.wait()
        quick.wait()
