"""Watchdogs after ready: the worker heartbeat (`worker_timeout`) catches a blocked event
loop but not a slow boot; the production health check ends a cluster left without workers."""

from __future__ import annotations

import http.client
import signal
import threading
import time

from tests.cli_helpers import copy_app
from tests.clusters import Cluster
from tests.helpers import FIXTURES, request, try_request, wait_until

RUNTIME_FIXTURES = FIXTURES / "runtime"


def _get_in_background(port: int, path: str) -> threading.Thread:
    def get() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass  # the blocked worker dies with this request: expected
        finally:
            conn.close()

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    return thread


def test_blocked_worker_is_killed_replaced_and_its_stack_dumped(title: str, port: int) -> None:
    with Cluster(RUNTIME_FIXTURES / "fault", title, port, workers=1, worker_timeout=1000) as c:
        blocked = request(port, "/pid").text
        started = time.monotonic()
        client = _get_in_background(port, "/block")  # time.sleep(10) on the loop

        def replaced() -> str | None:
            resp = try_request(port, "/pid", timeout=0.5)
            return resp.text if resp is not None and resp.text != blocked else None

        new_pid = wait_until(replaced, timeout=8, interval=0.05)
        elapsed = time.monotonic() - started
        assert 0.7 <= elapsed < 6, elapsed  # the last beat came up to 0.5 s before
        client.join(timeout=5)
        assert c.processes()["app"][0].pid == int(new_pid)
        out, err = c.output()
    assert f"app_worker#1:{blocked} sent no heartbeat for " in out
    assert f"app_worker#1:{blocked} died (killed by SIGKILL (by the master))" in out
    # faulthandler's dump names the line that blocked, without any help from the app.
    assert "Timeout (0:00:01)!" in err
    assert 'fault/app/router.py", line 22 in block' in err


def test_beating_workers_live_and_a_long_synchronous_boot_is_not_a_hang(
    title: str, port: int
) -> None:
    """The boot sleeps 1.2 s with a 0.8 s timeout, first start and refork alike: boot is
    the startup timeout's business. Once up, idle workers keep beating."""
    slow = RUNTIME_FIXTURES / "slow_boot"
    with Cluster(slow, title, port, workers=1, worker_timeout=800) as c:
        first = c.processes()["app"][0]
        time.sleep(2.0)  # 2.5 timeouts of idling
        assert [p.pid for p in c.processes()["app"]] == [first.pid]
        first.send_signal(signal.SIGKILL)
        wait_until(lambda: [p for p in c.processes()["app"] if p.pid != first.pid], timeout=5)
        second = [p.pid for p in c.processes()["app"] if p.pid != first.pid]
        wait_until(lambda: f":{second[0]} started" in c.output()[0], timeout=10)
        time.sleep(1.0)
        assert [p.pid for p in c.processes()["app"]] == second
        assert request(port, "/").status == 404  # an app without routes, serving
        out, err = c.output()
    assert "sent no heartbeat" not in out
    assert "Timeout" not in err


def test_worker_timeout_zero_turns_the_watch_off(title: str, port: int) -> None:
    with Cluster(
        RUNTIME_FIXTURES / "fault", title, port, workers=1, worker_timeout=0, kill_app_timeout=500
    ) as c:
        blocked = request(port, "/pid").text
        _get_in_background(port, "/block")
        time.sleep(1.5)
        assert [str(p.pid) for p in c.processes()["app"]] == [blocked]
        out, err = c.output()
    assert "sent no heartbeat" not in out
    assert "Timeout" not in err


def test_production_cluster_without_workers_exits_1_for_its_supervisor(
    tmp_path, title: str, port: int
) -> None:
    """egg's health check: every replacement fails at boot (retried with backoff forever
    otherwise); after 3 checks without a worker the master exits 1."""
    app = copy_app(RUNTIME_FIXTURES / "boot_fails_later", tmp_path)
    cluster = Cluster(app, title, port, workers=1, health_interval=300).start()
    try:
        (app / "broken").write_text("")
        cluster.processes()["app"][0].send_signal(signal.SIGKILL)
        code, out, _ = cluster.wait(timeout=10)
    finally:
        cluster.stop()
    assert code == 1
    assert "0 app worker(s) alive for 3 checks in a row: exiting so that a supervisor" in out
    assert cluster.processes() == {"master": [], "agent": [], "app": []}


def test_health_check_is_off_in_local(tmp_path, title: str, port: int) -> None:
    """No agent for 1.5 s (its restart delay) is five failed checks, which only a
    production cluster acts on."""
    app = copy_app(RUNTIME_FIXTURES / "boot_fails_later", tmp_path)
    options = {"health_interval": 200, "agent_restart_delay": 1500}
    with Cluster(app, title, port, workers=1, env="local", **options) as cluster:
        agent = cluster.processes()["agent"][0]
        agent.send_signal(signal.SIGKILL)
        wait_until(lambda: [p for p in cluster.processes()["agent"] if p.pid != agent.pid], 5)
        assert cluster.proc is not None and cluster.proc.poll() is None
        assert request(port, "/").status == 404  # an app without routes, serving


def test_a_restarted_agent_that_hangs_is_killed_and_restarted(
    tmp_path, title: str, port: int
) -> None:
    """The startup timeout bounds every agent start, not only the first (egg: none)."""
    app = copy_app(RUNTIME_FIXTURES / "agent_hangs_later", tmp_path)
    options = {"startup_timeout": 1000, "agent_restart_delay": 100, "kill_agent_timeout": 500}
    with Cluster(app, title, port, workers=1, **options) as cluster:
        (app / "hang").write_text("")
        first = cluster.processes()["agent"][0]
        first.send_signal(signal.SIGKILL)
        hung = wait_until(lambda: [p for p in cluster.processes()["agent"] if p != first], 5)[0]
        wait_until(lambda: f"agent_worker#1:{hung.pid} did not start within 1000 ms; killing it"
                   in cluster.output()[0], timeout=5)  # fmt: skip
        wait_until(lambda: [p for p in cluster.processes()["agent"] if p not in (first, hung)], 5)
        assert request(port, "/").status == 404  # the app workers kept serving
