"""A FastAPI app served with `eggscripts start --daemon --workers=2 pkg.main:app`:
routes, validation, lifespan and its state, streaming, WebSockets, the messenger and an
agent.py beside the app module, the HTTP limits and timeouts, the access log.

One daemon serves the whole module (started through the CLI, short form `module:attr`);
the last test stops it and checks the lifespan shutdown ran once per worker.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.asgi_helpers import (
    ASGI_FIXTURE,
    Daemon,
    best_first_chunk,
    raw,
    shared_daemon,
    ws_echo,
    ws_many,
    ws_status,
)
from tests.helpers import cluster_processes, request, wait_until

LIMITS = (
    "--access-log", "--keep-alive=1", "--header-timeout=1", "--body-timeout=1",
    "--max-header-size=8192", "--max-headers=50", "--max-body=100000",
    "--root-path=/api", "--proxy-headers",
)  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with shared_daemon(tmp_path_factory, ASGI_FIXTURE, "fastapi", *LIMITS, "pkg.main:app") as d:
        yield d


def test_routes_and_pydantic_validation(api: Daemon) -> None:
    assert request(api.port, "/").json()["hello"] == "world"
    good = request(api.port, "/items", "POST", {"name": "pen", "price": 1.5})
    assert (good.status, good.json()) == (200, {"name": "pen", "price": 1.5})
    bad = request(api.port, "/items", "POST", {"name": "pen"})
    assert bad.status == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "price"]


def test_root_path_and_proxy_headers(api: Daemon) -> None:
    got = request(api.port, "/whoami", headers={"X-Forwarded-For": "203.0.113.7"}).json()
    assert got == {"client": "203.0.113.7", "root_path": "/api"}  # 127.0.0.1 is trusted


def test_lifespan_ran_once_per_worker_and_its_state_reaches_requests(api: Daemon) -> None:
    workers = api.workers()
    assert len(workers) == 2
    assert api.events("startup") == {pid: 1 for pid in workers}
    for _ in range(10):
        got = request(api.port, "/state").json()
        assert got["booted_by"] == got["pid"]  # each worker's own lifespan state


def test_streaming_is_not_buffered(api: Daemon) -> None:
    first, total = best_first_chunk(api.port, "/stream")
    assert total >= 0.9  # the route sleeps 1 s between its chunks
    assert first < 0.1, f"first byte after {first:.3f}s"


def test_websocket_echo(api: Daemon) -> None:
    assert ws_echo(f"ws://127.0.0.1:{api.port}/ws", ["a", "b"]) == ["echo:a", "echo:b"]


def test_100_concurrent_websocket_clients(api: Daemon) -> None:
    got = ws_many(f"ws://127.0.0.1:{api.port}/ws", clients=100)
    assert got == [[f"echo:c{c}m{m}" for m in range(3)] for c in range(100)]


def test_unhandled_upgrade_is_refused_not_404(api: Daemon) -> None:
    assert ws_status(f"ws://127.0.0.1:{api.port}/nowhere") == 403


def test_messenger_broadcast_reaches_workers_and_the_agent_beside_the_app(api: Daemon) -> None:
    agent = cluster_processes(api.title)["agent"][0].pid
    assert [pid for pid, _ in api.data("agent-boot")] == [agent]  # pkg/agent.py, in the agent
    value = uuid.uuid4().hex
    request(api.port, f"/broadcast?value={value}")
    want = {*api.workers(), agent}
    wait_until(lambda: {pid for pid, data in api.data("news") if data == value} == want)


def test_header_caps_answer_431(api: Daemon) -> None:
    big, _ = raw(api.port, b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431 ")
    many = b"".join(b"X-%d: v\r\n" % i for i in range(60))
    out, _ = raw(api.port, b"GET / HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 ")
    url, _ = raw(api.port, b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert url.startswith(b"HTTP/1.1 414 ")


def test_body_cap_answers_413(api: Daemon) -> None:
    out, _ = raw(api.port, b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ")


def test_read_timeouts_close_slow_and_idle_connections(api: Daemon) -> None:
    slow = [
        b"",  # never sends: closed after --keep-alive
        b"GET / HTTP/1.1\r\nHost: t\r\n",  # headers never end: --header-timeout
        b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n{",  # --body-timeout
    ]
    with ThreadPoolExecutor(len(slow)) as pool:
        (idle, t1), (head, t2), (body, t3) = pool.map(lambda data: raw(api.port, data), slow)
    assert idle == b"" and 0.8 < t1 < 5
    assert head.startswith(b"HTTP/1.1 408 ") and 0.8 < t2 < 5
    assert body.startswith(b"HTTP/1.1 408 ") and 0.8 < t3 < 5
    assert request(api.port, "/").status == 200  # and the workers serve on


def test_access_log_in_the_web_log(api: Daemon) -> None:
    request(api.port, "/?q=1")
    log = api.log("asgi-web.log")
    # The public URL: --root-path=/api is what the proxy in front stripped.
    line = re.compile(r'127\.0\.0\.1 - - \[[^]]+\] "GET /api/\?q=1 HTTP/1\.1" 200 \d+ \d+\.\d{4}')
    wait_until(lambda: line.search(log.read_text()), timeout=5)


def test_zz_graceful_stop_runs_lifespan_shutdown_once_per_worker(api: Daemon) -> None:
    workers = api.workers()
    result = api.stop()
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while api.events("shutdown") != {pid: 1 for pid in workers} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.events("shutdown") == {pid: 1 for pid in workers}
