"""The master's health/metrics server, standalone: a fake snapshot, a real socket, and a
stand-in for the master loop (one outer selector, as the master registers it)."""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.master.production.health import HealthServer
from runtime.master.production.metrics import ClusterSnapshot, WorkerSample
from runtime.process.errors import StartupError


class FakeCluster:
    def __init__(self) -> None:
        self.state = "ready"
        self.requests = {1: 0, 2: 0}
        self.agent_up = True

    def snapshot(self) -> ClusterSnapshot:
        workers = [
            WorkerSample(id=i, pid=1000 + i, requests=n, in_flight=i - 1,
                         restarts={"crash": 1} if i == 2 else {}, rss_bytes=50_000_000,
                         heartbeat_age=0.5)
            for i, n in self.requests.items()
        ]  # fmt: skip
        workers.append(WorkerSample(id=1, role="agent", pid=999, rss_bytes=40_000_000))
        return ClusterSnapshot(
            title="t", state=self.state, uptime=12.5, workers=tuple(workers), reloads=3,
            agent_up=self.agent_up, draining=self.state == "draining",
        )  # fmt: skip


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, FakeCluster]]:
    """The server driven by a selector loop, the way the master loop drives it."""
    cluster = FakeCluster()
    server = HealthServer("127.0.0.1", 0, cluster.snapshot)
    outer = selectors.DefaultSelector()
    for fileobj, events in server.registrations():
        outer.register(fileobj, events, server.on_event)
    stop = threading.Event()

    def master_loop() -> None:
        while not stop.is_set():
            for key, mask in outer.select(0.05):
                key.data(mask)

    thread = threading.Thread(target=master_loop, daemon=True)
    thread.start()
    try:
        yield server, cluster
    finally:
        stop.set()
        thread.join()
        outer.close()
        server.close()


def get(server: HealthServer, path: str, method: str = "GET") -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection(*server.address, timeout=5)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), dict(resp.getheaders())
    finally:
        conn.close()


def test_livez_and_readyz(served: tuple[HealthServer, FakeCluster]) -> None:
    server, cluster = served
    assert get(server, "/livez")[:2] == (200, "ok\n")
    assert get(server, "/readyz?verbose")[:2] == (200, "ok\n")
    cluster.state = "draining"
    assert get(server, "/readyz")[:2] == (503, "draining\n")
    assert get(server, "/livez")[0] == 200
    cluster.state, cluster.agent_up = "ready", False
    assert get(server, "/readyz")[:2] == (503, "agent down\n")
    cluster.agent_up, cluster.state = True, "starting"
    assert get(server, "/readyz")[0] == 503


def test_metrics_parse_with_the_prometheus_parser(served: tuple[HealthServer, FakeCluster]) -> None:
    server, cluster = served
    cluster.requests = {1: 17, 2: 25}
    status, body, headers = get(server, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert samples[("eggscripts_worker_requests_total", (("role", "app"), ("worker", "1")))] == 17
    assert samples[("eggscripts_worker_requests_total", (("role", "app"), ("worker", "2")))] == 25
    assert samples[("eggscripts_worker_in_flight_requests", (("role", "app"), ("worker", "2")))]
    key = (("cause", "crash"), ("role", "app"), ("worker", "2"))
    assert samples[("eggscripts_worker_restarts_total", key)] == 1
    agent = (("role", "agent"), ("worker", "1"))
    assert samples[("eggscripts_worker_resident_memory_bytes", agent)] == 40_000_000
    assert samples[("eggscripts_worker_heartbeat_age_seconds", (("role", "app"), ("worker", "1")))]
    assert samples[("eggscripts_cluster_reloads_total", ())] == 3
    assert samples[("eggscripts_cluster_uptime_seconds", ())] == 12.5
    assert samples[("eggscripts_cluster_workers", ())] == 2
    assert samples[("eggscripts_cluster_ready", ())] == 1
    assert samples[("eggscripts_cluster_state", (("state", "ready"),))] == 1
    assert samples[("eggscripts_cluster_state", (("state", "draining"),))] == 0


def test_keep_alive_pipelining_head_and_errors(served: tuple[HealthServer, FakeCluster]) -> None:
    server, _ = served
    conn = http.client.HTTPConnection(*server.address, timeout=5)
    for _ in range(3):  # one connection, several requests
        conn.request("GET", "/livez")
        assert conn.getresponse().read() == b"ok\n"
    conn.request("HEAD", "/readyz")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b""
    conn.close()
    assert get(server, "/nope")[0] == 404
    status, _, headers = get(server, "/livez", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    with socket.create_connection(server.address, timeout=5) as raw:
        one = b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
        raw.sendall(one + one.replace(b"livez", b"readyz"))
        data = _read_until(raw, b"ok\n", 2)
        assert data.count(b"HTTP/1.1 200") == 2
    with socket.create_connection(server.address, timeout=5) as raw:
        raw.sendall(b"garbage\r\n\r\n")
        assert _read_until(raw, b"", 1).startswith(b"HTTP/1.1 400")


def _read_until(sock: socket.socket, marker: bytes, count: int) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        if marker and data.count(marker) >= count:
            return data


def test_a_failing_snapshot_is_a_500_not_a_dead_master(
    served: tuple[HealthServer, FakeCluster],
) -> None:
    server, _ = served

    def broken() -> ClusterSnapshot:
        raise RuntimeError("bug")

    server.snapshot = broken
    assert get(server, "/metrics")[0] == 500
    assert get(server, "/livez")[0] == 200


def test_connections_are_bounded_and_idle_ones_closed() -> None:
    now = [0.0]
    server = HealthServer("127.0.0.1", 0, FakeCluster().snapshot, clock=lambda: now[0])
    try:
        clients = [socket.create_connection(server.address) for _ in range(40)]
        deadline = time.monotonic() + 5
        while len(server.connections) < 32 and time.monotonic() < deadline:
            server.on_event()
        time.sleep(0.1)
        server.on_event()
        assert len(server.connections) <= 32
        now[0] = 100.0
        server.sweep()
        assert server.connections == {}
        for c in clients:
            c.close()
    finally:
        server.close()


def test_port_in_use_is_one_startup_error() -> None:
    first = HealthServer("127.0.0.1", 0, FakeCluster().snapshot)
    try:
        with pytest.raises(StartupError, match=r"--health-port: cannot listen on 127\.0\.0\.1:"):
            HealthServer("127.0.0.1", first.address[1], FakeCluster().snapshot)
    finally:
        first.close()


def test_worker_stats_and_rss_sources() -> None:
    """The numbers /metrics shows come from uvicorn's own counters (via the heartbeat) and
    /proc (RSS), so nothing is counted per request."""
    import os

    from uvicorn.config import Config
    from uvicorn.server import Server

    from runtime.process.rss import rss_bytes
    from runtime.worker.stats import sample

    server = Server(Config(app=lambda scope, receive, send: None))
    first = sample(server)
    assert first.pop("rss") > 1_000_000  # the heartbeat's RSS, for --max-worker-memory
    assert first == {"requests": 0, "in_flight": 0, "connections": 0}
    server.server_state.total_requests = 7
    assert sample(server)["requests"] == 7
    assert sample(object())["requests"] == 0
    own = rss_bytes(os.getpid())
    assert own is not None and own > 1_000_000
    assert rss_bytes(2**22 + 12345) is None


def test_heartbeats_carry_the_worker_stats() -> None:
    """What /metrics shows per worker travels in the heartbeat the master already gets."""
    import asyncio
    import faulthandler

    from runtime.worker.heartbeat import beat

    sent: list[tuple] = []
    loop = asyncio.new_event_loop()
    try:
        beat(loop, lambda *a: sent.append(a), 60_000, lambda: {"requests": 3, "in_flight": 1})
    finally:
        faulthandler.cancel_dump_traceback_later()
        loop.close()
    assert sent == [("heartbeat", {"requests": 3, "in_flight": 1})]


def test_status_lines_carry_reason_phrases(served: tuple[HealthServer, FakeCluster]) -> None:
    server, cluster = served
    for path, line in (
        ("/livez", b"HTTP/1.1 200 OK\r\n"),
        ("/nope", b"HTTP/1.1 404 Not Found\r\n"),
    ):
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert sock.recv(65536).startswith(line)
    cluster.state = "draining"
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
