"""Worker recycling with real processes (`--max-requests`, `--max-worker-memory`): under
bounded loopback load, daemon clusters replace their workers without failing a request,
and `status` (sampled all along) never shows fewer than N serving workers.
tests/unit/runtime/master/test_recycle.py covers the decisions on the fake spawner."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from eggscripts.client import control_client
from runtime.contract.control import ControlAction
from tests.cli_helpers import status_json
from tests.helpers import free_port, request, wait_until
from tests.load import Load, keepalive

# An ASGI app (`--app grow:app`): GET /grow keeps 60 MiB more, written so it is resident.
GROW_APP = """
HOLD = []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["path"] == "/grow":
        HOLD.append(b"x" * (60 * 1024 * 1024))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""


class Sampler:
    """`status` from the master's control socket every 0.1 s, in a thread: the fewest app
    workers seen serving, and every (pid, cause) of a restart seen."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.fewest: int | None = None
        self.samples = 0
        self.seen_pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def figures(self, rows: list[dict[str, Any]]) -> str:
        """One line for the test's output (`pytest -s`)."""
        return (
            f"{self.samples} status samples, fewest serving {self.fewest}, "
            f"{recycled(rows)} recycles, {len(self.seen_pids)} worker pids seen"
        )

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            cluster = control_client.call(self.title, ControlAction.STATUS, {}, timeout=5)
            apps = [p for p in cluster["processes"] if p["role"] == "app"]
            serving = sum(p["state"] == "serving" for p in apps)
            self.fewest = serving if self.fewest is None else min(self.fewest, serving)
            self.seen_pids |= {p["pid"] for p in apps}
            self.samples += 1


def app_rows(title: str, env: dict[str, str]) -> list[dict[str, Any]]:
    return [p for p in status_json(title, env)["processes"] if p["role"] == "app"]


def settled(title: str, env: dict[str, str]) -> list[dict[str, Any]] | None:
    """The app rows once no recycling is under way (one may begin with the last
    requests of a load), else None."""
    rows = app_rows(title, env)
    return rows if len(rows) == 2 and all(r["state"] == "serving" for r in rows) else None


def recycled(rows: list[dict[str, Any]]) -> int:
    return sum(row["restarts"] or 0 for row in rows)


@pytest.mark.timeout(120)
def test_max_requests_recycles_under_load_without_a_failure_or_a_dip(
    tmp_path: Path, started: Any, env: dict[str, str], title: str
) -> None:
    from tests.process.runtime.master.test_reload import release

    port = free_port()
    started(
        release(tmp_path, "r1", "one"), title, "--max-requests=1500",
        "--max-requests-jitter=300", "--worker-timeout=2000", port=port,
    )  # fmt: skip
    first = {row["pid"] for row in app_rows(title, env)}
    with Sampler(title) as sampler:
        got = keepalive(port, 10)
        rows = wait_until(lambda: settled(title, env), 20)
    print(f"requests: {got}, {sampler.figures(rows)}")
    assert got["failed"] == 0, got
    assert got["done"] > 3000, got
    assert sampler.samples > 20 and sampler.fewest == 2, (sampler.fewest, sampler.samples)
    assert len(rows) == 2 and not first & {r["pid"] for r in rows}, rows
    assert len(sampler.seen_pids) >= 4
    assert recycled(rows) >= 2, rows
    assert {r["last_restart_cause"] for r in rows} == {"recycled: max requests"}, rows
    assert sorted(r["id"] for r in rows) == [1, 2]
    assert request(port, "/").body == b"one"


@pytest.mark.timeout(120)
def test_max_worker_memory_recycles_a_growing_worker_without_a_failure_or_a_dip(
    tmp_path: Path, started: Any, env: dict[str, str], title: str
) -> None:
    app = tmp_path / "growapp"
    app.mkdir()
    (app / "grow.py").write_text(GROW_APP)
    (app / "pyproject.toml").write_text('[project]\nname = "grow"\n')
    port = free_port()
    started(
        app, title, "--app=grow:app", "--max-worker-memory=200", "--worker-timeout=2000",
        port=port,
    )  # fmt: skip
    before = app_rows(title, env)
    assert all(row["rss"] < 150 * 1024 * 1024 for row in before), before
    with Sampler(title) as sampler, Load(port, threads=2, limit=60) as load:
        for _ in range(12):  # each lands on either worker: both end up over 200 MiB
            assert request(port, "/grow").status == 200
        deadline = time.monotonic() + 40

        def both_recycled() -> bool:
            rows = app_rows(title, env)
            return recycled(rows) >= 2 and all(r["state"] == "serving" for r in rows)

        while not both_recycled() and time.monotonic() < deadline:
            for _ in range(2):
                request(port, "/grow")
            time.sleep(1)
        wait_until(both_recycled, 20, interval=0.5)
        time.sleep(2)  # and a little after: the replacements serve the load
        rows = wait_until(lambda: settled(title, env), 20)
    print(f"memory: {dict(load.counts)}, {sampler.figures(rows)}")
    assert load.failed == 0 and load.ok > 100, (load.counts, load.errors[:3])
    assert sampler.samples > 10 and sampler.fewest == 2, (sampler.fewest, sampler.samples)
    assert {r["last_restart_cause"] for r in rows if r["restarts"]} == {"recycled: max memory"}
    assert len(rows) == 2 and sorted(r["id"] for r in rows) == [1, 2]


def test_the_options_reach_the_runtime_from_the_command_line_and_pyproject(
    tmp_path: Path, title: str, port: int
) -> None:
    from tests.cli_helpers import RecordingPython, make_app, run_cli
    from tests.process.eggscripts.test_cli_options import handed_over

    python = RecordingPython(tmp_path)
    app = make_app(tmp_path / "app", name=title, tool="max-requests = 1000\n")
    got = handed_over(app, python, port, f"--port={port}")
    assert got["max_requests"] == 1000 and "max_worker_memory" not in got  # off: not sent
    args = (f"--port={port}", "--max-requests=50", "--max-requests-jitter=5",
            "--max-worker-memory=300")  # fmt: skip
    got = handed_over(app, python, port, *args)
    assert (got["max_requests"], got["max_requests_jitter"], got["max_worker_memory"]) == (
        50, 5, 300,
    )  # fmt: skip
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = run_cli("start", "--max-worker-memory=-1", str(app), env=env)
    assert result.returncode == 2 and "--max-worker-memory" in result.stderr, result.stderr


@pytest.mark.timeout(90)
def test_a_due_worker_whose_replacement_cannot_fork_keeps_serving(
    tmp_path: Path, title: str, port: int
) -> None:
    """Forks fail (a pids cgroup at its limit, as in a container; skipped where none can be
    made): the due workers keep serving, the master says why, and once forks work again
    they are recycled."""
    from tests.clusters import Cluster
    from tests.helpers import FIXTURES
    from tests.reliability.faults import ForkLimit

    limit: ForkLimit | None = None
    options = {"max_requests": 20, "worker_timeout": 1000}
    cluster = Cluster(FIXTURES / "runtime" / "chaos", title, port, workers=2, **options)
    try:
        with cluster, Load(port, threads=2, limit=60) as load:
            before = {p.pid for p in cluster.processes()["app"]}
            limit = ForkLimit("pids_cgroup", cluster.pid, port)
            limit.block()
            wait_until(lambda: "cannot recycle" in cluster.output()[0], timeout=15)
            time.sleep(1.5)  # more attempts, backing off
            assert {p.pid for p in cluster.processes()["app"]} == before
            served_meanwhile = load.ok
            limit.allow()
            wait_until(lambda: not before & {p.pid for p in cluster.processes()["app"]}, 30)
            out = cluster.output()[0]
    finally:
        if limit is not None:
            limit.close()
    attempts = out.count("cannot recycle")
    print(f"fork failing: {attempts} failed recycling attempts logged, {dict(load.counts)}")
    assert load.failed == 0 and served_meanwhile > 20, load.counts
    assert "could not fork its replacement; it keeps serving, next try in" in out
    assert 2 <= attempts <= 6, out  # retried with back-off, not on every loop pass
