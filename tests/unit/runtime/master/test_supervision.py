"""The master's reports to its supervisor, event by event: what systemd receives on a real
`$NOTIFY_SOCKET` and what the probes answer on a real health port."""

from __future__ import annotations

import selectors
import socket
from pathlib import Path

from runtime.master.production.metrics import WorkerSample
from runtime.master.production.notify import Notifier
from runtime.master.production.supervision import PROGRESS_WINDOW, Supervision


def drain(sock: socket.socket) -> list[dict[str, str]]:
    out = []
    while True:
        try:
            data = sock.recv(4096).decode()
        except BlockingIOError:
            return out
        out.append(dict(line.split("=", 1) for line in data.split("\n")))


def probe(sup: Supervision, path: str) -> int:
    """One request, with the health server driven like the master loop drives it."""
    assert sup.health is not None
    outer = selectors.DefaultSelector()
    for obj, events, data in sup.registrations():
        outer.register(obj, events, data)
    conn = socket.create_connection(sup.health.address, timeout=5)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    conn.setblocking(False)
    data = b""
    for _ in range(200):
        for key, mask in outer.select(0.05):
            key.data.on_event(mask)  # what Master.run_once does
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            continue
        if not chunk:
            break
        data += chunk
    conn.close()
    outer.close()
    return int(data.split(b" ", 2)[1])


def test_events_become_notifications_and_probe_answers(tmp_path: Path) -> None:
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify"))
    systemd.setblocking(False)
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "4000000"}
    sup = Supervision("shop", shutdown_delay_ms=2000, notifier=Notifier.from_environ(env))
    workers = [WorkerSample(id=1, pid=11), WorkerSample(id=2, pid=12)]
    sup.serve_health("127.0.0.1", 0, lambda: workers)
    try:
        assert sup.watchdog_interval == 2.0
        assert probe(sup, "/livez") == 200 and probe(sup, "/readyz") == 503  # starting
        sup.agent_started()
        sup.worker_started(1, 2)
        sup.worker_started(2, 2)
        sup.ready(2, "http://127.0.0.1:7001")
        assert probe(sup, "/readyz") == 200
        sup.reload_started()
        sup.worker_started(1, 2)
        sup.reload_finished(2, "http://127.0.0.1:7001")
        sup.watchdog()
        assert sup.stop_requested() == 2.0
        assert probe(sup, "/readyz") == 503 and probe(sup, "/livez") == 200
        sup.closing()
        got = drain(systemd)
    finally:
        sup.close()
        systemd.close()
    usec = str(int(PROGRESS_WINDOW * 1_000_000))
    assert got[0] == {"EXTEND_TIMEOUT_USEC": usec, "STATUS": "agent started"}
    assert got[1] == {"EXTEND_TIMEOUT_USEC": usec, "STATUS": "1/2 workers ready"}
    assert got[2] == {"EXTEND_TIMEOUT_USEC": usec, "STATUS": "2/2 workers ready"}
    assert got[3] == {"READY": "1", "STATUS": "2 workers serving on http://127.0.0.1:7001"}
    assert got[4]["RELOADING"] == "1" and int(got[4]["MONOTONIC_USEC"]) > 0
    assert got[5] == {"STATUS": "reloading: 1/2 workers on the new code"}
    assert got[6]["READY"] == "1"
    assert got[7] == {"WATCHDOG": "1"}
    assert got[8] == {"STOPPING": "1", "STATUS": "draining in 2s (shutdown delay)"}
    assert got[9] == {"STATUS": "stopping workers"}
    assert len(got) == 10
    assert sup.snapshot(workers).reloads == 1


def test_without_systemd_or_health_port_nothing_is_registered() -> None:
    sup = Supervision("shop", notifier=Notifier.from_environ({}))
    assert sup.registrations() == [] and sup.fds() == [] and sup.watchdog_interval is None
    sup.ready(1, "http://x")
    assert sup.stop_requested() == 0.0
    sup.close()
