"""A WSGI cluster whose threads are all busy says so (issue 17): /readyz answers 503 and
`status` marks it saturated while every `--threads` thread of every app worker serves a
slow request, and both recover as soon as one is free (docs/DEPLOY.md)."""

from __future__ import annotations

import asyncio
import faulthandler

from runtime.apptarget.wsgi import WSGIApp
from runtime.master.production.exposition import render
from runtime.master.production.metrics import ClusterSnapshot, WorkerSample
from runtime.worker.heartbeat import REPORT_DELAY, beat

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
