"""The WSGI response path: a2wsgi's `WSGIResponder` whose thread does not wait for the loop.

a2wsgi hands every response message (the start, each body chunk, the closing empty chunk)
from the WSGI thread to the event loop with `run_coroutine_threadsafe(queue.put(...))` and
blocks on the result: three round trips between the thread and the loop for a one-chunk
response, each a loop wake-up plus a wake-up of the thread blocked on it. Profiled on a
Flask hello world that was a third of the worker's CPU. Here the thread appends the message
to a list and wakes the loop only when no drain is pending, so the messages a request
produces while the loop is busy (all of them, for a small response) travel in one wake-up,
and the thread never waits for the loop unless the client is slow:

- Back-pressure in bytes instead of a2wsgi's 10 queued messages: the thread blocks while
  more than `HIGH_WATER` body bytes it handed over are not written to the transport yet
  (uvicorn's own `send` waits for the socket), so a large or endless body read by a slow
  client stays bounded per request.
- The start is held until the next message, as PEP 3333 asks (headers go out with the
  first body chunk or when the app returns), and the chunks that wait for the loop together
  are sent as one message (one write to the socket): the closing empty message with the
  last chunk, so a chunked response's terminator goes out in the same write; the many
  small chunks of a file or a generator in as few writes as the loop's turns.
- A failure of the ASGI side (the sender task raised or was cancelled) is raised in the
  WSGI thread at its next message, so the app stops producing a body nobody will send
  instead of blocking for ever, and the original error is what the request raises.
"""

from __future__ import annotations

import threading
from typing import Any

from a2wsgi.asgi_typing import Send, SendEvent
from a2wsgi.wsgi import WSGIResponder

Message = Any  # a2wsgi's `SendEvent` union, read as the plain dict it is

HIGH_WATER = 256 * 1024  # body bytes per request handed to the loop and not yet written


class Responder(WSGIResponder):
    def __init__(self, app: Any, executor: Any) -> None:
        super().__init__(app, executor, 0)  # an unbounded queue: the bound is `HIGH_WATER`
        self._lock = threading.Lock()
        self._room: threading.Condition | None = None  # made by the first wait for room
        self._pending: list[Message] = []  # handed over by the thread, not yet queued
        self._held: Message | None = None  # the start, until the next message
        self._scheduled = False  # a `_drain` is on its way to the loop
        self._unsent = 0  # body bytes handed over and not yet written
        self._failure: BaseException | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)
        if self._failure is not None:  # the app returned before it could be told
            raise self._failure

    def send(self, message: SendEvent | None) -> None:
        """In the WSGI thread: hand `message` over without waiting for the loop."""
        if message is None:  # pragma: no cover - a2wsgi sends its None from the loop
            return
        if message["type"] == "http.response.start":
            self._held = message
            return
        size = len(message.get("body", b"")) if message["type"] == "http.response.body" else 0
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._held is not None:
                self._pending.append(self._held)
                self._held = None
            self._pending.append(message)
            self._unsent += size
            wake = not self._scheduled
            self._scheduled = True
            if wake:
                self.loop.call_soon_threadsafe(self._drain)
            while self._unsent > HIGH_WATER and self._failure is None:
                if self._room is None:
                    self._room = threading.Condition(self._lock)
                self._room.wait()
            if self._failure is not None:
                raise self._failure

    def _drain(self) -> None:
        """On the loop: queue what the thread handed over for a2wsgi's sender."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        for message in _merged(batch):
            self.send_queue.put_nowait(message)

    async def sender(self, send: Send) -> None:
        async def counted(message: SendEvent) -> None:
            await send(message)
            size = len(message.get("body", b"")) if message["type"] == "http.response.body" else 0
            if size:
                with self._lock:
                    self._unsent -= size
                    if self._room is not None and self._unsent <= HIGH_WATER:
                        self._room.notify_all()

        try:
            await super().sender(counted)
        except Exception as exc:  # raised in the thread, or by `__call__` once it returned
            self._fail(exc)
        except BaseException as exc:  # cancelled: the request is going away
            self._fail(exc)
            raise

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._failure = exc
            if self._room is not None:
                self._room.notify_all()


def _merged(batch: list[Message]) -> list[Message]:
    """`batch` with each run of body chunks as one message: the chunks are already late
    (they waited for the loop together), and one message is one write to the socket."""
    out: list[Message] = []
    run: list[bytes] = []
    for message in batch:
        if message["type"] != "http.response.body":
            out.append(message)
            continue
        run.append(message.get("body", b""))
        if not message.get("more_body", False):
            out.append({"type": "http.response.body", "body": b"".join(run), "more_body": False})
            run = []
    if run:
        out.append({"type": "http.response.body", "body": b"".join(run), "more_body": True})
    return out
