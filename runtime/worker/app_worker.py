"""An app worker: boots the app, then serves it with uvicorn on the master's socket.

Imported by the master before it forks (runtime/worker/preload.py: uvicorn, uvloop and
httptools are loaded once and shared copy-on-write); `run_worker` runs only in the forked
child.

Shutdown is ours, not uvicorn's: `capture_signals` is disabled (it would re-raise SIGTERM
after shutdown and make a clean exit look like a crash), SIGTERM/SIGQUIT call `WorkerServer.exit`,
and uvicorn's graceful drain is bounded by `kill_app_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import faulthandler
import gc
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

import uvicorn.lifespan.off
import uvicorn.protocols.http.httptools_impl

from runtime.apptarget import app_factory
from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action, Role
from runtime.contract.payloads import AppStart, Disconnect
from runtime.contract.titles import app_title
from runtime.loader.listen_config import cluster_https
from runtime.process.cluster_options import ClusterOptions
from runtime.worker.base import ChildProcess, run_child
from runtime.worker.heartbeat import beat
from runtime.worker.http_server import WorkerServer, build_server, resource_exhaustion_filter
from runtime.worker.process_tree import stop_requested, terminate_tree
from runtime.worker.stats import sample

if TYPE_CHECKING:
    from runtime.loader import BootInfo

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

# uvicorn imports these lazily in Config.load(); importing them here, in the master before
# it forks, makes every worker share them instead of loading its own copy.
PRELOADED = (uvicorn.lifespan.off, uvicorn.protocols.http.httptools_impl, uvloop)
log = logging.getLogger("eggscripts.app")


FAULT_EXIT_LIMIT = 5.0  # a faulted worker exits after at most 5 s (README.md)


class AppWorker(ChildProcess):
    role = Role.APP
    boot_error = ExitCode.APP_LOAD_ERROR

    def __init__(
        self,
        options: ClusterOptions,
        worker_id: int,
        sock: socket.socket,
        listener: socket.socket,
    ) -> None:
        super().__init__(options, sock)
        self.worker_id = worker_id
        self.listener = listener
        self.server: WorkerServer | None = None
        self.exit_code = ExitCode.OK
        self.orphaned = False

    def create_target(self, info: BootInfo) -> Any:
        return app_factory(self.options)(info)

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        # Everything boot created lives as long as the worker: move it out of the cyclic
        # GC's sight, so collections triggered by request garbage stay small and never
        # write to (and un-share) pages inherited from the master.
        gc.freeze()
        # From here on the loop must keep beating. Not during boot: a long synchronous boot
        # is the startup timeout's business, and a replacement must not be killed for it.
        pool: Any = getattr(self.target, "asgi", None)  # a WSGI app's thread pool, if any
        occupancy = getattr(pool, "occupancy", None)
        report_soon = beat(
            loop,
            self.link.send,
            self.options.heartbeat_timeout,
            lambda: sample(self.server, occupancy),
        )
        if occupancy is not None:
            pool.on_saturation = report_soon  # the master's /readyz learns it at once
        loop.set_exception_handler(resource_exhaustion_filter(self.on_uncaught))
        for sig in (signal.SIGTERM, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.stop)
        https = self.options.https or cluster_https(getattr(self.target, "config", {}))
        self.server = build_server(self.options, self.target, self.on_started, https)
        await self.server.serve(sockets=[self.listener])
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.target.close(), self.options.kill_app_timeout / 1000)
        return self.exit_code

    def on_started(self) -> None:
        self.link.send(Action.APP_START, AppStart(pid=os.getpid(), id=self.worker_id))

    def stop(self) -> None:
        stop_requested()  # the kill timeout of app code's subprocesses counts from here
        if self.server is not None:
            self.server.exit()

    def force_stop(self) -> None:
        if self.server is not None:
            self.server.force_exit = True

    def on_master_lost(self) -> None:
        if self.server is None:  # still booting: nothing in flight to finish
            os._exit(ExitCode.ERROR)
        if self.orphaned:
            return
        self.orphaned = True
        log.warning("master is gone; finishing in-flight requests and exiting")
        self.orphan_watch.lost()
        self.stop()
        asyncio.get_running_loop().call_later(1.0, self.force_stop)

    def on_uncaught(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An exception escaped a callback or a background task: this process can no longer
        be trusted to serve. Leave the pool now (the master forks a replacement at once),
        drain what is in flight with `Connection: close`, and exit 1 within 5 s."""
        exc = context.get("exception")
        log.error("uncaught error: %s", context.get("message"), exc_info=exc)
        if self.exit_code != ExitCode.OK:
            return
        self.exit_code = ExitCode.ERROR
        self.link.send(Action.DISCONNECT, Disconnect(pid=os.getpid(), reason=repr(exc)))
        self.stop()
        loop.call_later(FAULT_EXIT_LIMIT - 0.5, self.force_stop)


def run_worker(
    options: ClusterOptions,
    worker_id: int,
    sock: socket.socket,
    listener: socket.socket,
    app_name: str,
) -> int:
    """Entry point of a freshly forked app worker; returns its exit status."""
    options = dataclasses.replace(options, name=app_name or options.name)
    worker = AppWorker(options, worker_id, sock, listener)
    try:
        title = app_title(options.title, options.base_dir)
        return run_child(title, "app", options, worker.main, worker_id)
    finally:
        faulthandler.cancel_dump_traceback_later()  # no beats once the loop is done
        terminate_tree(options.kill_app_timeout / 1000)  # what app code started
