"""Launching the cluster as a daemon (docs/CLI.md, `--daemon`).

`DaemonContext.open()` `_exit`s the process that calls it, so we fork first: the child
opens the context (python-daemon forks twice more and calls setsid, leaving a grandchild
with no controlling terminal), then execs the runtime. The parent keeps the read end of
a pipe; the daemon keeps the write end across exec as the ready channel.

python-daemon's defaults are wrong for us and are overridden explicitly:
- `detach_process=True`: its auto-detection skips detaching under PID 1 or a socket stdin.
- `signal_map` resets to SIG_DFL: the default ignores SIGTSTP/SIGTTIN/SIGTTOU (SIG_IGN
  survives exec, the master would inherit it) and turns SIGTERM into SystemExit.
- `umask` is kept as the user set it (python-daemon would set 0) and core limits untouched.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import BinaryIO, NoReturn

from eggscripts.errors import PREFIX
from runtime.contract import readychannel

_RESET_SIGNALS = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGTSTP", "SIGTTIN", "SIGTTOU")


def spawn(
    argv_for: Callable[[int], list[str]],
    env: dict[str, str],
    working_directory: str,
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
        _child(read_fd, write_fd, argv_for, env, working_directory, stdout, stderr, keep or [])
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
    working_directory: str,
    stdout: BinaryIO,
    stderr: BinaryIO,
    keep: list[int],
) -> NoReturn:
    """Never returns into click: every path ends in exec or `os._exit`."""
    try:
        os.close(read_fd)
        _daemonize([write_fd, *keep], working_directory, stdout, stderr)
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


def _daemonize(keep: list[int], working_directory: str, stdout: BinaryIO, stderr: BinaryIO) -> None:
    import daemon

    umask = os.umask(0)
    os.umask(umask)
    # Not stdin=None: python-daemon would open /dev/null after closing fd 0, get fd 0 back
    # with close-on-exec set, and dup2(0, 0) keeps that flag: the runtime would start with
    # no stdin at all. An fd opened before the close is dup2'ed onto 0, inheritable.
    devnull = open(os.devnull, "rb")  # noqa: SIM115 - becomes fd 0 of the daemon
    signal_map = {
        getattr(signal, name): signal.SIG_DFL for name in _RESET_SIGNALS if hasattr(signal, name)
    }
    context = daemon.DaemonContext(
        detach_process=True,
        working_directory=working_directory,
        umask=umask,
        prevent_core=False,
        stdin=devnull,
        stdout=stdout,
        stderr=stderr,
        files_preserve=[*keep, stdout, stderr],
        signal_map=signal_map,
    )
    context.open()
