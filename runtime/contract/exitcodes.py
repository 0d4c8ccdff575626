"""Exit statuses of cluster processes.

Distinct codes let the master tell "this worker cannot boot" (halt, do not refork forever)
from "this worker crashed while serving" (refork), the way gunicorn's arbiter does.
"""

from __future__ import annotations

import enum
import os
import signal


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    WORKER_BOOT_ERROR = 3
    APP_LOAD_ERROR = 4
    AGENT_START_ERROR = 5


def describe_status(status: int, killed_by_master: bool = False) -> str:
    """Human words for a `waitpid` status: the exit code, or the signal that killed it
    (with gunicorn's out-of-memory hint when nobody we know sent the SIGKILL)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = ""
        if sig == signal.SIGKILL:
            hint = " (by the master)" if killed_by_master else " (perhaps out of memory?)"
        return f"killed by {name}{hint}"
    code = os.waitstatus_to_exitcode(status)
    try:
        return f"exit code {code} ({ExitCode(code).name})"
    except ValueError:
        return f"exit code {code}"
