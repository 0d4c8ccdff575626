"""Requests run without a Task of their own (runtime/worker/eager.py): what an app can observe is
what it would observe under uvicorn's Task per request."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from uvicorn.server import ServerState

from runtime.process.cluster_options import ClusterOptions
from runtime.worker import eager
from runtime.worker.http_server import server_config
from tests.fake_transport import Transport

pytestmark = pytest.mark.skipif(
    not eager.SUPPORTED, reason="eager runs need create_task(context=): Python 3.11+"
)

GET = b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def text_app(handler: Callable[[dict[str, Any], Any], Awaitable[str]]) -> App:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = (await handler(scope, receive)).encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class Connection:
    """Our protocol on a fake transport; reads are delivered from loop callbacks, as the
    event loop delivers them."""

    def __init__(self, app: App, eager: bool = True) -> None:
        options = ClusterOptions(base_dir="/", title="eager-tests")
        config = server_config(options, app, eager=eager)
        config.load()
        self.state = ServerState()
        self.proto = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.state, app_state={}
        )
        self.transport = Transport()
        self.proto.connection_made(self.transport)

    async def read(self, data: bytes) -> None:
        """Deliver `data` as one read, outside any Task; return once it was parsed."""
        done = asyncio.get_running_loop().create_future()

        def deliver() -> None:
            self.proto.data_received(data)
            done.set_result(None)

        asyncio.get_running_loop().call_soon(deliver)
        await done

    async def responses(self, count: int) -> list[bytes]:
        for _ in range(200):
            if self.transport.data.count(b"HTTP/1.1 ") >= count:
                break
            await asyncio.sleep(0.005)
        parts = bytes(self.transport.data).split(b"HTTP/1.1 ")[1:]
        return [part.split(b"\r\n\r\n", 1)[1] for part in parts]


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def test_a_request_that_does_not_wait_runs_without_a_task_of_its_own_under_a_task() -> None:
    seen: list[Any] = []

    async def handler(scope: dict[str, Any], receive: Any) -> str:
        seen.append(asyncio.current_task())
        return "hello"

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"")  # the first request of a connection: uvicorn's Task
        assert await conn.responses(1) == [b"hello"]
        await asyncio.sleep(0)  # the connection's host Task parks
        await conn.read(GET % b"")
        assert conn.transport.data.count(b"hello") == 2  # answered before the read returned to us
        await conn.read(GET % b"")
        assert conn.transport.data.count(b"hello") == 3
        assert all(isinstance(task, asyncio.Task) for task in seen)
        assert seen[1] is seen[2]  # requests that never wait share the connection's host
        assert not conn.state.tasks
        conn.proto.connection_lost(None)

    run(main)


def test_a_request_that_waits_keeps_its_task_timeout_and_context() -> None:
    async def handler(scope: dict[str, Any], receive: Any) -> str:
        task = asyncio.current_task()
        request_id.set(scope["path"])
        async with asyncio.timeout(5):  # entered before the wait, in a loop callback
            await asyncio.sleep(0.01)
        assert asyncio.current_task() is task
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            return f"timed out {request_id.get()}"
        return "no timeout"

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"first")
        await conn.responses(1)
        await asyncio.sleep(0)
        await conn.read(GET % b"second")
        assert len(conn.state.tasks) == 1  # a request that waits counts as uvicorn's Task
        assert await conn.responses(2) == [b"timed out /first", b"timed out /second"]
        await asyncio.sleep(0)
        assert not conn.state.tasks
        conn.proto.connection_lost(None)

    run(main)


def test_context_variables_do_not_leak_from_one_request_to_the_next() -> None:
    async def handler(scope: dict[str, Any], receive: Any) -> str:
        before = request_id.get()
        request_id.set(scope["path"])
        return before

    async def main() -> None:
        conn = Connection(text_app(handler))
        for _ in range(4):
            await conn.read(GET % b"x")
            await asyncio.sleep(0)
        assert await conn.responses(4) == [b"-"] * 4
        conn.proto.connection_lost(None)

    run(main)


def test_a_body_in_a_later_read_reaches_the_app_whole() -> None:
    async def handler(scope: dict[str, Any], receive: Any) -> str:
        body = b""
        while True:
            message = await receive()
            body += bytes(message.get("body", b""))
            if not message.get("more_body"):
                return body.decode()

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"")
        await conn.responses(1)
        await asyncio.sleep(0)
        head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
        await conn.read(head + b"01234")  # headers and half the body
        await conn.read(b"56789")
        assert (await conn.responses(2))[1] == b"0123456789"
        # and a body that arrives with its headers
        await conn.read(head + b"abcdefghij")
        assert (await conn.responses(3))[2] == b"abcdefghij"
        conn.proto.connection_lost(None)

    run(main)


def test_pipelined_requests_are_answered_in_order() -> None:
    async def handler(scope: dict[str, Any], receive: Any) -> str:
        if scope["path"] == "/slow":
            await asyncio.sleep(0.01)
        return str(scope["path"])

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"a")
        await conn.responses(1)
        await asyncio.sleep(0)
        await conn.read(GET % b"slow" + GET % b"b" + GET % b"c")
        assert await conn.responses(4) == [b"/a", b"/slow", b"/b", b"/c"]
        conn.proto.connection_lost(None)

    run(main)


def test_a_request_pipelined_behind_a_connection_close_is_not_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    paths: list[str] = []

    async def handler(scope: dict[str, Any], receive: Any) -> str:
        paths.append(scope["path"])
        return "bye"

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"")
        await conn.responses(1)
        await asyncio.sleep(0)
        close = b"GET /close HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        await conn.read(close + GET % b"after")
        await asyncio.sleep(0.01)
        assert paths == ["/", "/close"]  # as uvicorn: queued behind the close, never run
        assert conn.transport.closed
        conn.proto.connection_lost(None)

    run(main)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_waiting_request_is_cancelled_with_its_task_and_no_task_is_left() -> None:
    cancelled: list[bool] = []

    async def handler(scope: dict[str, Any], receive: Any) -> str:
        if scope["path"] == "/quick":
            return "quick"
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "slept"

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"")  # the first request of a connection: uvicorn's Task
        await asyncio.sleep(0)
        for task in list(conn.state.tasks):  # uvicorn's shutdown, after its timeout
            task.cancel()
        await asyncio.sleep(0.01)
        assert cancelled == [True]  # (answered 500 with Connection: close)
        conn.proto.connection_lost(None)
        conn = Connection(text_app(handler))
        await conn.read(GET % b"quick")
        await asyncio.sleep(0)
        await conn.read(GET % b"")  # on the connection's host, then waits
        await asyncio.sleep(0)
        assert len(conn.state.tasks) == 1
        for task in list(conn.state.tasks):
            task.cancel()
        await asyncio.sleep(0.01)
        assert cancelled == [True, True]
        conn.proto.connection_lost(None)
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}  # the parked hosts ended too

    run(main)


def test_an_app_that_cancels_its_own_task_before_waiting_is_cancelled_at_the_wait() -> None:
    async def handler(scope: dict[str, Any], receive: Any) -> str:
        if scope["path"] == "/cancel":
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                return "cancelled at the wait"
        return "plain"

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"")
        await asyncio.sleep(0)
        await conn.read(GET % b"cancel")
        await conn.responses(2)
        await asyncio.sleep(0)
        await conn.read(GET % b"after")  # a fresh host: the cancelled one is not lent again
        assert await conn.responses(3) == [b"plain", b"cancelled at the wait", b"plain"]
        conn.proto.connection_lost(None)

    run(main)


@pytest.mark.parametrize("forwarded", [False, True])
def test_proxy_headers_still_apply_when_a_request_carries_them(forwarded: bool) -> None:
    async def handler(scope: dict[str, Any], receive: Any) -> str:
        return f"{scope['client'][0]} {scope['scheme']}"

    async def main() -> None:
        conn = Connection(text_app(handler))
        extra = b"X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: https\r\n" if forwarded else b""
        for _ in range(2):
            await conn.read(b"GET / HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n")
            await asyncio.sleep(0)
        want = b"10.1.2.3 https" if forwarded else b"127.0.0.1 http"
        assert await conn.responses(2) == [want, want]
        conn.proto.connection_lost(None)

    run(main)


def test_without_eager_runs_every_request_is_a_task_of_its_own() -> None:
    seen: list[Any] = []

    async def handler(scope: dict[str, Any], receive: Any) -> str:
        seen.append(asyncio.current_task())
        return "hello"

    async def main() -> None:
        conn = Connection(text_app(handler), eager=False)  # as for a WSGI app
        for _ in range(3):
            await conn.read(GET % b"")
            await asyncio.sleep(0)
        assert await conn.responses(3) == [b"hello"] * 3
        assert len({id(task) for task in seen}) == 3
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no host Task parked
        conn.proto.connection_lost(None)

    run(main)


def test_a_response_that_does_not_wait_leaves_in_one_write() -> None:
    async def handler(scope: dict[str, Any], receive: Any) -> str:
        return "hello"

    async def main() -> None:
        conn = Connection(text_app(handler))
        await conn.read(GET % b"")  # the first request: uvicorn's Task, two writes
        await conn.responses(1)
        await asyncio.sleep(0)
        before = len(conn.transport.writes)
        await conn.read(GET % b"")
        (write,) = conn.transport.writes[before:]
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\nhello")
        conn.proto.connection_lost(None)

    run(main)


def test_a_head_sent_before_a_wait_is_written_when_the_step_ends() -> None:
    release = asyncio.Event

    async def main() -> None:
        go = release()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            headers = [(b"content-length", b"5")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await go.wait()
            await send({"type": "http.response.body", "body": b"later"})

        conn = Connection(app)
        await conn.read(GET % b"")  # uvicorn's Task for the first request
        await asyncio.sleep(0)
        go.set()
        await conn.responses(1)
        await asyncio.sleep(0)
        go.clear()
        before = len(conn.transport.writes)
        await conn.read(GET % b"")
        head = b"".join(conn.transport.writes[before:])
        assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")  # no body yet
        go.set()
        for _ in range(200):
            if conn.transport.writes[-1] == b"later":
                break
            await asyncio.sleep(0.005)
        assert conn.transport.writes[-1] == b"later"  # after the wait: written at once
        conn.proto.connection_lost(None)

    run(main)


def test_a_large_body_is_written_through_and_a_closing_response_before_the_close() -> None:
    big = b"x" * (eager._Batch.LIMIT + 1)

    async def main() -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            body = big if scope["path"] == "/big" else b"bye"
            headers = [(b"content-length", str(len(body)).encode())]
            if scope["path"] == "/bye":
                headers.append((b"connection", b"close"))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        conn = Connection(app)
        await conn.read(GET % b"")
        await conn.responses(1)
        await asyncio.sleep(0)
        before = len(conn.transport.writes)
        await conn.read(GET % b"big")
        writes = conn.transport.writes[before:]
        assert len(writes) == 2 and writes[1] is not None and len(writes[1]) == len(big)
        await asyncio.sleep(0)
        before = len(conn.transport.writes)
        await conn.read(GET % b"bye")  # connection: close: written, then closed
        assert conn.transport.writes[before:][-1].endswith(b"bye") and conn.transport.closed

    run(main)
