"""A WSGI cluster whose threads are all busy says so (issue 17): /readyz answers 503 and:
the cases with real processes (the others are in
tests/unit/runtime/apptarget/test_wsgi_saturation.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
