"""How the master creates and reaps its children, behind one small interface so every
master decision can be tested without forking (gunicorn tests its arbiter the same way).

`ProcessSpawner` is production:
- the agent is a new interpreter (`python -m runtime.agent_worker`), spawned so
  that it boots in parallel with the master's pre-import of the HTTP stack and never
  inherits master state. `posix_spawn`, not subprocess.Popen: only the master loop may
  reap children (`waitpid(-1)`), and a Popen object would race it for the exit status;
- app workers are forked from the master, which has no event loop, no threads and no app
  code, so each child starts clean and shares the pre-imported server modules
  copy-on-write (`prepare`).

tests/master_fakes.py has the fake: socketpairs instead of processes, exits on demand.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Protocol

import runtime
from runtime.contract.exitcodes import ExitCode
from runtime.contract.framing import ENV_IPC_FD
from runtime.ipc.leader_endpoint import ENV_LEADER_FD
from runtime.process.cluster_options import ClusterOptions
from runtime.process.errors import report

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(runtime.__file__)))


class Spawner(Protocol):
    def prepare(self) -> None:
        """Once, after the agent is on its way: work that makes later spawns cheap."""

    def spawn_agent(
        self, options: ClusterOptions, leader: socket.socket | None
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

    def prepare(self) -> None:
        import gc

        from runtime.worker.app_worker import preload

        preload()
        gc.freeze()  # what workers inherit stays shared: the GC never touches those pages

    def spawn_agent(
        self, options: ClusterOptions, leader: socket.socket | None
    ) -> tuple[int, socket.socket]:
        """The agent inherits only its channel end and the leader endpoint socket."""
        master_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = child_end.fileno()
        os.set_inheritable(fd, True)
        env = dict(os.environ)
        env[ENV_IPC_FD] = str(fd)
        if leader is not None:
            os.set_inheritable(leader.fileno(), True)
            env[ENV_LEADER_FD] = str(leader.fileno())
        paths = [_PACKAGE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        argv = [sys.executable, "-m", "runtime.agent_worker", options.to_json()]
        try:
            pid = os.posix_spawn(sys.executable, argv, env)
        except BaseException:
            master_end.close()
            raise
        finally:
            child_end.close()
            if leader is not None:
                os.set_inheritable(leader.fileno(), False)
        return pid, master_end

    def fork_app(
        self,
        options: ClusterOptions,
        worker_id: int,
        listener: socket.socket,
        app_name: str,
        child_setup: Callable[[], None],
    ) -> tuple[int, socket.socket]:
        """Never returns in the child: it runs the worker and `_exit`s with its status."""
        master_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except BaseException:
            master_end.close()
            child_end.close()
            raise
        if pid == 0:  # child
            code = int(ExitCode.ERROR)
            try:
                child_setup()
                master_end.close()
                from runtime.worker.app_worker import run_worker

                code = run_worker(options, worker_id, child_end, listener, app_name)
            except BaseException as exc:  # the child must never return into the master loop
                if isinstance(exc, SystemExit) and isinstance(exc.code, int):
                    code = exc.code
                else:
                    report(f"app worker crashed: {exc!r}")
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        child_end.close()
        return pid, master_end

    def reap(self) -> Iterator[tuple[int, int]]:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            yield pid, status
