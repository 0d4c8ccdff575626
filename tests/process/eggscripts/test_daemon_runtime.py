"""`eggscripts start`/`stop` end to end with the real runtime: real clusters
serving real HTTP, stopped with real signals. The daemon's failure modes are in
tests/process/eggscripts/test_daemon.py. App fixtures are copied to a temporary directory
so the logs and run files the runtime writes into BASE_DIR never land in the repository."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eggscripts.finding import procs as eggprocs
from tests.cli_helpers import EGGSCRIPTS, cli_env, copy_app, everything, make_app, run_cli
from tests.clusters import start_daemon
from tests.helpers import FIXTURES, SHOWCASE, cluster_processes, request, try_request, wait_until

Start = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def start(home: Path, title: str, port: int) -> Iterator[Start]:
    """`start --daemon` of an app with this test's title and port; stopped at teardown."""

    def run(app: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return start_daemon(*args, str(app), title=title, port=port, env=cli_env(home),
                            workers=None, timeout=timeout)  # fmt: skip

    yield run
    run_cli("stop", f"--title={title}", "--timeout=10000", env=cli_env(home))


def test_daemon_start_serves_and_stop_is_prompt(
    start: Start, tmp_path: Path, home: Path, title: str, port: int
) -> None:
    app = copy_app(SHOWCASE, tmp_path)
    result = start(app, "--workers=2")
    assert result.returncode == 0, result.stdout + result.stderr
    procs = cluster_processes(title)
    master = procs["master"][0]
    assert result.stdout.splitlines()[-1] == (
        f"[eggscripts] {title} started on http://127.0.0.1:{port} (master pid {master.pid})"
    )
    assert (len(procs["agent"]), len(procs["app"])) == (1, 2)
    assert master.cmdline()[0] == (
        f"eggscripts-master --title={title} --port={port} --base-dir={app}"
    )
    # Ready means serving: no retry needed.
    assert request(port, "/").status == 200
    assert master.cwd() == str(app)

    watched = [p for ps in procs.values() for p in ps]
    gone_at: list[float] = []

    def watch() -> None:
        while not all(eggprocs.is_gone(p) for p in watched):
            time.sleep(0.002)
        gone_at.append(time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    stop = run_cli("stop", f"--title={title}", env=cli_env(home))
    returned = time.monotonic()
    watcher.join(timeout=30)
    assert stop.returncode == 0, stop.stderr
    assert f"[eggscripts] stopped {title} (pids {master.pid}, " in stop.stdout
    assert everything(title) == []
    assert try_request(port, "/") is None
    latency = returned - gone_at[0]
    print(
        f"stop: {(returned - started) * 1000:.0f} ms in total, returned "
        f"{latency * 1000:.0f} ms after the cluster was gone"
    )
    assert latency < 0.4


def test_port_in_use_fails_with_one_clear_error(
    start: Start, tmp_path: Path, title: str, port: int
) -> None:
    app = copy_app(SHOWCASE, tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = start(app, "--workers=1")
    assert result.returncode == 1
    assert str(port) in result.stderr
    wait_until(lambda: everything(title) == [], timeout=5)


def test_require_env_and_cwd_reach_every_worker(
    start: Start, tmp_path: Path, title: str, port: int
) -> None:
    app = copy_app(FIXTURES / "cli_require_app", tmp_path)
    result = start(app, "--env=staging")
    assert result.returncode == 0, result.stderr
    body = request(port, "/").json()
    assert body["preloaded"].startswith("preloaded by ")
    assert body["env"] == "staging"
    assert body["cwd"] == str(app)


def test_foreground_start_becomes_the_master(
    tmp_path: Path, home: Path, title: str, port: int
) -> None:
    app = copy_app(SHOWCASE, tmp_path)
    proc = subprocess.Popen(
        [EGGSCRIPTS, "start", f"--title={title}", f"--port={port}", "--hostname=127.0.0.1",
         "--workers=1", str(app)],
        env=cli_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until(lambda: try_request(port, "/") is not None, timeout=20)
        assert [p.pid for p in cluster_processes(title)["master"]] == [proc.pid]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        wait_until(lambda: everything(title) == [], timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]


def test_router_error_fails_at_once_with_the_error(
    start: Start, tmp_path: Path, title: str
) -> None:
    app = make_app(tmp_path / "app")
    (app / "app").mkdir(exist_ok=True)
    (app / "app" / "router.py").write_text(
        "def router(app):\n    raise KeyError('no such controller: users')\n"
    )
    started = time.monotonic()
    result = start(app, "--workers=2", "--timeout=60000")
    assert result.returncode == 4  # the app failed to load
    assert time.monotonic() - started < 5, "must fail as soon as a worker fails, not at the timeout"
    assert "router.py:2" in result.stderr and "no such controller: users" in result.stderr
    wait_until(lambda: everything(title) == [], timeout=5)


def test_pyproject_workers_and_the_command_line_beating_it(
    start: Start, tmp_path: Path, home: Path, title: str, port: int
) -> None:
    app = make_app(tmp_path / "app", tool="workers = 1")
    assert start(app).returncode == 0
    assert len(cluster_processes(title)["app"]) == 1
    assert run_cli("stop", f"--title={title}", env=cli_env(home)).returncode == 0
    result = start(app, "--workers=2")
    assert result.returncode == 0, result.stderr
    assert len(cluster_processes(title)["app"]) == 2
