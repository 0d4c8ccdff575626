"""Becoming a daemon, with python-daemon, for `start --daemon`'s child
(eggscripts/launching/detach.py) and the early start's (eggscripts/launching/early_start.py),
so both daemons are made one way. Standard library only at import: the early start's
child runs this before click is imported anywhere.

python-daemon's defaults are wrong for us and are overridden explicitly:
- `detach_process=True`: its auto-detection skips detaching under PID 1 or a socket stdin.
- `signal_map` resets to SIG_DFL: the default ignores SIGTSTP/SIGTTIN/SIGTTOU (SIG_IGN
  survives exec, the master would inherit it) and turns SIGTERM into SystemExit.
- `umask` is kept as the user set it (python-daemon would set 0) and core limits untouched.
"""

from __future__ import annotations

import os
import signal

from runtime.contract import handoff

TYPE_CHECKING = False  # not typing's: imported before the early start's fork
if TYPE_CHECKING:
    from typing import BinaryIO

_RESET_SIGNALS = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGTSTP", "SIGTTIN", "SIGTTOU")


def daemonize(keep: list[int], stdout: BinaryIO, stderr: BinaryIO) -> None:
    """Become the daemon: this process's parent returns at once (python-daemon forks). It
    works in `/`, where every runtime door starts (runtime/process/import_path.py)."""
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
        working_directory=handoff.START_DIR,
        umask=umask,
        prevent_core=False,
        stdin=devnull,
        stdout=stdout,
        stderr=stderr,
        files_preserve=[*keep, stdout, stderr],
        signal_map=signal_map,
    )
    context.open()
