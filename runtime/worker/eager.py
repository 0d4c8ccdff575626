"""uvicorn's httptools protocol, where a request that never has to wait costs no Task.

uvicorn starts every request as a new asyncio Task when its headers are complete: the Task
object, its registration (Python code on 3.11), its step and its done callback cost about
as much as a hello-world app itself. Most requests (a GET answered from memory) never wait
for anything, so here a request whose body is complete runs in a plain loop callback
scheduled by the read (where the Task's first step would run), and becomes a Task only if
it actually waits (what Python 3.12's eager tasks save, less the Task object). Not inside
the read callback itself: that measured slower under load than uvicorn's Tasks (39 CPU us
per request instead of 26 under wrk, with the same syscalls; probably the loop answering
each connection before reading the next ready one). What the app can observe stays as
under a Task of its own:

- `asyncio.current_task()` is a real Task, the connection's *host*: a Task parked on a
  future that lends its identity to a request run in a loop callback. A request that
  waits is handed over to that very Task, which drives it to the end (a timeout, a
  TaskGroup or an anyio cancel scope entered before the wait keeps working), and the
  connection makes a new host for the next requests. One difference: requests that do not
  wait, one after the other on one connection, see the same Task object.
- contextvars: each request runs in its own copy of the connection's context (what
  uvicorn's Task copies); a request that changed that copy and finished without waiting
  leaves its host to end, and the next request gets a fresh one.
- a request with a body still on its way when the read ends, a pipelined request
  started when the one before it completes, any request on a loop that is not an
  asyncio event loop (uvicorn's own tests use a mock one) and every request of a WSGI
  app (`eager_runs` off: each waits for its thread) start as uvicorn's Task, unchanged.
- a request that waits is in `server_state.tasks` from the moment it waits, so a
  graceful shutdown waits for it (and cancels it on timeout) as for uvicorn's Tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types

# asyncio's own switches of the current task (what a Task step does around `coro.send`).
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Generator
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

# A host Task must run in the very context a request's first step ran in (so a variable set
# before the request waits is still set after): `create_task(context=)`, Python 3.11 on.
# Before, every request starts as uvicorn's Task.
SUPPORTED = sys.version_info >= (3, 11)


@types.coroutine
def _adopt(coro: Any, waiting_on: Any, cancelled: bool) -> Generator[Any, Any, Any]:
    """Drive `coro`, suspended on `waiting_on` (what it yielded), from the host Task as if
    the Task had run it from the start: the Task waits on what the coroutine yielded, a
    cancellation is thrown into the coroutine, and once the coroutine is resumed, `yield
    from` forwards everything else natively."""
    if cancelled:  # the host was cancelled while the request ran in a loop callback
        if waiting_on is not None:
            waiting_on.cancel()
        try:
            waiting_on = coro.throw(asyncio.CancelledError())
        except StopIteration as stop:
            return stop.value
    while True:
        try:
            yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # forwarded, as a Task would
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            return (yield from coro)


class _Host:
    """A Task parked on a future, whose identity eager requests borrow; it drives the
    first request that waits, then ends."""

    __slots__ = ("context", "items", "pending", "task", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop, context: contextvars.Context) -> None:
        self.context = context
        self.items = tuple(context.items())  # to tell whether a request changed it
        self.pending: tuple[Any, Any] | None = None
        self.wake: asyncio.Future[None] | None = None  # set while parked
        self.task = loop.create_task(self._main(loop), context=context)

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self.wake = wake = loop.create_future()
        cancelled = False
        try:
            await wake
        except asyncio.CancelledError:  # cancelled by a request run in a loop callback
            cancelled = True
        self.wake = None
        pending, self.pending = self.pending, None
        if pending is not None:
            await _adopt(pending[0], pending[1], cancelled)

    def same_context(self) -> bool:
        """Every variable of the context still has the value it had (`len` was checked)."""
        return all(self.context.get(k) is v for k, v in self.items)

    def end(self, pending: tuple[Any, Any] | None = None) -> None:
        """Hand `pending` (coroutine, what it waits on) over, or just end."""
        self.pending = pending
        wake = self.wake
        if wake is not None and not wake.done():
            wake.set_result(None)


class _Batch:
    """The cycle's transport during an eager step: its writes are made as one when the step
    ends, so a response's head and body (two ASGI messages, two `transport.write`s in
    uvicorn's send) leave in one send(2) instead of two: FastAPI's hello world 1.09x
    uvicorn's req/s at 0.95x its CPU per request (bench/asgi_compare.py), against 0.99x
    and 1.0x before. The step is synchronous: the bytes go out before the loop does
    anything else, in the order written; `close` sends them first. Past `LIMIT` bytes
    they are written through at once, so a large response meets the transport's flow
    control (uvicorn's send then waits for the drain) as it would without the batch."""

    __slots__ = ("parts", "size", "transport")
    LIMIT = 64 * 1024

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size > self.LIMIT:
            self.flush()

    def flush(self) -> None:
        parts, size = self.parts, self.size
        if not parts:
            return
        self.parts = []
        self.size = 0
        write = self.transport.write
        if len(parts) == 1:
            write(parts[0])
        elif size <= self.LIMIT:
            write(b"".join(parts))
        else:  # a large body is not copied to be joined
            for part in parts:
                write(part)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...
        return getattr(self.transport, name)


class EagerHttpToolsProtocol(HttpToolsProtocol):
    """Runs requests eagerly for reads the subclass delivers with `_feeding` set, and
    starts what is left `_deferred` once the read is parsed (`_start_deferred`): a
    per-request override of `data_received` here would cost every request a call, so the
    one subclass that overrides it anyway (http_protocol.py) does both. Without that, every
    request starts as uvicorn's Task."""

    _host: _Host | None = None
    _deferred: tuple[RequestResponseCycle, Any] | None = None
    _feeding = False  # a read is being parsed (set by the subclass's data_received)
    _eager = False  # on a real event loop only (uvicorn's tests drive a mock one)
    eager_runs = True  # False: every request starts as uvicorn's Task (a WSGI app)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if self._feeding:  # headers complete: run at on_message_complete, or after the read
            self._deferred = (cycle, app)
        else:  # a pipelined request, started when the one before it completed
            self._start_task(cycle, app)

    def _start_deferred(self) -> None:
        """After a read: a request whose body is still on its way starts as uvicorn's Task."""
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            self._start_task(*deferred)

    def _start_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        super()._start_asgi_task(cycle, app)
        if self._host is None and self._eager:
            self._new_host()

    def _new_host(self) -> None:
        base = self._base_context if not self.config.reset_contextvars else None
        context = base.copy() if base is not None else contextvars.Context()
        self._host = _Host(self.loop, context)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._base_context = contextvars.copy_context()  # what uvicorn's Tasks copy
        self._eager = (
            SUPPORTED and self.eager_runs and isinstance(self.loop, asyncio.AbstractEventLoop)
        )
        super().connection_made(transport)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        deferred = self._deferred
        if deferred is None:
            return
        self._deferred = None
        host = self._host
        wake = host.wake if host is not None else None
        if host is None or wake is None or wake.done():  # no host parked: uvicorn's Task
            if wake is not None:  # woken by a cancellation: it is ending by itself
                self._host = None
            self._start_task(*deferred)
            return
        # Not here, inside the read callback (see the module's docstring): in a callback
        # of its own, where the Task's first step would run, in the host's context.
        self.loop.call_soon(self._run, host, deferred, context=host.context)

    def _run(self, host: _Host, deferred: tuple[RequestResponseCycle, Any]) -> None:
        """The request's first step, as the host's step would run it (in its context)."""
        wake = host.wake
        if host is not self._host or wake is None or wake.done():  # ended meanwhile
            self._start_task(*deferred)
            return
        loop = self.loop
        task = host.task
        try:
            _enter_task(loop, task)
        except RuntimeError:  # a Task is running (a loop that runs callbacks inside one)
            self._start_task(*deferred)
            return
        cycle = deferred[0]
        transport = cycle.transport
        batch = _Batch(transport)
        cycle.transport = batch  # type: ignore[assignment]  # what the cycle calls of it
        coro = cycle.run_asgi(deferred[1])
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            # Done without waiting. A host whose context the request changed, or that it
            # cancelled, is not lent again.
            context = host.context
            if (
                wake.done()
                or len(context) != len(host.items)
                or (host.items and not host.same_context())
            ):
                host.end()
                self._new_host()
            return
        except BaseException as exc:  # run_asgi catches the app's; a Task would log it
            self.logger.error("Exception in the request's task", exc_info=exc)
            host.end()
            self._new_host()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return
        finally:
            _leave_task(loop, task)
            cycle.transport = transport  # what comes after a wait is written at once
            batch.flush()
        # It waits: the host drives it from now on, and counts as uvicorn's Task would.
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        host.end((coro, waiting_on))
        self._new_host()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._end_host()

    def handle_websocket_upgrade(self) -> None:
        self._end_host()  # the WebSocket protocol takes the connection over
        super().handle_websocket_upgrade()

    def _end_host(self) -> None:
        host = self._host
        if host is not None:
            self._host = None
            host.end()
