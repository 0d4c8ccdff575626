"""Ending the master and the agent without the interpreter's teardown.

After `main` returns, a normal exit frees every module and object one by one: 20-50 ms
for a process that has imported the HTTP stack and the app, spent after its work is done
and before `stop` can see it gone (app workers already leave with `os._exit`). What a
normal exit does that matters is kept: the atexit handlers run (app code's, and logging's
flush), stdio is flushed. A process with a non-daemon thread still running takes the
normal exit, which waits for that thread.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_process(code: int) -> NoReturn:
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)
