"""What the agent and app workers share: the link to the master, `--require` imports,
startup-error reporting and noticing that the master is gone.

A child learns of the master's death by EOF on its channel (every other holder of the
master's end closes it right after fork), which is immediate and needs no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.errors import StartupError, describe_exception
from runtime.ipc.framing import Action, Role, encode, message
from runtime.ipc.stream import FramedProtocol

if TYPE_CHECKING:
    from runtime.loader import BootInfo
    from runtime.options import ClusterOptions

log = logging.getLogger("eggscripts.child")


class Link(FramedProtocol):
    """The child's end of its channel: framed JSON in both directions, on the event loop."""

    peer = "master"

    def __init__(
        self,
        role: Role,
        on_message: Callable[[dict[str, Any]], None],
        on_lost: Callable[[], None],
    ) -> None:
        super().__init__()
        self.role = role
        self.on_frame = on_message  # type: ignore[method-assign]
        self._on_lost = on_lost

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._on_lost()

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(
        self,
        action: str,
        data: Any = None,
        to: str = Role.MASTER.value,
        receiver_pid: int | None = None,
    ) -> None:
        """Queue one message for the master; raises TypeError for non-JSON data."""
        frame = encode(message(action, data, self.role, to, receiver_pid))
        if self.connected:
            assert self.transport is not None
            self.transport.write(frame)

    async def drain(self, timeout: float = 1.0) -> None:
        """Wait until what was sent has left the process (before exiting on purpose)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connected and loop.time() < deadline:
            assert self.transport is not None
            if not self.transport.get_write_buffer_size():
                return
            await asyncio.sleep(0.005)


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


async def boot_target(create: Callable[[Any], Any], options: ClusterOptions, messenger: Any) -> Any:
    """Load `--require`d modules, then create and boot the app (or agent) with its
    messenger; raises whatever the app's code raises, for `report_startup_error`."""
    import_requires(options.require, options.base_dir)
    target = create(boot_info(options))
    target.messenger = messenger
    await target.boot()
    return target


async def open_link(
    sock: socket.socket,
    role: Role,
    on_message: Callable[[dict[str, Any]], None],
    on_lost: Callable[[], None],
) -> Link:
    loop = asyncio.get_running_loop()
    _, link = await loop.create_unix_connection(lambda: Link(role, on_message, on_lost), sock=sock)
    return link


async def report_startup_error(link: Link, exc: BaseException, base_dir: str) -> str:
    """Tell the master why this child cannot start (one line) and log the traceback."""
    text = describe_exception(exc, base_dir)
    from runtime.logs import NO_STDERR  # the master prints the one line, not this child

    if isinstance(exc, StartupError):
        log.error("start failed: %s", text, extra=NO_STDERR)
    else:
        log.error("start failed: %s", text, exc_info=exc, extra=NO_STDERR)
    link.send(Action.STARTUP_ERROR.value, {"message": text, "pid": os.getpid()})
    await link.drain()
    return text


def import_requires(requires: tuple[str, ...], base_dir: str) -> None:
    """`--require`: a module name, or a path to a .py file (relative to BASE_DIR)."""
    for item in requires:
        try:
            if item.endswith(".py") or os.sep in item:
                path = item if os.path.isabs(item) else os.path.join(base_dir, item)
                name = "_eggscripts_require_" + os.path.splitext(os.path.basename(path))[0]
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is None or spec.loader is None or not os.path.isfile(path):
                    raise StartupError(f"--require: file not found: {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(item)
        except StartupError:
            raise
        except ModuleNotFoundError as exc:
            if exc.name == item:
                raise StartupError(f"--require: no module named {item!r}") from None
            raise StartupError(f"--require {item}: {describe_exception(exc, base_dir)}") from exc
        except Exception as exc:
            raise StartupError(f"--require {item}: {describe_exception(exc, base_dir)}") from exc


_background: set[asyncio.Future[Any]] = set()


def spawn(awaitable: Any) -> asyncio.Future[Any]:
    """Run a coroutine in the background, keeping a reference until it finishes (the loop
    itself only keeps weak ones, so an unreferenced task can vanish mid-flight)."""
    task = asyncio.ensure_future(awaitable)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where available: uvicorn only installs it in `Server.run()`, and serving on
    the default loop costs ~20% of the throughput."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class OrphanWatch:
    """Ends this child once its master is gone, even if app code blocks the event loop.

    EOF on the channel tells a responsive loop at once (it calls `lost()`); this daemon
    thread covers a loop stuck in synchronous app code by noticing the reparenting (the
    parent pid changes) within `POLL` seconds. Either way the child then has `GRACE`
    seconds to finish in-flight work before it `_exit`s, so no orphan keeps serving.
    """

    POLL = 0.2
    GRACE = 1.5

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self._master = os.getppid()
        self._loop = asyncio.get_running_loop()
        self._on_lost = on_lost
        self._gone = threading.Event()
        thread = threading.Thread(target=self._watch, name="eggscripts-orphan-watch", daemon=True)
        thread.start()

    def lost(self) -> None:
        self._gone.set()

    def _watch(self) -> None:
        while not self._gone.wait(self.POLL):
            if os.getppid() != self._master:
                self._gone.set()
                with contextlib.suppress(RuntimeError):  # the loop may already be closed
                    self._loop.call_soon_threadsafe(self._on_lost)
        time.sleep(self.GRACE)
        os._exit(1)
