"""A WSGI cluster whose threads are all busy says so (issue 17): /readyz answers 503 and
`status` marks it saturated while every `--threads` thread of every app worker serves a
slow request, and both recover as soon as one is free (docs/DEPLOY.md)."""

from __future__ import annotations

import asyncio
import faulthandler
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runtime.apptarget.wsgi import WSGIApp
from runtime.master.metrics import ClusterSnapshot, WorkerSample, render
from runtime.worker.heartbeat import REPORT_DELAY, beat
from tests.asgi_helpers import ASGI_FIXTURE, Daemon
from tests.cli_helpers import copy_app, run_cli, status_json
from tests.helpers import free_port, request, wait_until

SLOW = 4.0  # seconds each slow request sleeps in a WSGI thread


def test_a_saturated_wsgi_worker_is_not_ready(tmp_path: Path, title: str, port: int) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "home").mkdir()
    daemon = Daemon(
        copy_app(ASGI_FIXTURE, tmp_path), title, port, tmp_path / "records", tmp_path / "home"
    )
    health = free_port()

    def readyz() -> tuple[int, str]:
        got = request(health, "/readyz")
        return got.status, got.text.strip()

    result = daemon.start("--workers=1", "--threads=2", f"--health-port={health}", "flask_app:app")
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        assert readyz() == (200, "ok")
        assert status_json(title, daemon.env)["saturated"] is False
        with ThreadPoolExecutor(3) as pool:
            slow = [pool.submit(request, port, f"/sleep/{SLOW}", timeout=30) for _ in range(2)]
            # Both threads taken: the worker tells the master at once, not at its next beat.
            wait_until(lambda: readyz()[0] == 503, timeout=2)
            assert readyz() == (503, "saturated: every thread of every app worker is busy")
            cluster = status_json(title, daemon.env)
            assert cluster["saturated"] is True
            assert [p["saturated"] for p in cluster["processes"] if p["role"] == "app"] == [True]
            table = run_cli("status", f"--title={title}", env=daemon.env).stdout
            assert "SATURATED" in table and "serving (saturated)" in table
            # What a load balancer that kept sending would get: a wait for a free thread.
            started = time.monotonic()
            assert request(port, "/", timeout=30).status == 200
            assert time.monotonic() - started > 1.0
            assert all(f.result().status == 200 for f in slow)
        wait_until(lambda: readyz() == (200, "ok"), timeout=2)
        assert status_json(title, daemon.env)["saturated"] is False
    finally:
        daemon.stop()


# -- the decisions, without processes ------------------------------------------------------


def test_readiness_needs_one_app_worker_with_a_free_thread() -> None:
    def snap(*saturated: bool | None) -> ClusterSnapshot:
        workers = tuple(
            WorkerSample(id=i, pid=100 + i, saturated=s) for i, s in enumerate(saturated)
        )
        agent = WorkerSample(id=0, role="agent", pid=99, in_flight=None, saturated=None)
        return ClusterSnapshot(title="t", state="ready", uptime=1.0, workers=(agent, *workers))

    assert snap(True, True).readiness() == (
        False,
        "saturated: every thread of every app worker is busy",
    )
    assert snap(True, False).readiness() == (True, "ready")
    assert snap(None, None).readiness() == (True, "ready")  # ASGI: no thread pool
    body, _ = render(lambda: snap(True, False))
    assert b'eggscripts_worker_saturated{role="app",worker="0"} 1.0' in body
    assert b"eggscripts_cluster_ready 0.0" in render(lambda: snap(True))[0]


def test_the_pool_counts_requests_and_reports_each_flip_once() -> None:
    flips: list[bool] = []
    app = WSGIApp(lambda environ, start_response: [], threads=2)
    app.on_saturation = lambda: flips.append(app.saturated)
    try:
        for delta in (1, 1, 1, -1, -1, -1):  # up to one queued request and back
            app._count(delta)
            if app.busy == 3:
                assert app.occupancy() == {
                    "threads": 2, "threads_busy": 2, "queued": 1, "saturated": True
                }  # fmt: skip
        assert flips == [True, False]
    finally:
        app.executor.shutdown(wait=False)


def test_a_burst_of_changes_is_one_heartbeat_with_the_latest_state() -> None:
    sent: list[tuple] = []
    state = {"saturated": False}
    loop = asyncio.new_event_loop()
    try:
        report_soon = beat(loop, lambda *a: sent.append(a), 60_000, lambda: dict(state))
        state["saturated"] = True
        report_soon()
        state["saturated"] = False
        report_soon()
        state["saturated"] = True
        report_soon()
        loop.run_until_complete(asyncio.sleep(REPORT_DELAY * 3))
    finally:
        faulthandler.cancel_dump_traceback_later()
        loop.close()
    assert sent == [("heartbeat", {"saturated": False}), ("heartbeat", {"saturated": True})]
