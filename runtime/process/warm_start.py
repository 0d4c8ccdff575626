"""The runtime's half of the early start (docs/INTERNALS.md §1c): `python -m
runtime.start_cluster --handoff FD CLI_PID|- ROOM`.

`eggscripts start` forks at its first line, before importing click. For a foreground start
the process the shell waits on execs this at once (its pid becomes the master's, as with
the plain exec) while its child, the CLI, parses the options; for `--daemon` the CLI's
child daemonizes (python-daemon, as eggscripts/launching/detach.py does) and execs this.
Either way the master's imports run on one core while the CLI's run on the other, and
then this process reads the launch the CLI would have exec'd (runtime/contract/handoff.py)
and runs it here, in the same state as after that exec: same working directory,
`sys.path[0]`, `sys.argv`, environment, descriptors. A launch this interpreter cannot take
as it is (another `--python`, or a changed variable the interpreter reads when it starts,
such as PYTHONPATH, LC_ALL or TZ) is exec'd as it is instead.

Nothing here reports an error the CLI would not have: if the CLI ends without a launch
(bad options, a refused start, Ctrl-C), a foreground one's exit status is returned as
ours and a daemon one just exits.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any

from runtime.contract import handoff, readychannel
from runtime.process.errors import report

# What every master imports whatever its options say (runtime/worker/preload.py).
WARM_STEPS: tuple[Callable[[], object], ...] = (
    lambda: importlib.import_module("runtime.master.loop"),
    lambda: importlib.import_module("runtime.worker.preload").import_shared(),
)
# Read by the interpreter as it starts (or by libc/libuv once): a launch changing one of
# them is exec'd, not run in this interpreter.
STARTUP_PREFIXES = ("PYTHON", "LD_", "LC_", "MALLOC_", "UV_")
STARTUP_NAMES = frozenset(("LANG", "LANGUAGE", "TZ", "HOME", "GLIBC_TUNABLES"))


def run(argv: list[str], main: Callable[[list[str]], int]) -> int:
    """`argv`: `[FLAG, fd, cli_pid or "-", room]` (eggscripts/launching/early_start.py);
    `main`: start_cluster's."""
    try:
        cli_pid = None if argv[2] == "-" else int(argv[2])
        sock = socket.socket(fileno=int(argv[1]))
    except (ValueError, IndexError, OSError) as exc:
        report(f"bad early start arguments {argv}: {exc}")
        return 2
    front = _Front(cli_pid) if cli_pid is not None else None
    try:
        launch = handoff.receive(sock) if _warm(sock) else None
    except (OSError, ValueError) as exc:
        report(f"the early start got no launch: {exc}")
        launch = None
    finally:
        sock.close()
    status = _wait(cli_pid) if cli_pid is not None else 0
    if front is not None:
        front.restore()
        if front.stopped is not None and launch is not None:  # asked to stop: run nothing
            for fd in launch.fds.values():
                os.close(fd)
            return _die(front.stopped)
    if launch is None:
        return status
    os.chdir(launch.cwd)  # a rerun's: the CLI's (its relative paths); a run's: where it is
    if launch.kind == "rerun":
        os.execve(launch.argv[0], launch.argv, {**launch.env, handoff.NO_EARLY_ENV: "1"})
    return _become(launch, main)


class _Front:
    """A foreground early start's signals until its launch is taken. Ctrl-C is the CLI's
    to answer (the terminal sends it to both: the CLI prints and exits, and its status is
    returned as ours). SIGTERM and SIGHUP sent to this pid alone (a CI job's timeout, a
    supervisor) are passed on to the CLI, and no launch runs after one. A signal ignored
    by whoever started us (`nohup`'s SIGHUP) stays ignored; `restore` puts back what the
    interpreter had, as the plain exec would have left it."""

    FORWARDED = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self, cli_pid: int) -> None:
        self.cli_pid = cli_pid
        self.stopped: int | None = None
        self.previous: dict[int, Any] = {}
        for signum in (signal.SIGINT, *self.FORWARDED):
            previous = signal.getsignal(signum)
            self.previous[signum] = signal.SIG_DFL if previous is None else previous
            if previous != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_IGN if signum == signal.SIGINT else self._forward)

    def _forward(self, signum: int, _frame: object) -> None:
        self.stopped = signum
        with contextlib.suppress(OSError):
            os.kill(self.cli_pid, signum)

    def restore(self) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


def _warm(sock: socket.socket) -> bool:
    """Import what the master will need; False as soon as the CLI ended without a launch.
    An import that fails is left to the real start to report, in its place."""
    arrived = False
    for step in WARM_STEPS:
        if not arrived:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                if not sock.recv(1, socket.MSG_PEEK):
                    return False
                arrived = True
        with contextlib.suppress(Exception):
            step()
    return True


def _wait(pid: int) -> int:
    """The CLI child's exit status as ours (a signal it died of, raised again on us)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return 0
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
    code = os.waitstatus_to_exitcode(status)
    return _die(-code) if code < 0 else code


def _die(signum: int) -> int:
    """End as if killed by `signum`, as the plain start's process would have been."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum


def _become(launch: handoff.Launch, main: Callable[[list[str]], int]) -> int:
    """Take the launch's stdio, directory, descriptors and environment, then run it as the
    exec'd command line would have run."""
    fds = launch.fds
    for name, target in (("stdout", 1), ("stderr", 2)):
        if name in fds:
            fd = fds.pop(name)
            os.dup2(fd, target)
            os.close(fd)
    ready = fds.get("ready_fd")
    if ready is not None:  # what eggscripts/launching/detach.py writes before its exec
        try:
            readychannel.write_frame(ready, readychannel.SPAWNED, {"pid": os.getpid()})
        except OSError:
            return 1  # the CLI is gone: nothing was started
    options = rebind(launch.argv[-1], fds)
    argv = [*launch.argv[:-1], options]
    if not same_interpreter(argv, launch.env, os.environ):
        for fd in fds.values():
            os.set_inheritable(fd, True)
        os.execve(argv[0], argv, launch.env)
    _take_environment(launch.env)  # main enters BASE_DIR (runtime/process/import_path.py)
    sys.argv[1:] = [options]
    return main([options])


def rebind(options_json: str, fds: Mapping[str, int]) -> str:
    """The options JSON with the descriptors' numbers in this process."""
    options = json.loads(options_json)
    for key in ("ready_fd", "lock_fd"):
        if key in fds:
            options[key] = fds[key]
    return json.dumps(options)


def same_interpreter(argv: list[str], env: Mapping[str, str], current: Mapping[str, str]) -> bool:
    """Whether running `argv` with `env` here is what exec'ing it would do."""
    if argv[:3] != [sys.executable, "-m", "runtime.start_cluster"]:
        return False
    changed = {k for k in env.keys() | current.keys() if env.get(k) != current.get(k)}
    return not any(k in STARTUP_NAMES or k.startswith(STARTUP_PREFIXES) for k in changed)


def _take_environment(env: Mapping[str, str]) -> None:
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
