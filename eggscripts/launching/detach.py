"""Launching the cluster as a daemon (docs/CLI.md, `--daemon`).

`DaemonContext.open()` `_exit`s the process that calls it, so we fork first: the child
opens the context (python-daemon forks twice more and calls setsid, leaving a grandchild
with no controlling terminal), then execs the runtime. The parent keeps the read end of
a pipe; the daemon keeps the write end across exec as the ready channel.

The daemon is made by eggscripts/launching/daemonize.py (python-daemon, set up for us).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import BinaryIO, NoReturn

from eggscripts.errors import PREFIX
from eggscripts.launching.daemonize import daemonize
from runtime.contract import readychannel


def spawn(
    argv_for: Callable[[int], list[str]],
    env: dict[str, str],
    stdout: BinaryIO,
    stderr: BinaryIO,
    keep: list[int] | None = None,
) -> int:
    """Start the daemon; `argv_for(ready_fd)` is the command it execs. Returns the read
    end of the ready channel. `keep`: more fds the daemon inherits (the title lock).

    `stdout`/`stderr` are log files the caller opened (in append mode) so that opening
    errors are reported here, in the foreground, not lost in a daemon.
    """
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child, which never returns
        _child(read_fd, write_fd, argv_for, env, stdout, stderr, keep or [])
    # Without closing our copy of the write end we would never see EOF when the daemon
    # dies before it is ready.
    os.close(write_fd)
    # The first child exits as soon as python-daemon has forked the daemon off; reap it.
    os.waitpid(pid, 0)
    return read_fd


def _child(
    read_fd: int,
    write_fd: int,
    argv_for: Callable[[int], list[str]],
    env: dict[str, str],
    stdout: BinaryIO,
    stderr: BinaryIO,
    keep: list[int],
) -> NoReturn:
    """Never returns into click: every path ends in exec or `os._exit`."""
    try:
        os.close(read_fd)
        daemonize([write_fd, *keep], stdout, stderr)
        readychannel.write_frame(write_fd, readychannel.SPAWNED, {"pid": os.getpid()})
        os.set_inheritable(write_fd, True)
        argv = argv_for(write_fd)
        os.execve(argv[0], argv, env)
    except BaseException as exc:  # must not unwind into the CLI's stack
        message = f"{PREFIX} cannot launch the cluster: {type(exc).__name__}: {exc}"
        try:
            os.write(2, (message + "\n").encode())
            readychannel.write_frame(write_fd, "startup-error", {"message": message})
        except OSError:
            pass
    os._exit(127)
