"""The WSGI response path hands messages to the loop without waiting for it
(runtime/apptarget/wsgi_responder.py) and stays correct: a small response is one start and
one closing body (two bodies at most), chunks waiting together are one message, a
streamed body is not held back, a slow client bounds what is buffered, a failing send
stops the app instead of hanging it, a request body arrives whole."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime.apptarget.wsgi import WSGIApp
from runtime.apptarget.wsgi_responder import HIGH_WATER, _merged

SCOPE = {
    "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/",
    "raw_path": b"/", "root_path": "", "query_string": b"", "headers": [],
    "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
}  # fmt: skip


def serve(
    app: Any,
    send: Callable[[dict[str, Any]], Any] | None = None,
    body: tuple[bytes, ...] = (b"",),
) -> list[dict[str, Any]]:
    """The ASGI messages the WSGI `app` sends for one request whose body is `body`."""
    sent: list[dict[str, Any]] = []
    pieces = list(body)

    async def receive() -> dict[str, Any]:
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)
        if send is not None:
            await send(message)

    wsgi = WSGIApp(app, threads=2)
    try:
        asyncio.run(asyncio.wait_for(wsgi(dict(SCOPE), receive, record), 10))
    finally:
        wsgi.executor.shutdown(wait=False)
    return sent


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "5")])
    return [b"hello"]


def test_a_small_response_is_a_start_and_at_most_two_bodies() -> None:
    """One closing body when the loop takes the chunk after the app returned (the usual
    case); the chunk and an empty closing body when the loop was quicker than the thread."""
    sent = serve(hello)
    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"5")],
    }
    bodies = sent[1:]
    assert 1 <= len(bodies) <= 2
    assert b"".join(m["body"] for m in bodies) == b"hello"
    assert [m["more_body"] for m in bodies][-1] is False


def test_a_streamed_body_is_not_held_back() -> None:
    first_sent = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"a"
        yield b"b" if first_sent.wait(5) else b"held back"

    async def send(message: dict[str, Any]) -> None:
        if message.get("body") == b"a":
            first_sent.set()

    bodies = [m.get("body") for m in serve(app, send)[1:]]
    assert b"".join(bodies) == b"ab"  # type: ignore[arg-type]


def test_a_slow_client_bounds_what_the_thread_hands_over() -> None:
    chunk, produced, written, worst = 64 * 1024, [0], [0], [0]

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        for _ in range(64):  # 4 MiB
            produced[0] += chunk
            worst[0] = max(worst[0], produced[0] - written[0])
            yield b"x" * chunk

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)
        written[0] += len(message.get("body", b""))

    sent = serve(app, send)
    assert written[0] == 64 * chunk and not sent[-1].get("more_body")
    assert worst[0] <= HIGH_WATER + 2 * chunk


def test_a_failing_send_stops_the_app_and_raises_its_error() -> None:
    closed = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:  # endless: only the failure stops it
                yield b"x" * 65536
        finally:
            closed.set()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise RuntimeError("the client is gone")

    with pytest.raises(RuntimeError, match="the client is gone"):
        serve(app, send)
    assert closed.wait(5)


def test_an_app_failing_before_its_first_chunk_sends_nothing() -> None:
    """The start waits for the first chunk (PEP 3333), so the server can still answer 500."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        raise ValueError("broken view")
        yield b""

    sent: list[dict[str, Any]] = []
    with pytest.raises(ValueError, match="broken view"):
        sent = serve(app)
    assert sent == []


def test_a_request_body_in_pieces_reaches_the_app_whole() -> None:
    def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        data = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [data, b"!" if environ["wsgi.input_terminated"] else b"?"]

    sent = serve(echo, body=(b"ab", b"cd", b"ef"))
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"abcdef!"
    assert sent[-1]["more_body"] is False


def test_chunks_waiting_together_are_one_message() -> None:
    start = {"type": "http.response.start", "status": 200, "headers": []}
    body = "http.response.body"
    batch = [
        start,
        {"type": body, "body": b"a", "more_body": True},
        {"type": body, "body": b"b", "more_body": True},
    ]
    assert _merged(batch) == [start, {"type": body, "body": b"ab", "more_body": True}]
    closing = [*batch[1:], {"type": body, "body": b""}]
    assert _merged(closing) == [{"type": body, "body": b"ab", "more_body": False}]
