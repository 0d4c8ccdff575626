"""What the agent and the app workers share (gunicorn's `Worker.init_process()` -> `run()`):
the process set-up, the link to the master, `--require` imports, booting the app layer,
reporting a boot failure as one line, and noticing that the master is gone.

Subclasses say what they boot (`create_target`), what they run once booted (`serve`) and
how they stop; the skeleton is written once, here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.app.messenger import Messenger
from runtime.contract.exitcodes import ExitCode
from runtime.contract.messages import Action, Message, Role
from runtime.contract.payloads import StartupErrorData
from runtime.process import log_setup as logs
from runtime.process.cluster_options import ClusterOptions
from runtime.process.errors import StartupError, describe_exception
from runtime.process.tasks import run_in_background
from runtime.worker.link import Link, open_link
from runtime.worker.orphan_watch import OrphanWatch
from runtime.worker.requires import import_requires

if TYPE_CHECKING:
    from runtime.loader import BootInfo

log = logging.getLogger("eggscripts.child")


class ChildProcess:
    role: Role
    log_role: str
    boot_error = ExitCode.ERROR  # exit status when the app layer fails to boot

    def __init__(self, options: ClusterOptions, sock: socket.socket) -> None:
        self.options = options
        self.sock = sock
        self.target: Any = None  # the booted Application or Agent
        self.log_dirs: dict[str, str] = {}  # the app config's logger.dir and rundir

    async def main(self) -> int:
        self.orphan_watch = OrphanWatch(self.on_master_lost)
        # The messenger exists before the link reads its first frame: a message routed to
        # this process as soon as it was forked (a broadcast during a reload or a scale-up)
        # is then held until egg-ready like any other, never handed to nobody.
        self.link = Link(self.role, self.on_message, self.on_master_lost)
        self.messenger = Messenger(self.link, self.role)
        await open_link(self.sock, self.link)
        try:
            import_requires(self.options.require, self.options.base_dir)
            target = self.create_target(boot_info(self.options))
            target.messenger = self.messenger
            self.target = target
            await target.boot()
        except BaseException as exc:
            self.adopt_log_dirs()
            await self.report_startup_error(exc)
            return self.boot_error
        self.adopt_log_dirs()
        return await self.serve()

    def adopt_log_dirs(self) -> None:
        """Log where the app config says (`logger.dir`), from now on and what was
        held back; the agent reports the dirs to the master in `agent-start`."""
        o = self.options
        config = getattr(self.target, "config", None) or {}
        self.log_dirs = logs.config_dirs(config, o.base_dir, o.name or "app", o.env, o.title)
        logs.redirect(self.log_dirs["log_dir"], quiet=self.role == Role.AGENT)

    def create_target(self, info: BootInfo) -> Any:
        raise NotImplementedError

    async def serve(self) -> int:
        raise NotImplementedError

    def on_message(self, msg: Message) -> None:
        if msg.action == Action.EGG_READY and self.target is not None:
            logs.ready()  # ERROR records stop going to stderr too
            run_in_background(self.target.server_did_ready())
        self.messenger.deliver(msg)

    def on_master_lost(self) -> None:
        raise NotImplementedError

    async def report_startup_error(self, exc: BaseException) -> str:
        """Tell the master why this child cannot start (one line) and log the traceback."""
        text = describe_exception(exc, self.options.base_dir)
        # The master prints this one line; on this child's stderr it would be a second one.
        if isinstance(exc, StartupError):
            log.error("start failed: %s", text, extra=logs.NO_STDERR)
        else:
            log.error("start failed: %s", text, exc_info=exc, extra=logs.NO_STDERR)
        self.link.send(Action.STARTUP_ERROR, StartupErrorData(message=text, pid=os.getpid()))
        await self.link.drain()
        return text


def run_child(
    title: str,
    log_role: str,
    options: ClusterOptions,
    main: Callable[[], Any],
    worker_id: int | None = None,
) -> int:
    """The process around a child: its title, signal dispositions, logging, an event loop.
    Ctrl-C reaches the whole process group; only the master decides what it means.
    SIGUSR1 (forwarded by the master after logrotate) reopens this process's log files."""
    from runtime.process.proctitle import set_title

    set_title(title)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until the loop's handler below
    logs.setup_logging(
        log_role,
        options.base_dir,
        options.name or "app",
        stdout=logs.console_wanted(options.env, options.ready_fd is None),
        directory=options.log_dir,  # None in the agent: held until its config is read
        env=options.env,
        log_format=options.log_format,
        worker_id=worker_id,
        errors_to_stderr=True,  # until egg-ready
        title=options.title,
        level=options.log_level,
    )
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    loop.add_signal_handler(signal.SIGUSR1, logs.reopen, options.stdout_log, options.stderr_log)
    try:
        return int(loop.run_until_complete(main()))
    finally:
        logging.shutdown()


def boot_info(options: ClusterOptions) -> BootInfo:
    """What the app layer is told about the cluster it boots in (agent and workers alike)."""
    from runtime.loader import BootInfo

    o = options
    https = {"key": o.https.key, "cert": o.https.cert} if o.https else None
    return BootInfo(
        base_dir=o.base_dir,
        env=o.env,
        framework=o.framework,
        title=o.title,
        port=o.port,
        workers=o.workers,
        name=o.name,
        hostname=o.hostname,
        https=https,
        require=list(o.require),
    )


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where available: uvicorn only installs it in `Server.run()`, and serving on
    the default loop costs ~20% of the throughput."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
