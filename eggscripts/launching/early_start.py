"""The early start: the master's interpreter starts at `start`'s first line, not after
the options are parsed (docs/INTERNALS.md §1c).

A start is two interpreters in a row: this CLI (~60 ms of click and option resolution),
then the master (~130 ms of imports). They need not wait for each other: `begin` forks
before click is imported, and the master's interpreter imports on one core while the CLI
parses on the other; the CLI then hands it the launch it would have exec'd
(runtime/contract/handoff.py) instead of exec'ing it.

- Foreground (the default guess): the process the shell waits on execs the runtime, so
  the master keeps the pid the user started, as with the plain exec; its child is this
  CLI, and the master returns the CLI's exit status if no launch comes.
- `--daemon` on the command line: the child daemonizes (eggscripts/launching/daemonize.py's
  python-daemon set-up) and execs the runtime, which waits for the launch, the ready
  channel, the logs and the title lock; this CLI stays in front, as without the early start.

A guess the resolved options contradict (EGGSCRIPTS_DAEMON=1, or `daemon = true` in
pyproject.toml) is undone by `expect`: a daemon guess is dropped (the runtime exits on
EOF), a foreground one has the master exec this command line again with the early start
off. Any other command, `--help`, `--version` and shell completion never start early, and
neither does a start with EGGSCRIPTS_NO_EARLY_START set.
"""

from __future__ import annotations

import os
import sys

from runtime.contract import handoff

TYPE_CHECKING = False  # not typing's: this module runs before the fork, imports cost there
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import BinaryIO, NoReturn

RUNTIME_MODULE = "runtime.start_cluster"  # eggscripts/launching/launch.py's door
_NOT_EARLY = frozenset(("-h", "--help", "--version"))


class _Early:
    __slots__ = ("daemon", "environ", "first_child", "sock")

    def __init__(self, fd: int, daemon: bool, first_child: int | None, environ: dict[str, str]):
        import socket  # after the fork: the CLI's own time, off the runtime's path

        self.sock = socket.socket(fileno=fd)  # this CLI's end of the handoff
        self.daemon = daemon  # the guess
        self.first_child = first_child  # daemon: the child python-daemon leaves at once
        self.environ = environ  # as the CLI started (a "rerun" must not see --env-file's)


_early: _Early | None = None


def begin(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> None:
    """At the CLI's first line, before click: fork and start the runtime early when
    `argv` is a `start` that will launch something. Returns in the CLI's process."""
    global _early
    if not wanted(argv, environ):
        return
    import _socket  # the C module: `socket` would import enum, selectors, ... before the fork

    daemon = _guess_daemon(argv)
    try:
        ends = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM, 0)
    except OSError:
        return
    cli_fd, runtime_fd = (end.detach() for end in ends)
    try:
        pid = os.fork()
    except OSError:
        os.close(cli_fd)
        os.close(runtime_fd)
        return
    if daemon and pid == 0:
        os.close(cli_fd)
        _daemon_child(runtime_fd)
    if not daemon and pid != 0:
        os.close(cli_fd)
        _exec_runtime(runtime_fd, cli_pid=pid)
    os.close(runtime_fd)
    _early = _Early(cli_fd, daemon, pid if daemon else None, dict(environ))


def wanted(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    if not argv or argv[0] != "start" or _NOT_EARLY.intersection(argv):
        return False
    return not (environ.get(handoff.NO_EARLY_ENV) or environ.get("_EGGSCRIPTS_COMPLETE"))


def _guess_daemon(argv: Sequence[str]) -> bool:
    flags = [a for a in argv if a in ("--daemon", "--no-daemon")]
    return bool(flags) and flags[-1] == "--daemon"


def _runtime_argv(fd: int, cli_pid: int | None) -> list[str]:
    """`--handoff FD CLI_PID|- ROOM`. ROOM (blanks) keeps the argv area as long as the
    options JSON makes it in a plain start: setproctitle writes the title over that area,
    and only a title shorter than the area leaves `cmdline()` as `[title, '', ...]`
    (eggscripts/finding/procs.py), whatever the title's length."""
    pid = "-" if cli_pid is None else str(cli_pid)
    return [sys.executable, "-m", RUNTIME_MODULE, handoff.FLAG, str(fd), pid, handoff.ROOM]


def _exec_runtime(fd: int, cli_pid: int) -> NoReturn:
    """The parent of a foreground guess: become the runtime, started where every door is
    (runtime/process/import_path.py)."""
    try:
        os.set_inheritable(fd, True)
        os.chdir(handoff.START_DIR)
        os.execv(sys.executable, _runtime_argv(fd, cli_pid))
    except OSError as exc:
        os.write(2, f"[eggscripts] cannot run {sys.executable}: {exc.strerror}\n".encode())
    os.close(fd)  # the CLI's hand-over fails on its side, and it exits 1
    os.waitpid(cli_pid, 0)
    os._exit(1)


def _daemon_child(fd: int) -> NoReturn:
    """The child of a daemon guess: daemonize exactly as a plain `--daemon` start does,
    with no output until the launch brings the logs, then become the runtime."""
    try:
        from eggscripts.launching.daemonize import daemonize

        with open(os.devnull, "ab") as devnull:
            daemonize([fd], devnull, devnull)
        os.set_inheritable(fd, True)
        os.execv(sys.executable, _runtime_argv(fd, None))
    except BaseException:  # nothing to tell: the CLI spawns one itself
        pass
    os._exit(127)


def expect(daemon: bool) -> None:
    """Once the options are resolved: undo a guess they contradict."""
    early = _early
    if early is None or early.daemon == daemon:
        return
    if early.daemon:
        _drop()
        return
    argv = [sys.executable, *sys.orig_argv[1:]]
    _hand(handoff.Launch("rerun", argv, early.environ, os.getcwd(), {}))


def hand_foreground(argv: list[str], env: dict[str, str], lock_fd: int | None) -> None:
    """Run the master the foreground way through the early-started runtime, if there is
    one (never returns then); returns to exec it plainly otherwise."""
    early = _early
    if early is None:
        return
    if early.daemon:
        _drop()
        return
    fds = {} if lock_fd is None else {"lock_fd": lock_fd}
    _hand(handoff.Launch("run", argv, env, handoff.START_DIR, fds))


def hand_daemon(
    argv_for: Callable[[int], list[str]],
    env: dict[str, str],
    logs: tuple[BinaryIO, BinaryIO],
    lock_fd: int | None,
) -> int | None:
    """`detach.spawn` through the early-started daemon: the ready channel's read end, or
    None when there is none (or it is gone) and the caller spawns one itself."""
    early = _early
    if early is None or not early.daemon:
        return None
    read_fd, write_fd = os.pipe()
    fds = {"ready_fd": write_fd, "stdout": logs[0].fileno(), "stderr": logs[1].fileno()}
    if lock_fd is not None:
        fds["lock_fd"] = lock_fd
    try:
        launch = handoff.Launch("run", argv_for(write_fd), env, handoff.START_DIR, fds)
        handoff.send(early.sock, launch)
        sent = True
    except OSError:
        sent = False
    finally:
        os.close(write_fd)
        _drop()
    if not sent:
        os.close(read_fd)
        return None
    return read_fd


def _hand(launch: handoff.Launch) -> NoReturn:
    """Give the foreground runtime its launch and leave: from here it is the master. If
    it is gone, it was killed before it could take the launch (or said why it could not
    run): nothing was started, and nobody waits for this process's status."""
    assert _early is not None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        handoff.send(_early.sock, launch)
    except OSError:
        os._exit(1)
    os._exit(0)


def _drop() -> None:
    """No launch for the early-started runtime: it sees EOF and exits."""
    global _early
    early, _early = _early, None
    if early is None:
        return
    early.sock.close()
    if early.first_child is not None:
        import contextlib

        with contextlib.suppress(ChildProcessError):
            os.waitpid(early.first_child, 0)
