"""The master's signal queue under a storm of signals: nothing lost, nothing raised.

Real signals from another process while the queue is drained in a loop (a handler can run
between any two bytecodes of `drain`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from runtime.master.lifecycle.signals import SignalQueue


def test_drain_survives_signals_arriving_while_it_runs() -> None:
    queue = SignalQueue([signal.SIGUSR1])
    sender = None
    try:
        sender = subprocess.Popen(
            [sys.executable, "-c",
             "import os, signal, sys, time\n"
             "pid = int(sys.argv[1])\n"
             "end = time.monotonic() + 1.0\n"
             "while time.monotonic() < end:\n"
             "    os.kill(pid, signal.SIGUSR1)\n",
             str(os.getpid())],
        )  # fmt: skip
        seen = 0
        while sender.poll() is None:
            seen += len(queue.drain())
        time.sleep(0.05)
        seen += len(queue.drain())
        assert seen > 0
    finally:
        if sender is not None:  # stop the storm before SIGUSR1 is back to its default
            sender.kill()
            sender.wait()
        queue.close()
