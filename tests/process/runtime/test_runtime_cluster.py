"""The process model with real processes, sockets and signals."""

from __future__ import annotations

import http.client
import signal
import socket
import threading
import time

import psutil
import pytest

from eggscripts.finding import procs as eggprocs
from tests.clusters import Cluster
from tests.helpers import (
    FIXTURES,
    ROOT,
    SHOWCASE,
    cluster_processes,
    request,
    try_request,
    wait_until,
)

RUNTIME_FIXTURES = FIXTURES / "runtime"


def gone(procs: list[psutil.Process]) -> bool:
    # is_gone tolerates a process vanishing between its checks (CI hit that race).
    return all(eggprocs.is_gone(p) for p in procs)


def all_pids(cluster: Cluster) -> list[psutil.Process]:
    procs = cluster.processes()
    return procs["master"] + procs["agent"] + procs["app"]


def test_two_workers_serve_with_spec_titles(title: str, port: int) -> None:
    with Cluster(SHOWCASE, title, port, workers=2) as cluster:
        resp = request(port, "/")
        assert (resp.status, resp.text) == (200, "hello world")
        procs = cluster.processes()
        assert [p.pid for p in procs["master"]] == [cluster.pid]
        assert len(procs["agent"]) == 1
        assert len(procs["app"]) == 2
        base = str(SHOWCASE.resolve())
        assert procs["master"][0].cmdline()[0] == (
            f"eggscripts-master --title={title} --port={port} --base-dir={base}"
        )
        agent_title = f"eggscripts-agent --title={title} --base-dir={base}"
        assert procs["agent"][0].cmdline()[0] == agent_title
        for app in procs["app"]:
            assert app.cmdline()[0] == f"eggscripts-app --title={title} --base-dir={base}"
        workers = {p.pid for p in procs["app"]}
        seen: set[int] = set()
        deadline = time.monotonic() + 5
        while seen != workers and time.monotonic() < deadline:
            seen.add(int(request(port, "/pid").text))
        assert seen == workers


def test_worker_and_agent_sigkill_are_replaced(title: str, port: int) -> None:
    with Cluster(SHOWCASE, title, port, workers=2) as cluster:
        before = cluster.processes()
        victim = before["app"][0]
        survivor = before["app"][1]
        victim.kill()
        killed_at = time.monotonic()

        def replaced() -> list[psutil.Process] | None:
            apps = [p for p in cluster.processes()["app"] if p.pid != victim.pid]
            return apps if len(apps) == 2 else None

        apps = wait_until(replaced, timeout=1.0, interval=0.005)
        assert survivor.pid in {p.pid for p in apps}
        new_pid = next(p.pid for p in apps if p.pid != survivor.pid)

        # The replacement itself serves: hit it until it answers (each request a new
        # connection, so the kernel spreads them over both workers).
        def replacement_serves() -> bool:
            resp = try_request(port, "/pid", timeout=0.5)
            return resp is not None and int(resp.text) == new_pid

        wait_until(replacement_serves, timeout=max(0.1, 1.5 - (time.monotonic() - killed_at)))
        time.sleep(0.3)
        assert len(cluster.processes()["app"]) == 2  # exactly one replacement

        agent = before["agent"][0]
        agent.kill()

        def new_agent() -> bool:
            agents = cluster.processes()["agent"]
            return len(agents) == 1 and agents[0].pid != agent.pid

        wait_until(new_agent, timeout=2.0)
        assert request(port, "/").status == 200
        rc, _, err = cluster.stop()
        assert rc == 0, err


def test_sigterm_drains_in_flight_request(title: str, port: int) -> None:
    cluster = Cluster(SHOWCASE, title, port, workers=2).start()
    procs = all_pids(cluster)
    workers = cluster.processes()["app"]
    result: dict[str, object] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    client_port = conn.sock.getsockname()[1]

    def slow() -> None:
        try:
            conn.request("GET", "/slow?ms=1500")
            resp = conn.getresponse()
            result["status"], result["body"] = resp.status, resp.read()
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()

    def accepted() -> bool:  # a worker holds the connection: the request is in flight
        return any(
            c.raddr and c.raddr.port == client_port and c.status == psutil.CONN_ESTABLISHED
            for w in workers
            for c in w.net_connections(kind="tcp")
        )

    wait_until(accepted, timeout=5)
    time.sleep(0.2)  # ...and read by the worker
    started = time.monotonic()
    cluster.signal(signal.SIGTERM)
    rc, _, err = cluster.wait(timeout=10)
    elapsed = time.monotonic() - started
    thread.join(5)
    conn.close()
    assert result.get("status") == 200, result
    assert rc == 0, err
    assert elapsed < 5
    wait_until(lambda: gone(procs), timeout=1)


def test_master_sigkill_takes_children_down(title: str, port: int) -> None:
    cluster = Cluster(SHOWCASE, title, port, workers=2).start()
    children = cluster.processes()["agent"] + cluster.processes()["app"]
    assert len(children) == 3
    cluster.signal(signal.SIGKILL)
    cluster.wait()
    wait_until(lambda: gone(children), timeout=2.0)


def test_master_sigkill_ends_children_with_blocked_loops(title: str, port: int) -> None:
    """A worker stuck in synchronous app code cannot read its channel's EOF; it must still
    be gone within 2 s of its master's death."""
    cluster = Cluster(RUNTIME_FIXTURES / "fault", title, port, workers=1).start()
    children = cluster.processes()["agent"] + cluster.processes()["app"]
    threading.Thread(target=try_request, args=(port, "/block", 12), daemon=True).start()
    time.sleep(0.3)  # the worker is now blocked in time.sleep(10)
    cluster.signal(signal.SIGKILL)
    cluster.wait()
    wait_until(lambda: gone(children), timeout=2.0)


def test_master_sigkill_during_a_hung_boot(title: str, port: int) -> None:
    cluster = Cluster(RUNTIME_FIXTURES / "hang_boot", title, port, workers=1).start(wait=False)
    wait_until(lambda: cluster.processes()["app"], timeout=10)
    children = cluster.processes()["agent"] + cluster.processes()["app"]
    cluster.signal(signal.SIGKILL)
    cluster.wait()
    wait_until(lambda: gone(children), timeout=2.0)


def test_port_in_use_fails_with_one_line(title: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen(1)
        cluster = Cluster(SHOWCASE, title, port).start(wait=False)
        rc, _, err = cluster.wait(timeout=10)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(port) in lines[0] and "in use" in lines[0]
    assert not any(cluster_processes(title).values())


def test_controller_import_error_fails_start(title: str, port: int) -> None:
    cluster = Cluster(RUNTIME_FIXTURES / "boom_controller", title, port).start(wait=False)
    rc, _, err = cluster.wait(timeout=15)
    assert rc == 4  # app load error
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "app/controller/boom.py" in lines[0] and "boom at import" in lines[0]
    assert not any(cluster_processes(title).values())


def test_agent_boot_error_fails_start(title: str, port: int) -> None:
    cluster = Cluster(RUNTIME_FIXTURES / "agent_boom", title, port).start(wait=False)
    rc, _, err = cluster.wait(timeout=15)
    assert rc == 4  # the agent's Boot raised: app load error
    assert "agent" in err and "agent.py" in err and "agent cannot start" in err
    assert len(err.strip().splitlines()) == 1, err


def test_startup_timeout_stops_everything(title: str, port: int) -> None:
    cluster = Cluster(
        RUNTIME_FIXTURES / "hang_boot", title, port, workers=1, startup_timeout=1500
    ).start(wait=False)
    started = time.monotonic()
    rc, _, err = cluster.wait(timeout=15)
    assert rc == 3  # app workers did not boot in time
    assert "1500 ms" in err
    assert time.monotonic() - started < 8  # 1.5 s + the worker's SIGKILL after 5 s at most


def test_port_from_app_config_when_none_given(title: str, port: int, monkeypatch) -> None:
    monkeypatch.setenv("LISTEN_CONFIG_PORT", str(port))
    cluster = Cluster(RUNTIME_FIXTURES / "listen_config", title, None, workers=1)
    cluster.port = port
    with cluster:
        assert request(port, "/").text == "configured port"
        master = cluster.processes()["master"][0]
        assert f"--port={port}" in master.cmdline()[0].split(" ")


def test_uncaught_fault_replaces_worker_once(title: str, port: int) -> None:
    with Cluster(RUNTIME_FIXTURES / "fault", title, port, workers=1) as cluster:
        first = cluster.processes()["app"][0]
        assert request(port, "/fault").text == "scheduled"

        def replaced() -> bool:
            pids = {p.pid for p in cluster.processes()["app"]}
            return first.pid not in pids and len(pids) == 1

        wait_until(replaced, timeout=7)
        assert request(port, "/").text == "ok"
        time.sleep(0.3)
        assert len(cluster.processes()["app"]) == 1


def test_workers_serve_on_uvloop_with_nodelay(title: str, port: int) -> None:
    """uvicorn only installs uvloop in Server.run(), and asyncio sets TCP_NODELAY
    only on IPPROTO_TCP sockets; both cost most of the throughput when missed."""
    with Cluster(RUNTIME_FIXTURES / "fault", title, port, workers=1):
        assert request(port, "/loop").json()["loop"].startswith("uvloop")
        with socket.create_connection(("127.0.0.1", port)) as sock:

            def round_trip() -> float:
                started = time.monotonic()
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"ok"):  # headers and body may come apart
                    data += sock.recv(4096)
                return time.monotonic() - started

            round_trip()
            # Nagle + delayed ACK would hold each body back ~40 ms after its headers.
            assert min(round_trip() for _ in range(5)) < 0.02


def test_local_env_does_not_refork(title: str, port: int) -> None:
    cluster = Cluster(SHOWCASE, title, port, workers=1, env="local").start()
    cluster.processes()["app"][0].kill()
    rc, _, _ = cluster.wait(timeout=10)
    assert rc == 1  # no worker left and none reforked: the master says so and exits


@pytest.mark.parametrize("bad", ['{"title": "x"}', "not json", '{"base_dir": "/", "title": "a b"}'])
def test_bad_options_exit_2(bad: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "runtime.start_cluster", bad],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("[eggscripts] ")
