"""The head limits of our protocol (runtime/worker/http_protocol.py), checked once a head
is complete, or on what a read left of a head still incomplete."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.server import ServerState

from runtime.process.cluster_options import ClusterOptions
from runtime.worker.http_server import server_config
from tests.unit.runtime.worker.test_eager import Transport

LIMIT = 1024  # max_header_size
MAX_HEADERS = 10


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def serve(*reads: bytes, max_body: int | None = None) -> bytes:
    """The status line answered to `reads`, each delivered as one read."""

    async def main() -> bytes:
        options = ClusterOptions(
            base_dir="/",
            title="limit-tests",
            max_header_size=LIMIT,
            max_headers=MAX_HEADERS,
            max_body=max_body,
        )
        config = server_config(options, hello)
        config.load()
        proto = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}
        )
        transport = Transport()
        proto.connection_made(transport)
        loop = asyncio.get_running_loop()
        for data in reads:
            loop.call_soon(proto.data_received, data)
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        proto.connection_lost(None)
        return bytes(transport.data).split(b"\r\n", 1)[0]

    return asyncio.run(main())


def head(url_size: int, header_value_size: int) -> bytes:
    """A GET whose counted head (URL + `name: value` + CRLF per header) is
    `url_size + 4 + len("x") + header_value_size` bytes."""
    url = b"/" + b"u" * (url_size - 1)
    return b"GET " + url + b" HTTP/1.1\r\nx: " + b"v" * header_value_size + b"\r\n\r\n"


def test_a_head_at_the_limit_is_served_and_one_byte_more_is_431() -> None:
    at_limit = LIMIT - 100 - 5
    assert serve(head(100, at_limit)) == b"HTTP/1.1 200 OK"
    assert serve(head(100, at_limit + 1)) == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_a_url_over_the_limit_is_414() -> None:
    assert serve(head(LIMIT + 1, 1)).startswith(b"HTTP/1.1 414 ")


def test_too_many_headers_is_431() -> None:
    fields = b"".join(b"h%d: v\r\n" % i for i in range(MAX_HEADERS))
    assert serve(b"GET / HTTP/1.1\r\n" + fields + b"\r\n") == b"HTTP/1.1 200 OK"
    fields += b"one: more\r\n"
    assert serve(b"GET / HTTP/1.1\r\n" + fields + b"\r\n").startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(
    ("reads", "status"),
    [
        # a head that never ends is refused as soon as what was read of it is over a limit
        ((b"GET / HTTP/1.1\r\nx: " + b"v" * 600, b"v" * 600), b"431"),
        ((b"GET /" + b"u" * 600, b"u" * 600), b"414"),
        ((b"GET / HTTP/1.1\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(12)),), b"431"),
        # and a head split over reads but within the limits is served
        ((b"GET / HTTP/1.1\r\nx: " + b"v" * 400, b"v" * 400 + b"\r\n\r\n"), b"200"),
    ],
)
def test_limits_apply_to_a_head_still_incomplete(reads: tuple[bytes, ...], status: bytes) -> None:
    assert serve(*reads).split(b" ")[1] == status


def test_a_declared_body_over_max_body_is_413() -> None:
    post = b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n"
    assert serve(post % 10 + b"0123456789", max_body=10) == b"HTTP/1.1 200 OK"
    # the reason phrase is http.HTTPStatus's: "Content Too Large" from Python 3.13 on
    assert serve(post % 11, max_body=10).startswith(b"HTTP/1.1 413 ")
