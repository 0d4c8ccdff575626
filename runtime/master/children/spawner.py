"""How the master creates and reaps its children, behind one small interface so every
master decision can be tested without forking (gunicorn tests its arbiter the same way).

`ProcessSpawner` is production; both kinds of child are forked from the master, which has
no event loop, no threads and no app code:
- the agent is forked once the master has imported what the agent and the app workers
  both use (`preload_shared`: asyncio, uvloop, the loader, the leader/follower clients),
  and loads the app's agent side on another core while the master imports what only the
  workers use (`prepare`). Forking costs about a millisecond where a new interpreter cost
  its init plus a second import of all that (~60 ms of CPU on the start's critical path,
  and again at each reload); forking before the shared imports would boot the agent in
  parallel, but import them twice: measured on 2 busy cores, 50 ms slower to the first
  200, and the agent's pages no longer shared. The child keeps nothing of the
  master: every descriptor but its channel, the leader endpoint and stdio is closed, the
  master's signal handlers, mask, atexit handlers and log handlers are dropped, the
  master's objects are frozen out of the cyclic GC's sight (a collection in the child must
  never finalize a master object and close a descriptor number the agent has reused), and
  it leaves with `os._exit`, never returning into the master's loop;
- app workers are forked once the pre-import is done, so each child shares the HTTP
  stack copy-on-write and boots in milliseconds.

Only the master loop reaps children (`waitpid(-1)`); no subprocess.Popen object races it
for an exit status. tests/master_fakes.py has the fake: socketpairs instead of processes,
exits on demand.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Protocol

from runtime.contract.exitcodes import ExitCode
from runtime.process.cluster_options import ClusterOptions
from runtime.process.errors import report
from runtime.process.import_path import enter_as_app

ChildMain = Callable[[socket.socket], int]  # the child's entry: its channel end -> status


class Spawner(Protocol):
    def prepare(self, options: ClusterOptions) -> None:
        """Once, after the agent is on its way: work that makes later spawns cheap."""

    def spawn_agent(
        self,
        options: ClusterOptions,
        leader: socket.socket | None,
        child_setup: Callable[[], None],
    ) -> tuple[int, socket.socket]:
        """Start the agent; (pid, the master's end of its channel). Raises OSError."""

    def fork_app(
        self,
        options: ClusterOptions,
        worker_id: int,
        listener: socket.socket,
        app_name: str,
        child_setup: Callable[[], None],
    ) -> tuple[int, socket.socket]:
        """Start one app worker; (pid, the master's end of its channel). Raises OSError
        (EAGAIN when a pids limit is hit)."""

    def reap(self) -> Iterator[tuple[int, int]]:
        """(pid, wait status) of every child that exited since the last call, any child."""

    def kill(self, pid: int, sig: int) -> None:
        """Signal a child (raises ProcessLookupError when it is gone)."""


class ProcessSpawner:
    kill = staticmethod(os.kill)

    def prepare(self, options: ClusterOptions) -> None:
        from runtime.worker.preload import preload

        preload(options)
        gc.freeze()  # what workers inherit stays shared: the GC never touches those pages

    def spawn_agent(
        self,
        options: ClusterOptions,
        leader: socket.socket | None,
        child_setup: Callable[[], None],
    ) -> tuple[int, socket.socket]:
        """Never returns in the child: it runs the agent and `_exit`s with its status."""
        from runtime.worker.preload import preload_shared

        preload_shared(options)  # at the first spawn; already loaded at later ones

        def agent(channel: socket.socket) -> int:
            gc.freeze()  # before anything can become garbage: see the module docstring
            atexit._clear()  # the master's; app code's own run at the agent's exit
            # Closed first: nothing of the child's own is open yet, so no number the
            # set-up below opens (the account lookup of --user) can be closed by mistake.
            close_other_fds([channel.fileno()] + ([leader.fileno()] if leader else []))
            child_setup()
            enter_as_app(options.base_dir)  # as its account now: runtime/process/import_path.py
            from runtime.worker.agent_process import run_agent

            try:
                return run_agent(options, channel, leader)
            finally:
                atexit._run_exitfuncs()

        return fork_child(agent, "agent")

    def fork_app(
        self,
        options: ClusterOptions,
        worker_id: int,
        listener: socket.socket,
        app_name: str,
        child_setup: Callable[[], None],
    ) -> tuple[int, socket.socket]:
        """Never returns in the child: it runs the worker and `_exit`s with its status."""

        def worker(channel: socket.socket) -> int:
            child_setup()
            enter_as_app(options.base_dir)
            from runtime.worker.app_worker import run_worker

            return run_worker(options, worker_id, channel, listener, app_name)

        return fork_child(worker, "app worker")

    def reap(self) -> Iterator[tuple[int, int]]:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            yield pid, status


def fork_child(main: ChildMain, what: str) -> tuple[int, socket.socket]:
    """Fork a child running `main(its channel end)`; (pid, the master's end). The child
    never returns into the caller: it `_exit`s with `main`'s status, whatever happens."""
    master_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for stream in (sys.stdout, sys.stderr):  # the child must not write the master's lines
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    try:
        pid = os.fork()
    except BaseException:
        master_end.close()
        child_end.close()
        raise
    if pid == 0:  # child
        code = int(ExitCode.ERROR)
        try:
            master_end.close()
            code = main(child_end)
        except BaseException as exc:  # the child must never return into the master loop
            if isinstance(exc, SystemExit) and isinstance(exc.code, int):
                code = exc.code
            else:
                report(f"{what} crashed: {exc!r}")
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    child_end.close()
    return pid, master_end


def close_other_fds(keep: list[int]) -> None:
    """Close every descriptor but stdio and `keep`: whatever the master holds (listener,
    control socket, title lock, ready channel, other children's channels, log files...)."""
    low = 3
    for fd in sorted(set(keep)):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, max(os.sysconf("SC_OPEN_MAX"), low + 1))
