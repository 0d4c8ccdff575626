"""The everyday faults, under bounded loopback load (issue 9's reliability suite).

Each case drives a real 2-worker cluster with a few client threads (tests/reliability/
load.py: a fresh connection per request, so a refused connection is counted), injects one
fault, and asserts figures: requests that failed, workers that died, processes left.
"""

from __future__ import annotations

import concurrent.futures
import signal
import time

import pytest

from tests.clusters import Cluster
from tests.helpers import FIXTURES, request, wait_until
from tests.reliability.load import Load

CHAOS = FIXTURES / "runtime" / "chaos"


def _pids(cluster: Cluster, role: str) -> set[int]:
    return {p.pid for p in cluster.processes()[role]}


@pytest.mark.long  # fast, unloaded: tests/process/runtime/test_runtime_cluster.py (sigterm drains)
def test_graceful_stop_completes_every_in_flight_slow_request(title, port) -> None:
    with Cluster(CHAOS, title, port, workers=2) as cluster, Load(port, "/", 2) as load:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            slow = [pool.submit(request, port, "/slow?s=2", timeout=15) for _ in range(8)]
            time.sleep(0.7)  # all eight are in flight
            stopping = time.monotonic()
            cluster.signal(signal.SIGTERM)
            bodies = [f.result().text for f in slow]
        code, out, _ = cluster.wait(timeout=15)
        stopped_in = time.monotonic() - stopping
    print(f"figures: graceful stop with 8 slow (2 s) requests in flight: "
          f"{bodies.count('slow done')}/8 completed, exit {code} after {stopped_in:.1f}s; "
          f"background load {load.result.ok} ok")  # fmt: skip
    assert bodies == ["slow done"] * 8
    assert code == 0
    assert "did not stop in time" not in out
    assert stopped_in < 8


def test_worker_sigkill_fails_only_its_in_flight_requests(title, port) -> None:
    with Cluster(CHAOS, title, port, workers=2) as cluster:
        with Load(port, "/pid", clients=4) as load:
            time.sleep(0.5)
            victim = cluster.processes()["app"][0]
            victim.send_signal(signal.SIGKILL)
            wait_until(lambda: len(_pids(cluster, "app") - {victim.pid}) == 2, timeout=8)
            time.sleep(0.5)
        result = load.result
    print(f"figures: worker SIGKILL under load (4 clients): {result.ok} ok, {result.failed} "
          f"failed {result.errors}")  # fmt: skip
    assert result.failed <= 4, result.errors  # at most one in-flight request per client
    assert "ConnectionRefusedError" not in result.errors  # new connections never fail
    assert result.ok > 100


@pytest.mark.long  # fast, unloaded: tests/process/runtime/test_runtime_cluster.py (agent sigkill)
def test_agent_sigkill_fails_no_request(title, port) -> None:
    with Cluster(CHAOS, title, port, workers=2) as cluster:
        agent = cluster.processes()["agent"][0]
        workers = _pids(cluster, "app")
        with Load(port, "/", clients=4) as load:
            time.sleep(0.3)
            agent.send_signal(signal.SIGKILL)
            wait_until(lambda: _pids(cluster, "agent") - {agent.pid}, timeout=8)
            time.sleep(0.3)
        assert _pids(cluster, "app") == workers
        result = load.result
    print(f"figures: agent SIGKILL under load (4 clients): {result.ok} ok, {result.failed} "
          f"failed; agent restarted, app workers untouched")  # fmt: skip
    assert result.failed == 0, result.errors
    assert result.ok > 100


def test_master_sigkill_leaves_no_orphan_after_2s(title, port) -> None:
    with Cluster(CHAOS, title, port, workers=2) as cluster:
        children = [p for role in ("agent", "app") for p in cluster.processes()[role]]
        with Load(port, "/", clients=2) as load:
            time.sleep(0.5)
            cluster.signal(signal.SIGKILL)
            killed = time.monotonic()
            wait_until(lambda: not any(p.is_running() and p.status() != "zombie"
                                       for p in children), timeout=2.0)  # fmt: skip
            gone_in = time.monotonic() - killed
        cluster.wait()
    print(f"figures: master SIGKILL under load: {len(children)} children gone in "
          f"{gone_in:.2f}s, 0 orphans; load {load.result.ok} ok before")  # fmt: skip
    assert not any(cluster.processes().values())


@pytest.mark.long
def test_repeated_worker_kills_under_load(title, port) -> None:
    """20 s of load, a worker SIGKILLed every 2 s: each is replaced, and only requests in
    flight on a victim may fail; a new connection is never refused."""
    kills = 0
    with Cluster(CHAOS, title, port, workers=2) as cluster, Load(port, "/pid", 4) as load:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(2)
            workers = cluster.processes()["app"]
            assert len(workers) == 2, f"after {kills} kills: {workers}"
            workers[0].send_signal(signal.SIGKILL)
            kills += 1
        wait_until(lambda: len(cluster.processes()["app"]) == 2, timeout=8)
    result = load.result
    print(f"figures: {kills} worker kills in 20 s under load: {result.ok} ok, {result.failed} "
          f"failed {result.errors}")  # fmt: skip
    assert result.failed <= kills * 4, result.errors
    assert "ConnectionRefusedError" not in result.errors
