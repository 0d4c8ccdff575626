"""The app worker's HTTP server: uvicorn, configured from the cluster options.

One place maps our options (INTERNALS §1) onto uvicorn's `Config`, for every kind
of app: httptools with our limits and read timeouts (`http_protocol`), uvicorn's sans-I/O
`websockets` implementation for WebSockets, no lifespan of uvicorn's own (the worker
drives the app's lifespan itself before it accepts, so a failure can fail the start in one
line; `WorkerServer` hands the resulting `state` to every request), no signal capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn.lifespan.off
from uvicorn.config import Config
from uvicorn.server import Server

from runtime.http.types import Receive, Scope, Send
from runtime.worker import access_log, one_write
from runtime.worker.backlog import serve_queued, take_queued
from runtime.worker.http_protocol import protocol_class
from runtime.worker.lazy_ws import LazyWebSocketProtocol

# uvicorn imports this lazily in Config.load(); importing it in the master before it forks
# makes every worker share it instead of loading its own copy.
PRELOADED = (uvicorn.lifespan.off,)
log = logging.getLogger("eggscripts.app")


class WorkerServer(Server):
    """uvicorn's Server minus its signal capture (it would re-raise SIGTERM after shutdown
    and make a clean exit look like a crash), plus a hook when it starts accepting and the
    lifespan `state` the worker obtained before it (copied into every request's scope).

    A stop (`exit`) is acted on at once: uvicorn notices `should_exit` only at its next
    0.1 s tick and then sleeps another 0.1 s in `shutdown` before it looks at the
    connections, which was most of the 180 ms an idle cluster took to stop.
    """

    def __init__(
        self, config: Config, on_started: Callable[[], None], state: dict[str, Any] | None = None
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._state = state if state is not None else {}
        self._backlog: socket.socket | None = None  # runtime/worker/backlog.py
        self._exit_now: asyncio.Future[None] | None = None

    def exit(self) -> None:
        """Stop accepting and drain, now rather than at uvicorn's next tick."""
        self.should_exit = True
        if self._exit_now is not None and not self._exit_now.done():
            self._exit_now.set_result(None)

    async def main_loop(self) -> None:
        """uvicorn's ticks (its Date header), left as soon as `exit` is called."""
        self._exit_now = asyncio.get_running_loop().create_future()
        ticks = asyncio.ensure_future(super().main_loop())
        try:
            await asyncio.wait((ticks, self._exit_now), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ticks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticks

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.lifespan.state = self._state  # uvicorn passes `lifespan.state` to protocols
        await super().startup(sockets=sockets)
        if sockets:
            self._backlog = sockets[0].dup()
        if self.started:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, then serve what the listen backlog still holds (backlog.py)
        along with the connections already open, then uvicorn's graceful shutdown."""
        for server in self.servers:
            server.close()
        if self._backlog is not None:
            queued = take_queued(self._backlog)
            self._backlog = None
            await serve_queued(queued, self._protocol, self.config.ssl)
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets=sockets)
            return
        # Nothing open to drain: uvicorn's shutdown would only sleep its fixed 0.1 s (a
        # pause for connections it just asked to close) before finding that out; the app's
        # lifespan is the worker's business (lifespan="off" here).
        for sock in sockets or []:
            sock.close()
        for server in self.servers:
            await server.wait_closed()

    def _protocol(self) -> asyncio.Protocol:
        """What uvicorn's own accept creates for a connection (its `create_protocol`)."""
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )


def server_config(options: Any, app: Any, https: Any = None, eager: bool = True) -> Config:
    """uvicorn's Config for serving the ASGI 3 callable `app` with the cluster's options
    (`https`: key and cert, from --https-* or the app's `cluster.https` config; `eager`:
    requests that do not wait run without a Task, runtime/worker/eager.py)."""
    if options.root_path and options.app is None:
        app = route_below_root(app, options.root_path)
    if options.access_log:
        access_log.setup(foreground=options.ready_fd is None)
        app = access_log.wrap(app)
    return Config(
        app,
        http=protocol_class(options, eager),
        ws=LazyWebSocketProtocol,
        lifespan="off",
        interface="asgi3",
        access_log=False,
        log_config=None,
        root_path=options.root_path,
        proxy_headers=options.proxy_headers,
        forwarded_allow_ips=options.forwarded_allow_ips,
        timeout_keep_alive=options.keep_alive,
        backlog=options.backlog,
        limit_concurrency=options.limit_concurrency,
        # uvicorn annotates int but uses the value as a float timeout
        timeout_graceful_shutdown=options.kill_app_timeout / 1000,
        server_header=options.server_header,
        date_header=options.date_header,
        ssl_keyfile=https.key if https else None,
        ssl_certfile=https.cert if https else None,
    )


def route_below_root(app: Any, root_path: str) -> Any:
    """uvicorn puts `--root-path` in front of `path` (the ASGI convention: Starlette and
    Django strip `root_path` themselves); an egg-style app routes on the path below it."""
    size = len(root_path)

    async def below_root(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if path is not None and path.startswith(root_path):
            scope["path"] = path[size:] or "/"
        await app(scope, receive, send)

    return below_root


_RESOURCE_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


def resource_exhaustion_filter(
    handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None],
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event-loop exception handler that treats "out of file descriptors" on accept as
    what it is, a full worker, not a fault: logged once per worker (with what to do about
    it), never passed to `handler` (which would retire the worker and make things worse).
    The loop retries accepting by itself once connections close. (That is asyncio's way;
    uvloop reports nothing, see `http_protocol.Limits.max_connections`.)"""
    warned = False

    def filtered(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal warned
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
            if not warned:
                warned = True
                log.error(
                    "out of file descriptors (%s): new connections wait until open ones "
                    "close; raise the open-files limit (ulimit -n) or lower --keep-alive "
                    "(logged once per worker)",
                    exc.strerror,
                )
            return
        handler(loop, context)

    return filtered


def build_server(
    options: Any, target: Any, on_started: Callable[[], None], https: Any = None
) -> WorkerServer:
    """The server for a booted target (an egg-style Application or an AppTarget). A WSGI
    app runs every request in a thread, so every request waits: it gets uvicorn's Task at
    once rather than a try without one (which would only add a hand-over). An egg-style
    app hands its plain responses to uvicorn's cycle in one step (one_write.py)."""
    state = getattr(target, "lifespan_state", None)
    eager = getattr(target, "interface", "asgi") != "wsgi"
    install_responder(options, target)
    return WorkerServer(server_config(options, target.asgi, https, eager), on_started, state)


def install_responder(options: Any, target: Any) -> None:
    """Let an egg-style app hand its plain responses to uvicorn's cycle in one step
    (one_write.py); not with `--access-log`, which counts the ASGI messages."""
    use_responder = getattr(target, "use_responder", None)
    if use_responder is not None:
        use_responder(None if options.access_log else one_write.respond)
