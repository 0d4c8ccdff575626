"""Malformed requests and slowloris connections (issue 9): answered 4xx or closed, never a
5xx, never a worker death, and the cluster keeps serving well-behaved clients meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

import pytest

from tests.clusters import Cluster
from tests.helpers import FIXTURES, request

CHAOS = FIXTURES / "runtime" / "chaos"
LONG = bool(os.environ.get("EGGSCRIPTS_RELIABILITY_LONG"))

MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    b"GET /\x00 HTTP/1.1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS hello
    b"\x00\x01\x02\xff" * 16,
    b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n",  # header too large: 431
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
    b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",  # URL too long
    b"GET / HTTP/1.1\r\nHost: a\r\n folded: x\r\n\r\n",
    b"GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",  # body never ends
    b"\r\n\r\n\r\n\r\n",  # empty lines before a request are allowed: closed when idle
    b"G\x80T / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
]
assert len(MALFORMED) == 20  # each sent twice: 40 malformed requests


def _send(port: int, payload: bytes) -> str:
    """The status line's code, or how the connection ended."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(payload)
            data = sock.recv(64)
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "timeout"
    return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"


def test_malformed_requests_get_4xx_or_close_and_kill_no_worker(title, port) -> None:
    timeouts = {"body_timeout": 1.0, "header_timeout": 1.0, "keep_alive": 1.0}
    with Cluster(CHAOS, title, port, workers=2, **timeouts) as cluster:
        workers = {p.pid for p in cluster.processes()["app"]}
        outcomes = [_send(port, payload) for payload in MALFORMED * 2]
        assert request(port, "/").text == "ok"
        assert {p.pid for p in cluster.processes()["app"]} == workers
        out, _ = cluster.output()
    summary = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(f"figures: 40 malformed requests: {summary}, 0 worker deaths")
    assert " died (" not in out
    assert not [o for o in outcomes if o.startswith("5") or o == "timeout"], summary
    assert sum(o.startswith("4") for o in outcomes) >= 20, summary


@pytest.mark.parametrize("count", [400] if LONG else [60])
def test_slowloris_connections_are_closed_and_others_served(title, port, count) -> None:
    header_timeout = 1.0
    with Cluster(CHAOS, title, port, workers=2, header_timeout=header_timeout) as cluster:
        workers = {p.pid for p in cluster.processes()["app"]}
        slow = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
            slow.append(sock)
        opened = time.monotonic()
        served = 0
        while time.monotonic() - opened < header_timeout + 1.5:
            for sock in slow:  # one more header byte each, never the end of the headers
                with contextlib.suppress(OSError):
                    sock.send(b"X")
            assert request(port, "/", timeout=2).text == "ok"
            served += 1
            time.sleep(0.25)
        closed = 0
        for sock in slow:
            sock.settimeout(3)
            try:
                closed += sock.recv(4096) is not None
            except OSError:
                closed += 1
            sock.close()
        assert {p.pid for p in cluster.processes()["app"]} == workers
    print(f"figures: {count} slowloris connections, header timeout {header_timeout:.0f}s: "
          f"{closed} closed by the server, {served} other requests served meanwhile, "
          f"0 worker deaths")  # fmt: skip
    assert closed == count
    assert served >= 6
