"""An egg-style app's plain response in one write (runtime/worker/one_write.py): the very
bytes uvicorn's `send` writes for the two ASGI messages, the cycle left as uvicorn leaves
it, and every other response still sent as two messages."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from uvicorn.server import ServerState

from runtime.process.cluster_options import ClusterOptions
from runtime.worker import one_write
from runtime.worker.http_server import install_responder, server_config
from tests.fake_transport import Transport
from tests.fixtures.apptree import boot, write_tree

HOME = """
import asyncio

async def text(ctx):
    ctx.body = "hello world"

async def data(ctx):
    ctx.body = {"a": [1, 2], "b": "é"}

async def raw(ctx):
    ctx.body = b"\\x00\\x01"

async def created(ctx):
    ctx.status = 201
    ctx.body = "made"

async def big(ctx):
    ctx.body = "x" * (one_write_max + 1)

async def header(ctx):
    ctx.set("x-extra", "1")
    ctx.body = "with a header"

async def many(ctx):
    ctx.set({"X-One": "1", "x-list": ["a", "b"]})
    ctx.body = {"many": True}

async def bad(ctx):
    ctx.set("x-bad", "a\\nb")
    ctx.body = "refused by uvicorn's send"

async def closing(ctx):
    ctx.set("connection", "close")
    ctx.body = "closes"

async def length(ctx):
    ctx.set("content-length", "5")  # written after the app's own, as uvicorn writes it
    ctx.body = "hello world"

async def chunked(ctx):
    ctx.set("transfer-encoding", "chunked")
    ctx.body = "chunked"

async def badtype(ctx):
    ctx.type = "text/html\\r\\nx-injected: 1"
    ctx.body = "refused by uvicorn's send"

async def typed(ctx):
    ctx.type = "html"
    ctx.body = "<p>hi</p>"

async def empty(ctx):
    ctx.body = None

async def boom(ctx):
    raise RuntimeError("boom")

async def odd(ctx):
    ctx.status = 799
    ctx.body = "odd"

async def waits(ctx):
    await asyncio.sleep(0)
    ctx.body = "waited"

async def reads(ctx):
    ctx.body = ctx.request.body

one_write_max = 64 * 1024
"""
ROUTER = """
def router(app):
    h = app.controller.home
    for name in ("text", "data", "raw", "created", "big", "header", "typed", "empty", "boom",
                 "odd", "waits", "many", "bad", "closing", "length", "chunked", "badtype"):
        app.router.get("/" + name, getattr(h, name))
    app.router.post("/reads", h.reads)
"""
MW = """
def middleware(options, app):
    async def counts(ctx, next):
        app.counted += 1
        await next()
    return counts
"""
DEFAULTS = [(b"server", b"uvicorn"), (b"date", b"Sun, 06 Dec 2026 10:00:00 GMT")]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = write_tree(
        tmp_path_factory.mktemp("one_write"),
        {
            "config/config.default.py": "config = {'middleware': ['counts']}",
            "app/middleware/counts.py": MW,
            "app/controller/home.py": HOME,
            "app/router.py": ROUTER,
        },
    )
    booted = boot(Path(root))
    booted.counted = 0
    return booted


def connect(app: Any, responder: bool, defaults: Any = None, **options: Any) -> Any:
    """Our protocol serving `app` on a fake transport, as build_server sets it up."""
    app.use_responder(None)
    opts = ClusterOptions(base_dir="/", title="one-write-tests", **options)
    if responder:
        install_responder(opts, app)
    config = server_config(opts, app.asgi)
    config.load()
    state = ServerState()
    state.default_headers = DEFAULTS if defaults is None else defaults
    proto = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=state, app_state={}
    )
    transport = Transport()
    proto.connection_made(transport)
    return proto, transport


async def _serve(proto: Any, transport: Transport, data: bytes, responses: int) -> None:
    loop = asyncio.get_running_loop()
    loop.call_soon(proto.data_received, data)
    for _ in range(100):
        await asyncio.sleep(0)
        if b"".join(transport.writes).count(b"HTTP/1.") >= responses and (
            proto.cycle is not None and proto.cycle.response_complete
        ):
            break
    await asyncio.sleep(0)


def serve(
    app: Any, data: bytes, responder: bool, responses: int = 1, **kw: Any
) -> tuple[list[bytes], bool]:
    """(the writes, whether the connection was closed) for the requests in `data`."""

    async def main() -> tuple[list[bytes], bool]:
        proto, transport = connect(app, responder, **kw)
        await _serve(proto, transport, data, responses)
        writes, closed = transport.writes, transport.closed
        proto.connection_lost(None)
        return writes, closed

    return asyncio.run(main())


def both(app: Any, data: bytes, responses: int = 1, **kw: Any) -> tuple[list[bytes], list[bytes]]:
    """The writes with and without the responder; same bytes, same closing."""
    fast, fast_closed = serve(app, data, True, responses, **kw)
    slow, slow_closed = serve(app, data, False, responses, **kw)
    assert b"".join(fast) == b"".join(slow)
    assert fast_closed == slow_closed
    return fast, slow


def get(path: str, *headers: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: t", *headers, "", ""]
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize(
    "request_bytes",
    [
        get("/text"),
        get("/data"),
        get("/raw"),
        get("/created"),
        get("/missing"),  # 404, the reason phrase as the body
        get("/text", method="HEAD"),
        get("/text", "Connection: close"),
        get("/text", version="1.0"),
        get("/text", "Expect: 100-continue"),
        get("/waits"),  # answered from the connection's Task
        get("/header"),  # a header set by the app, checked as uvicorn checks it
        get("/many"),
        get("/typed"),  # a content type set by the app, checked as uvicorn checks it
        get("/length"),
    ],
)
def test_a_plain_response_is_one_write_of_the_bytes_uvicorn_writes(
    app: Any, request_bytes: bytes
) -> None:
    fast, slow = both(app, request_bytes)
    assert len(fast) == 1
    assert len(slow) == (1 if request_bytes.startswith(b"HEAD") else 2)  # no body to HEAD


@pytest.mark.parametrize(
    "request_bytes",
    [
        get("/big"),  # over MAX_BODY: not copied into the head's write
        get("/bad"),  # a header uvicorn's send refuses: its 500, as before
        get("/closing"),  # a header that frames the response: uvicorn's send
        get("/chunked"),
        get("/badtype"),
        get("/empty"),  # 204: uvicorn frames it
        get("/boom"),  # an error page
        get("/odd"),  # a status uvicorn has no line for: its send fails, a 500
    ],
)
def test_other_responses_still_go_as_two_asgi_messages(app: Any, request_bytes: bytes) -> None:
    fast, slow = both(app, request_bytes)
    assert len(fast) == len(slow)


def test_a_request_body_and_pipelined_requests(app: Any) -> None:
    post = b"POST /reads HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
    fast, _ = both(app, post + b'{"q":1}' + get("/text") + get("/data"), responses=3)
    joined = b"".join(fast)
    assert joined.count(b"HTTP/1.1 200 OK") == 3
    assert joined.index(b'{"q":1}') < joined.index(b"hello world") < joined.index(b'"a"')


def test_expect_100_continue_with_a_body_read(app: Any) -> None:
    head = b"POST /reads HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
    fast, _ = both(app, head + b"Expect: 100-continue\r\n\r\n" + b'{"q":1}')
    assert fast[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(fast) == 2  # the interim response, then the response in one write


def test_the_cycle_is_left_as_uvicorn_leaves_it(app: Any) -> None:
    async def main() -> None:
        proto, transport = connect(app, True)
        await _serve(proto, transport, get("/text"), 1)
        cycle = proto.cycle
        assert cycle.response_started and cycle.response_complete
        assert cycle.message_event.is_set()
        assert not cycle.waiting_for_100_continue
        assert proto.timeout_keep_alive_task is not None  # on_response ran: idle again
        assert not transport.closed
        proto.connection_lost(None)

    asyncio.run(main())


def test_a_draining_connection_closes_after_the_response(app: Any) -> None:
    async def main() -> None:
        proto, transport = connect(app, True)
        proto.draining = True  # the worker is stopping: the next request closes
        await _serve(proto, transport, get("/text"), 1)
        assert len(transport.writes) == 1
        assert b"connection: close\r\n\r\nhello world" in transport.writes[0]
        assert transport.closed
        proto.connection_lost(None)

    asyncio.run(main())


@pytest.mark.parametrize(
    "defaults",
    [
        [],
        [(b"Server", b"uvicorn")],  # lower-cased, as uvicorn's send does
        [*DEFAULTS, (b"connection", b"close")],  # frames the response: uvicorn's send
        [*DEFAULTS, (b"x-bad", b"a\nb")],  # uvicorn's send refuses it: a 500, as before
        [*DEFAULTS, (b"bad name", b"1")],
    ],
)
def test_default_headers(app: Any, defaults: list[tuple[bytes, bytes]]) -> None:
    fast, slow = both(app, get("/text"), defaults=defaults)
    assert len(fast) == (1 if one_write.default_lines(defaults) is not None else len(slow))


def test_default_lines_are_checked_once_per_list() -> None:
    headers = [(b"server", b"uvicorn")]
    assert one_write.default_lines(headers) == b"server: uvicorn\r\n"
    headers.append((b"x", b"y"))  # uvicorn replaces the list, never changes it
    assert one_write.default_lines(headers) == b"server: uvicorn\r\n"
    assert one_write.default_lines(list(headers)) == b"server: uvicorn\r\nx: y\r\n"


class _Flow:
    write_paused = False


class _Cycle:
    """Has everything `respond` reads, but is not uvicorn's cycle."""

    response_started = disconnected = access_log = False
    flow = _Flow()
    default_headers: list[Any] = []

    async def send(self, message: Any) -> None:
        raise AssertionError("not called")


def _cycle(app: Any) -> Any:
    """uvicorn's cycle for a request whose head was parsed, before the app answered."""
    proto, transport = connect(app, True)
    proto.data_received(get("/text", "Content-Length: 1"))  # the body is still to come
    return proto, transport, proto.cycle


@pytest.mark.parametrize(
    "change",
    ["started", "disconnected", "access_log", "write_paused", "status", "body", "not_a_cycle"],
)
def test_respond_declines_and_changes_nothing(app: Any, change: str) -> None:
    async def main() -> None:
        proto, transport, cycle = _cycle(app)
        send, status, body = cycle.send, 200, b"x"
        if change == "started":
            cycle.response_started = True
        elif change == "disconnected":
            cycle.disconnected = True
        elif change == "access_log":
            cycle.access_log = True
        elif change == "write_paused":
            cycle.flow.write_paused = True
        elif change == "status":
            status = 799
        elif change == "body":
            body = b"x" * (one_write.MAX_BODY + 1)
        else:
            send = _Cycle().send
        before = dict(vars(cycle))
        assert one_write.respond(send, status, b"content-length: 1\r\n", body) is False
        assert vars(cycle) == before
        assert transport.writes == []
        proto.connection_lost(None)

    asyncio.run(main())


def test_respond_declines_a_plain_function(app: Any) -> None:
    async def send(message: Any) -> None:
        raise AssertionError("not called")

    assert one_write.respond(send, 200, b"content-length: 0\r\n", b"") is False


def test_no_responder_with_the_access_log(app: Any) -> None:
    """The access log counts the ASGI messages: the app sends them."""
    install_responder(ClusterOptions(base_dir="/", title="t", access_log=True), app)
    assert app.responder is None
    install_responder(ClusterOptions(base_dir="/", title="t"), app)
    assert app.responder is one_write.respond
    app.use_responder(None)
    assert app.responder is None
